//! Directory commands: `user add|import|reset-mfa`, `admin create`, `hash-password`, `bans`,
//! `sessions`, `audit`, `app key` (docs/cli.md). Each runs through the control socket when a
//! server is running, else on the store (`hash-password` needs neither).

use crate::config::Config;
use crate::control::{self, Op};
use crate::directory::UserSpec;
use crate::flows::passwords::{check_new_password, hash_blocking, params};
use clap::{Args, Subcommand};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user.
    Add(UserAddArgs),
    /// Remove a user's second factors (authenticator app and recovery codes); audited.
    ResetMfa {
        /// The user: email, mobile or username.
        user: String,
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Disable a user: every session ends and every personal API token is revoked; audited.
    Disable {
        /// The user: email, mobile, username or id.
        user: String,
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Enable a disabled user again; audited.
    Enable {
        user: String,
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Create or update users from a CSV file (header: name,email,mobile,emp_id,groups,apps,password_hash).
    Import { file: PathBuf },
    /// List or search users: `ID EMAIL USERNAME NAME STATUS ADMIN MFA`, a page at a time.
    List(super::users::ListArgs),
    /// Print one user (email, mobile, username or id) with its sessions, as JSON.
    Show {
        user: String,
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Change a user's fields; an empty value clears one (`--name ""`); audited.
    Set(super::users::SetArgs),
    /// Delete a user with its sessions, tokens, second factors and links; audited.
    Delete {
        user: String,
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Assign a user to an app; audited.
    Assign {
        user: String,
        app: String,
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Unassign a user from an app; audited.
    Unassign {
        user: String,
        app: String,
        #[arg(long, default_value = "default")]
        tenant: String,
    },
}

#[derive(Args, Debug)]
pub struct UserAddArgs {
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long)]
    pub mobile: Option<String>,
    #[arg(long)]
    pub username: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, value_delimiter = ',')]
    pub groups: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub apps: Vec<String>,
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// Read the password from standard input (one line).
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create an administrator of the admin console.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "default")]
        tenant: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Args, Debug, Clone)]
pub struct Target {
    /// A user (email, mobile, username or id).
    #[arg(long, conflicts_with = "ip")]
    pub user: Option<String>,
    #[arg(long)]
    pub ip: Option<std::net::IpAddr>,
    #[arg(long, default_value = "default")]
    pub tenant: String,
}

#[derive(Subcommand, Debug)]
pub enum BansCommand {
    /// List active bans.
    List,
    /// Ban a user or an IP.
    Add {
        #[command(flatten)]
        target: Target,
        /// How long, e.g. 15m or 2h.
        #[arg(long, default_value = "15m")]
        duration: String,
        #[arg(long, default_value = "banned by an administrator")]
        reason: String,
    },
    /// Lift a ban.
    Revoke {
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Print the newest events, newest first: `seq event user ip time detail`.
    List {
        #[arg(long, default_value = "50")]
        limit: usize,
    },
    /// Delete the events older than a duration (e.g. 30d); the purge itself is audited.
    Purge {
        #[arg(long)]
        older_than: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum SessionsCommand {
    /// End every session of a user, at once, everywhere.
    Revoke {
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "default")]
        tenant: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AppCommand {
    /// API keys of an app (`X-Auth-Service-Key`).
    #[command(subcommand)]
    Key(AppKeyCommand),
}

#[derive(Subcommand, Debug)]
pub enum AppKeyCommand {
    /// Create a key; its secret is printed once and never again.
    Create { app: String },
    /// The app's keys: id, created, last used (never the secret).
    List { app: String },
    /// Delete a key: calls with it are refused at once.
    Delete { app: String, key_id: String },
}

fn fmt_time(t: Option<u64>) -> String {
    match t.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t as i64).ok()) {
        Some(d) => d.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        None => "never".into(),
    }
}

pub fn app(cfg: &Config, cmd: &AppCommand) -> ExitCode {
    let AppCommand::Key(k) = cmd;
    let op = match k {
        AppKeyCommand::Create { app } => Op::AppKeyCreate { app: app.clone() },
        AppKeyCommand::List { app } => Op::AppKeyList { app: app.clone() },
        AppKeyCommand::Delete { app, key_id } => Op::AppKeyDelete { app: app.clone(), id: key_id.clone() },
    };
    match (k, run(cfg, op)) {
        (AppKeyCommand::Create { .. }, Ok(v)) => {
            eprintln!(
                "key {} created for app {}; store it now, it is not shown again:",
                v["id"].as_str().unwrap_or(""),
                v["app"].as_str().unwrap_or("")
            );
            println!("{}", v["key"].as_str().unwrap_or(""));
            ExitCode::SUCCESS
        }
        (AppKeyCommand::List { app }, Ok(v)) => {
            let keys = v.as_array().cloned().unwrap_or_default();
            if keys.is_empty() {
                println!("app {app} has no keys; create one with `gatehouse app key create {app}`");
            } else {
                println!("{:<14} {:<22} LAST USED", "ID", "CREATED");
                for k in keys {
                    println!(
                        "{:<14} {:<22} {}",
                        k["id"].as_str().unwrap_or(""),
                        fmt_time(k["created_at"].as_u64()),
                        fmt_time(k["last_used"].as_u64())
                    );
                }
            }
            ExitCode::SUCCESS
        }
        (AppKeyCommand::Delete { .. }, Ok(v)) => {
            println!("deleted key {}", v["deleted"].as_str().unwrap_or(""));
            ExitCode::SUCCESS
        }
        (_, Err(e)) => fail(e),
    }
}

pub(super) fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(1)
}

fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("cannot read the password: {e}"))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub(super) fn new_password_hash(cfg: &Config) -> Result<String, String> {
    let pw = read_password()?;
    check_new_password(&pw, cfg.password.min_length)?;
    hash_blocking(&params(&cfg.password.argon2)?, &pw)
}

pub(super) fn run(cfg: &Config, op: Op) -> Result<serde_json::Value, String> {
    let (v, via_server) = control::run(cfg, op).map_err(|e| e.to_string())?;
    if via_server {
        eprintln!("(done by the running server through {})", cfg.server.control_socket.display());
    }
    Ok(v)
}

pub(super) fn print(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

pub fn hash_password(cfg: Option<&Config>) -> ExitCode {
    let p = cfg.map(|c| c.password.argon2.clone()).unwrap_or_default();
    match read_password().and_then(|pw| {
        if pw.is_empty() {
            return Err("the password is empty".into());
        }
        hash_blocking(&params(&p)?, &pw)
    }) {
        Ok(h) => {
            println!("{h}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

pub fn user(cfg: &Config, cmd: &UserCommand) -> ExitCode {
    match cmd {
        UserCommand::Add(a) => {
            let password_hash = if a.password_stdin {
                match new_password_hash(cfg) {
                    Ok(h) => Some(h),
                    Err(e) => return fail(e),
                }
            } else {
                None
            };
            let spec = UserSpec {
                tenant: a.tenant.clone(),
                email: a.email.clone(),
                mobile: a.mobile.clone(),
                username: a.username.clone(),
                name: a.name.clone(),
                groups: a.groups.clone(),
                apps: a.apps.clone(),
                password_hash,
                ..Default::default()
            };
            add_user(cfg, spec)
        }
        UserCommand::Import { file } => import(cfg, file),
        UserCommand::List(_)
        | UserCommand::Show { .. }
        | UserCommand::Set(_)
        | UserCommand::Delete { .. }
        | UserCommand::Assign { .. }
        | UserCommand::Unassign { .. } => super::users::user(cfg, cmd),
        UserCommand::Disable { user, tenant } | UserCommand::Enable { user, tenant } => {
            let active = matches!(cmd, UserCommand::Enable { .. });
            match run(cfg, Op::UserStatus { tenant: tenant.clone(), user: user.clone(), active }) {
                Ok(v) => {
                    let (id, status) = (v["user"].as_str().unwrap_or(""), v["status"].as_str().unwrap_or(""));
                    println!(
                        "{id} is {status} ({} session(s) ended, {} personal token(s) revoked)",
                        v["sessions_ended"], v["personal_tokens_revoked"]
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        UserCommand::ResetMfa { user, tenant } => {
            match run(cfg, Op::ResetMfa { tenant: tenant.clone(), user: user.clone() }) {
                Ok(v) => {
                    let what = if v["reset"] == true {
                        "removed the second factors of"
                    } else {
                        "no second factor to remove for"
                    };
                    println!("{what} {}", v["user"].as_str().unwrap_or(""));
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
    }
}

fn import(cfg: &Config, file: &PathBuf) -> ExitCode {
    let f = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) => return fail(format!("cannot read {}: {e}", file.display())),
    };
    let (rows, mut rejected) = match crate::directory::parse_csv(f, "default") {
        Ok(v) => v,
        Err(e) => return fail(format!("{}: {e}", file.display())),
    };
    let bar = indicatif::ProgressBar::new(rows.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let (mut created, mut updated) = (0, 0);
    for chunk in rows.chunks(200) {
        match run(cfg, Op::UserUpsert { rows: chunk.to_vec() }) {
            Ok(serde_json::Value::Array(results)) => {
                for r in results {
                    let line = r["line"].as_u64().unwrap_or(0) as usize;
                    match r["result"].as_str() {
                        Some("created") => created += 1,
                        Some("updated") => updated += 1,
                        _ => rejected.push((line, r["reason"].as_str().unwrap_or("rejected").to_string())),
                    }
                }
            }
            Ok(other) => return fail(format!("unexpected answer: {other}")),
            Err(e) => {
                bar.abandon();
                return fail(e);
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    rejected.sort();
    println!("{}: {created} created, {updated} updated, {} rejected", file.display(), rejected.len());
    for (line, why) in &rejected {
        println!("  line {line}: {why}");
    }
    ExitCode::SUCCESS
}

pub fn admin(cfg: &Config, cmd: &AdminCommand) -> ExitCode {
    let AdminCommand::Create { email, tenant, password_stdin } = cmd;
    if !password_stdin {
        return fail("an administrator needs a password: pass --password-stdin and type it");
    }
    let hash = match new_password_hash(cfg) {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    let spec = UserSpec {
        tenant: tenant.clone(),
        email: Some(email.clone()),
        password_hash: Some(hash),
        admin: true,
        ..Default::default()
    };
    add_user(cfg, spec)
}

/// Adds a user (or an administrator) and prints what was stored.
fn add_user(cfg: &Config, spec: UserSpec) -> ExitCode {
    match run(cfg, Op::UserAdd { user: spec }) {
        Ok(v) => {
            print(&v);
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn ban_key(cfg: &Config, t: &Target) -> Result<crate::domain::BanKey, String> {
    match (&t.user, &t.ip) {
        (Some(u), None) => {
            let v = run(cfg, Op::UserId { tenant: t.tenant.clone(), user: u.clone() })?;
            Ok(crate::flows::regulation::user_key(&t.tenant, v["id"].as_str().unwrap_or_default()))
        }
        (None, Some(ip)) => Ok(crate::flows::regulation::ip_key(*ip, cfg.server.ipv6_prefix)),
        _ => Err("name one of --user or --ip".into()),
    }
}

pub fn bans(cfg: &Config, cmd: &BansCommand) -> ExitCode {
    let result = match cmd {
        BansCommand::List => run(cfg, Op::BansList).map(|v| {
            let list = v.as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                println!("no active bans");
            }
            for b in list {
                let until = match b["until"].as_u64() {
                    Some(crate::flows::regulation::LOCKED) => "revoked".to_string(),
                    _ => b["until"].to_string(),
                };
                println!("{}  until {until}  {}", b["key"].as_str().unwrap_or(""), b["reason"].as_str().unwrap_or(""));
            }
        }),
        BansCommand::Add { target, duration, reason } => crate::config::units::Dur::parse(duration)
            .and_then(|d| {
                let key = ban_key(cfg, target)?;
                run(cfg, Op::BansAdd { key, seconds: d.0.as_secs(), reason: reason.clone() })
            })
            .map(|v| println!("banned {} until {}", v["key"].as_str().unwrap_or(""), v["until"])),
        BansCommand::Revoke { target } => ban_key(cfg, target)
            .and_then(|key| run(cfg, Op::BansRevoke { key }))
            .map(|v| println!("lifted the ban on {}", v["revoked"].as_str().unwrap_or(""))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

pub fn audit(cfg: &Config, cmd: &AuditCommand) -> ExitCode {
    let limit = match cmd {
        AuditCommand::List { limit } => *limit,
        AuditCommand::Purge { older_than } => {
            let secs = match crate::config::units::Dur::parse(older_than) {
                Ok(d) => d.0.as_secs(),
                Err(e) => return fail(format!("--older-than: {e}")),
            };
            return match run(cfg, Op::AuditPurge { older_than_secs: secs }) {
                Ok(v) => {
                    println!("removed {} audit event(s) older than {older_than}", v["removed"]);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            };
        }
    };
    match run(cfg, Op::AuditList { limit }) {
        Ok(v) => {
            for e in v.as_array().cloned().unwrap_or_default() {
                let s = |k: &str| e[k].as_str().unwrap_or("-").to_string();
                println!(
                    "{} {} user={} app={} ip={} forwarded={} remote={} time={} {}",
                    e["seq"],
                    s("event"),
                    s("user"),
                    s("app"),
                    s("ip"),
                    s("forwarded").replace(' ', ""),
                    s("remote"),
                    e["time"],
                    e["detail"]
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

pub fn sessions(cfg: &Config, cmd: &SessionsCommand) -> ExitCode {
    let SessionsCommand::Revoke { user, tenant } = cmd;
    match run(cfg, Op::SessionsRevoke { tenant: tenant.clone(), user: user.clone() }) {
        Ok(v) => {
            println!("ended {} session(s) of {}", v["revoked"], v["user"].as_str().unwrap_or(""));
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
