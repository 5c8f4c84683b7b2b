//! Directory operations shared by the CLI and the control socket.
//!
//! redb lets one process open the store. With no server running, the CLI opens the store and
//! runs an [`Op`] itself; with a server running, it sends the same [`Op`] as one JSON line over
//! `server.control_socket` (a Unix socket, mode 0600) and the server runs it — so "the store is
//! locked" is never the answer a user sees.
//!
//! This module holds the operations' vocabulary ([`Op`], [`Ctx`], [`ControlError`]) and
//! [`execute`]; `ops` runs each operation, `socket` carries them between the CLI and the server.

mod ops;
mod socket;
#[cfg(test)]
mod tests;
pub mod users;

pub use socket::{run, serve, MAX_LINE};

use crate::audit::Audit;
use crate::clock::now_secs;
use crate::config::Config;
use crate::directory::UserSpec;
use crate::sessions::Sessions;
use crate::store::{Store, StoreError};
use ops::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Creates a user; refuses one that exists.
    UserAdd {
        user: UserSpec,
    },
    /// Creates or updates users by e-mail (else mobile); each row answered separately.
    UserUpsert {
        rows: Vec<(usize, UserSpec)>,
    },
    /// One page of a tenant's users (search and filters as the admin API's).
    UserList {
        tenant: String,
        #[serde(default)]
        query: users::ListQuery,
        #[serde(default)]
        cursor: Option<String>,
        limit: usize,
    },
    /// One user (identifier or id) with its sessions.
    UserShow {
        tenant: String,
        user: String,
    },
    /// Changes a user's fields (absent ones stay).
    UserSet {
        tenant: String,
        user: String,
        patch: crate::flows::users::UserPatch,
        #[serde(default)]
        password_hash: Option<String>,
    },
    /// Deletes a user and what is theirs.
    UserDelete {
        tenant: String,
        user: String,
    },
    /// Assigns (`assign: true`) or unassigns a user to an app.
    UserAssign {
        tenant: String,
        user: String,
        app: String,
        assign: bool,
    },
    BansList,
    BansAdd {
        key: crate::domain::BanKey,
        seconds: u64,
        reason: String,
    },
    BansRevoke {
        key: crate::domain::BanKey,
    },
    /// Ends every session of a user (identifier or id) of a tenant.
    SessionsRevoke {
        tenant: String,
        user: String,
    },
    /// Finds a user's id for `bans` (`user:<tenant>:<id>` keys).
    UserId {
        tenant: String,
        user: String,
    },
    /// The newest audit events, newest first.
    AuditList {
        limit: usize,
    },
    /// Deletes the audit events older than this many seconds.
    AuditPurge {
        older_than_secs: u64,
    },
    /// Disables (`active: false`) or enables a user. Disabling ends every session and revokes
    /// every personal API token of the user, at the next request.
    UserStatus {
        tenant: String,
        user: String,
        active: bool,
    },
    /// Removes a user's second factors (authenticator app, recovery codes).
    ResetMfa {
        tenant: String,
        user: String,
    },
    /// Creates an API key for an app; the answer holds the secret, once.
    AppKeyCreate {
        app: String,
    },
    AppKeyList {
        app: String,
    },
    AppKeyDelete {
        app: String,
        id: String,
    },
    /// Starts a session for a user and returns an access token for it (scripts, tests); an
    /// admin session (`kind: admin`, an administrator only) gets an admin-scoped token.
    TokenIssue {
        tenant: String,
        user: String,
        amr: Vec<crate::domain::Amr>,
        ttl_secs: u64,
        #[serde(default)]
        kind: crate::domain::SessionKind,
    },
    /// The access-token signing keys in the store.
    KeysList,
    /// Starts a new signing key; the current one keeps verifying for `overlap_secs`.
    KeysRotate {
        overlap_secs: u64,
    },
}

/// What an operation can touch.
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub sessions: Option<&'a Sessions>,
    /// The running server's personal tokens (`None`: the CLI works on the store itself).
    pub pats: Option<&'a crate::pats::PersonalTokens>,
    pub audit: Option<&'a Audit>,
    pub config: &'a Config,
    pub tokens: &'a crate::tokens::Tokens,
}

