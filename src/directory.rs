//! The directory's rules for a user record: one validation of what registration, `user add`,
//! `user import` and the control socket write (usernames, addresses, reserved names), how a
//! spec becomes a stored user, and how a user is shown to administrators.

use crate::address::{normalize_email, normalize_username, valid_mobile};
use crate::clock::now_secs;
use crate::domain::UserStatus;
use crate::store::User;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A user to create or update (the password already hashed).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct UserSpec {
    pub tenant: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub username: Option<String>,
    pub name: Option<String>,
    pub emp_id: Option<String>,
    pub groups: Vec<String>,
    pub apps: Vec<String>,
    pub password_hash: Option<String>,
    pub admin: bool,
}

/// Usernames self-registration may not take (an operator may): names apps and people read as
/// the system, its administrators or nobody in particular.
pub const RESERVED_USERNAMES: &[&str] = &[
    "abuse",
    "admin",
    "administrator",
    "anonymous",
    "everyone",
    "gatehouse",
    "guest",
    "hostmaster",
    "mailer-daemon",
    "no-reply",
    "nobody",
    "none",
    "noreply",
    "null",
    "operator",
    "postmaster",
    "root",
    "security",
    "superuser",
    "support",
    "sysadmin",
    "system",
    "undefined",
    "unknown",
    "webmaster",
];

/// Checks a spec and normalises it in place (see [`normalize_email`], [`normalize_username`]);
/// `Err` says what is wrong. Registration, `user add`, `user import` and the control socket all
/// come through here.
pub fn validate(u: &mut UserSpec) -> Result<(), String> {
    if u.email.is_none() && u.mobile.is_none() && u.username.is_none() {
        return Err("an email, a mobile or a username is required".into());
    }
    if let Some(e) = u.email.as_mut() {
        *e = normalize_email(e)?;
    }
    if let Some(m) = u.mobile.as_mut() {
        *m = m.trim().to_string();
        if !valid_mobile(m) {
            return Err(format!("`{}` is not a mobile number in international form (+15551234567)", m.escape_debug()));
        }
    }
    if let Some(n) = u.username.as_mut() {
        *n = normalize_username(n)?;
    }
    for (field, value) in [("name", &u.name), ("emp_id", &u.emp_id)] {
        if value.as_ref().is_some_and(|v| v.chars().count() > 200 || v.chars().any(char::is_control)) {
            return Err(format!("{field} may have at most 200 characters and no control characters"));
        }
    }
    if let Some(h) = &u.password_hash {
        if !h.starts_with("$argon2") {
            return Err("password_hash must be an argon2 PHC string ($argon2id$…)".into());
        }
    }
    for g in u.groups.iter().chain(u.apps.iter()) {
        if g.is_empty() || !g.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.')) {
            return Err(format!("`{g}` is not a valid group or app name"));
        }
    }
    Ok(())
}

pub fn to_user(spec: &UserSpec, existing: Option<User>) -> User {
    let now = now_secs();
    let mut u = existing.unwrap_or_else(|| User {
        id: uuid::Uuid::new_v4().to_string(),
        tenant: spec.tenant.clone(),
        status: UserStatus::Active,
        created_at: now,
        ..Default::default()
    });
    // An address an operator sets counts as verified: they vouch for it.
    if let Some(e) = &spec.email {
        u.email = Some(e.clone());
        u.email_verified = true;
    }
    if let Some(m) = &spec.mobile {
        u.mobile = Some(m.clone());
        u.mobile_verified = true;
    }
    u.username = spec.username.clone().or(u.username);
    u.name = spec.name.clone().or(u.name);
    u.emp_id = spec.emp_id.clone().or(u.emp_id);
    if !spec.groups.is_empty() {
        u.groups = spec.groups.clone();
    }
    if !spec.apps.is_empty() {
        u.apps = spec.apps.clone();
    }
    if spec.password_hash.is_some() {
        u.password_hash = spec.password_hash.clone();
    }
    u.admin |= spec.admin;
    u.updated_at = now;
    u
}

/// A user as shown to administrators: never the password hash.
pub fn public_user(u: &User) -> Value {
    json!({
        "id": u.id, "tenant": u.tenant, "username": u.username, "email": u.email, "mobile": u.mobile,
        "name": u.name, "emp_id": u.emp_id, "groups": u.groups, "apps": u.apps, "admin": u.admin,
        "status": u.status, "has_password": u.password_hash.is_some(),
        "custom_payload": u.custom_payload,
    })
}

/// The columns of a `user import` CSV file (header row, any order, case-insensitive).
pub const CSV_COLUMNS: &[&str] = &["name", "email", "mobile", "emp_id", "groups", "apps", "password_hash"];

/// The rows of a users CSV (the CLI's `user import` file, the admin API's upload) as specs of
/// `tenant` with their line numbers, and the rows that could not be read; `Err` when the header
/// row is missing or names an unknown column or neither `email` nor `mobile`.
#[allow(clippy::type_complexity)]
pub fn parse_csv(
    input: impl std::io::Read,
    tenant: &str,
) -> Result<(Vec<(usize, UserSpec)>, Vec<(usize, String)>), String> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(input);
    let headers = reader.headers().map_err(|e| format!("no header row ({e})"))?.clone();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    if col("email").is_none() && col("mobile").is_none() {
        return Err(format!("the header row needs an `email` or `mobile` column ({})", CSV_COLUMNS.join(",")));
    }
    if let Some(h) = headers.iter().find(|h| !CSV_COLUMNS.iter().any(|k| h.eq_ignore_ascii_case(k))) {
        return Err(format!("unknown column `{}`; the columns are {}", h.escape_debug(), CSV_COLUMNS.join(",")));
    }
    let (mut rows, mut rejected) = (vec![], vec![]);
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        match rec {
            Ok(r) => {
                let get = |name: &str| col(name).and_then(|c| r.get(c));
                rows.push((
                    line,
                    UserSpec {
                        tenant: tenant.into(),
                        name: opt(get("name")),
                        email: opt(get("email")),
                        mobile: opt(get("mobile")),
                        emp_id: opt(get("emp_id")),
                        groups: get("groups").map(split_list).unwrap_or_default(),
                        apps: get("apps").map(split_list).unwrap_or_default(),
                        password_hash: opt(get("password_hash")),
                        ..Default::default()
                    },
                ));
            }
            Err(e) => rejected.push((line, format!("unreadable row: {e}"))),
        }
    }
    Ok((rows, rejected))
}

fn split_list(s: &str) -> Vec<String> {
    s.split([',', ';', '|']).map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()
}

fn opt(s: Option<&str>) -> Option<String> {
    s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}
