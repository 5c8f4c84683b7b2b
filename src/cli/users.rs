//! `gatehouse user list|show|set|delete|assign|unassign` (docs/cli.md): through the control
//! socket when a server runs, else on the store, by the same operations as the admin API.

use super::directory::{fail, new_password_hash, print, run, UserCommand};
use crate::config::Config;
use crate::control::users::ListQuery;
use crate::control::Op;
use crate::domain::UserStatus;
use crate::flows::users::UserPatch;
use clap::Args;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Words to search for in names, e-mails, mobiles, emp_ids and usernames (prefixes).
    pub q: Option<String>,
    /// active, pending or disabled.
    #[arg(long)]
    pub status: Option<String>,
    /// Only users assigned to this app.
    #[arg(long)]
    pub app: Option<String>,
    /// Only administrators (true) or only others (false).
    #[arg(long)]
    pub admin: Option<bool>,
    /// Only users with (true) or without (false) a second factor.
    #[arg(long)]
    pub mfa: Option<bool>,
    #[arg(long, default_value = "50")]
    pub limit: usize,
    /// Where the previous page ended (printed under it).
    #[arg(long)]
    pub cursor: Option<String>,
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// Print the page as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SetArgs {
    /// The user: email, mobile, username or id.
    pub user: String,
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long)]
    pub mobile: Option<String>,
    #[arg(long)]
    pub username: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub emp_id: Option<String>,
    /// The groups, comma-separated (replaces them; "" for none).
    #[arg(long)]
    pub groups: Option<String>,
    /// The assigned apps, comma-separated (replaces them; "" for none).
    #[arg(long)]
    pub apps: Option<String>,
    /// Give (true) or take (false) the admin role.
    #[arg(long)]
    pub admin: Option<bool>,
    /// Read a new password from standard input (one line).
    #[arg(long)]
    pub password_stdin: bool,
    #[arg(long, default_value = "default")]
    pub tenant: String,
}

fn list_of(s: &Option<String>) -> Option<Vec<String>> {
    s.as_ref().map(|s| s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect())
}

pub fn user(cfg: &Config, cmd: &UserCommand) -> ExitCode {
    let op = match cmd {
        UserCommand::List(a) => return list(cfg, a),
        UserCommand::Show { user, tenant } => Op::UserShow { tenant: tenant.clone(), user: user.clone() },
        UserCommand::Set(a) => {
            let password_hash = match a.password_stdin {
                false => None,
                true => match new_password_hash(cfg) {
                    Ok(h) => Some(h),
                    Err(e) => return fail(e),
                },
            };
            let patch = UserPatch {
                email: a.email.clone().map(Some),
                mobile: a.mobile.clone().map(Some),
                username: a.username.clone().map(Some),
                name: a.name.clone().map(Some),
                emp_id: a.emp_id.clone().map(Some),
                groups: list_of(&a.groups),
                apps: list_of(&a.apps),
                admin: a.admin,
                ..Default::default()
            };
            Op::UserSet { tenant: a.tenant.clone(), user: a.user.clone(), patch, password_hash }
        }
        UserCommand::Delete { user, tenant } => Op::UserDelete { tenant: tenant.clone(), user: user.clone() },
        UserCommand::Assign { user, app, tenant } | UserCommand::Unassign { user, app, tenant } => Op::UserAssign {
            tenant: tenant.clone(),
            user: user.clone(),
            app: app.clone(),
            assign: matches!(cmd, UserCommand::Assign { .. }),
        },
        _ => return fail("not a user command of this module"),
    };
    match (cmd, run(cfg, op)) {
        (UserCommand::Delete { .. }, Ok(v)) => println!("deleted user {}", v["deleted"].as_str().unwrap_or("")),
        (UserCommand::Assign { app, .. }, Ok(v)) => {
            println!("{} is assigned to {app}", v["user"].as_str().unwrap_or(""))
        }
        (UserCommand::Unassign { app, .. }, Ok(v)) => {
            println!("{} is no longer assigned to {app}", v["user"].as_str().unwrap_or(""))
        }
        (_, Ok(v)) => print(&v),
        (_, Err(e)) => return fail(e),
    }
    ExitCode::SUCCESS
}

fn list(cfg: &Config, a: &ListArgs) -> ExitCode {
    let status = match a.status.as_deref().map(|s| UserStatus::parse(s).ok_or(s)) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(s)) => return fail(format!("`{s}` is not a status: use active, pending or disabled")),
    };
    let query = ListQuery { q: a.q.clone(), status, app: a.app.clone(), admin: a.admin, mfa: a.mfa };
    let op = Op::UserList { tenant: a.tenant.clone(), query, cursor: a.cursor.clone(), limit: a.limit };
    let v = match run(cfg, op) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    if a.json {
        print(&v);
        return ExitCode::SUCCESS;
    }
    let s = |u: &serde_json::Value, k: &str| u[k].as_str().unwrap_or("-").to_string();
    println!("{:<36}  {:<28} {:<16} {:<20} {:<8} {:<5} MFA", "ID", "EMAIL", "USERNAME", "NAME", "STATUS", "ADMIN");
    for u in v["users"].as_array().into_iter().flatten() {
        println!(
            "{:<36}  {:<28} {:<16} {:<20} {:<8} {:<5} {}",
            s(u, "id"),
            s(u, "email"),
            s(u, "username"),
            s(u, "name"),
            s(u, "status"),
            u["admin"].as_bool().unwrap_or(false),
            u["mfa"].as_bool().unwrap_or(false)
        );
    }
    if let Some(c) = v["next_cursor"].as_str() {
        println!("more: --cursor {c}");
    }
    ExitCode::SUCCESS
}