/// Why an operation (or the way to the server that runs it) failed. Its `Display` is the
/// sentence the CLI prints, and the `error` string the control socket answers with.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The user record is not acceptable (the sentence says why).
    #[error("{0}")]
    InvalidUser(String),
    #[error("a user with this email, mobile or username already exists in the tenant")]
    UserExists,
    #[error("the {kind} `{value}` belongs to an account that has not verified it (a pending self-registration?); not merged")]
    UnprovedAddress { kind: &'static str, value: String },
    #[error("the row's addresses belong to different accounts ({kind} `{value}` is another's)")]
    SplitAccounts { kind: &'static str, value: String },
    #[error("no user `{user}` in tenant {tenant}")]
    NoUser { tenant: String, user: String },
    #[error("no active user `{user}` in tenant {tenant}; create it with `gatehouse user add`")]
    NoActiveUser { tenant: String, user: String },
    #[error("user `{0}` is not an administrator: `gatehouse admin create` makes one")]
    NotAdmin(String),
    #[error("user `{0}` is pending (an unconfirmed self-registration): it can be neither disabled nor enabled")]
    PendingUser(String),
    #[error("there is no ban on {0}")]
    NoBan(crate::domain::BanKey),
    #[error("no app `{app}` in the configuration (apps: {known})")]
    NoApp { app: String, known: String },
    #[error("app {app} has no key {id}; `gatehouse app key list {app}` shows its keys")]
    NoAppKey { app: String, id: String },
    /// The app registry refused the change (the sentence says why).
    #[error("{0}")]
    App(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Token(#[from] crate::tokens::TokenError),
    /// The signing key could not be loaded (the sentence says why).
    #[error("{0}")]
    SigningKey(String),
    #[error("the store {store} is in use by a running server, but its control socket {socket} does not answer: check server.control_socket")]
    SocketSilent { store: String, socket: String },
    #[error("control socket: {0}")]
    Socket(std::io::Error),
    /// The operation could not be written as JSON.
    #[error("{0}")]
    Encode(serde_json::Error),
    #[error("control socket answered garbage: {0}")]
    Garbage(serde_json::Error),
    /// The running server refused the operation; its sentence, as it sent it.
    #[error("{0}")]
    Server(String),
    #[error("not an operation: {0}")]
    NotAnOp(serde_json::Error),
    #[error("cannot read the request: {0}")]
    Unreadable(std::io::Error),
    #[error("the request line is longer than {MAX_LINE} bytes")]
    LineTooLong,
}

impl From<crate::flows::users::UserError> for ControlError {
    fn from(e: crate::flows::users::UserError) -> Self {
        use crate::flows::users::UserError as E;
        match e {
            E::Invalid(m) => ControlError::InvalidUser(m),
            E::Exists => ControlError::UserExists,
            E::UnprovedAddress { kind, value } => ControlError::UnprovedAddress { kind, value },
            E::SplitAccounts { kind, value } => ControlError::SplitAccounts { kind, value },
            E::NoUser { tenant, user } => ControlError::NoUser { tenant, user },
            E::Pending(u) => ControlError::PendingUser(u),
            E::Store(s) => ControlError::Store(s),
            other => ControlError::InvalidUser(other.to_string()),
        }
    }
}

/// Runs one operation against the store.
pub fn execute(ctx: &Ctx, op: Op) -> Result<Value, ControlError> {
    match op {
        Op::UserAdd { user } => user_add(ctx, user),
        Op::UserUpsert { rows } => user_upsert(ctx, rows),
        Op::UserList { tenant, query, cursor, limit } => users::list(ctx, &tenant, query, cursor, limit),
        Op::UserShow { tenant, user } => users::show(ctx, &tenant, &user),
        Op::UserSet { tenant, user, mut patch, password_hash } => {
            patch.password_hash = password_hash;
            users::set(ctx, &tenant, &user, patch)
        }
        Op::UserDelete { tenant, user } => users::delete(ctx, &tenant, &user),
        Op::UserAssign { tenant, user, app, assign } => users::assign(ctx, &tenant, &user, &app, assign),
        Op::BansList => Ok(json!(ctx.store.bans(now_secs())?)),
        Op::BansAdd { key, seconds, reason } => bans_add(ctx, key, seconds, reason),
        Op::BansRevoke { key } => bans_revoke(ctx, key),
        Op::SessionsRevoke { tenant, user } => sessions_revoke(ctx, tenant, user),
        Op::TokenIssue { tenant, user, amr, ttl_secs, kind } => token_issue(ctx, (tenant, user), amr, ttl_secs, kind),
        Op::KeysList => keys_list(ctx),
        Op::KeysRotate { overlap_secs } => keys_rotate(ctx, overlap_secs),
        Op::ResetMfa { tenant, user } => reset_mfa(ctx, tenant, user),
        Op::UserStatus { tenant, user, active } => user_status(ctx, tenant, user, active),
        Op::AuditList { limit } => Ok(json!(ctx.store.audit(limit.min(10_000))?)),
        Op::AuditPurge { older_than_secs } => audit_purge(ctx, older_than_secs),
        Op::AppKeyCreate { app } => app_key_create(ctx, &app),
        Op::AppKeyList { app } => app_key_list(ctx, &app),
        Op::AppKeyDelete { app, id } => app_key_delete(ctx, &app, id),
        Op::UserId { tenant, user } => Ok(json!({"id": user_of(ctx, tenant, user)?.id})),
    }
}
