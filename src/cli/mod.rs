//! The command line (docs/cli.md).

pub mod directory;
pub mod keys;
pub mod policy_probe;
pub mod store;
pub mod users;

use crate::config::Config;
use crate::routes::RouteTable;
use policy_probe::{self as cases, Probe};

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "gatehouse", version = crate::VERSION, about = "Identity gateway: reverse proxy and forward-auth target")]
pub struct Cli {
    /// Configuration file.
    #[arg(short, long, global = true, default_value = "./config.yaml", env = "GATEHOUSE_CONFIG")]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Validate the configuration and policies; exit 1 with `file:line: problem` on errors.
    Check,
    /// Explain or test access policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Access tokens signed with this server's key (for scripts and tests).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Users of the directory.
    #[command(subcommand)]
    User(directory::UserCommand),
    /// Administrators of the admin console.
    #[command(subcommand)]
    Admin(directory::AdminCommand),
    /// Read a password on standard input, print its argon2id PHC string.
    HashPassword,
    /// Regulation bans (failed sign-ins) in the store.
    #[command(subcommand)]
    Bans(directory::BansCommand),
    /// Sessions in the store.
    #[command(subcommand)]
    Sessions(directory::SessionsCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(directory::AuditCommand),
    /// Applications: their API keys.
    #[command(subcommand)]
    App(directory::AppCommand),
    /// The access-token signing keys: list, rotate.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// The store: its schema, and copying it between redb and PostgreSQL.
    #[command(subcommand)]
    Store(store::StoreCommand),
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Print the decision for one request and the rule (file:line) that made it.
    Explain(ExplainArgs),
    /// Run the cases in policies/*.test.yaml; exit 1 if any fails.
    Test,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    #[arg(long)]
    pub url: String,
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Signed-in user; anonymous when absent.
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long, value_delimiter = ',')]
    pub groups: Vec<String>,
    /// Scopes; by default the union of the groups' scopes from access_groups.
    #[arg(long, value_delimiter = ',')]
    pub scopes: Vec<String>,
    #[arg(long)]
    pub ip: Option<String>,
    /// one_factor or two_factor.
    #[arg(long)]
    pub level: Option<String>,
    /// Judge as the forward-auth endpoints do: a path normalisation would change is refused.
    #[arg(long)]
    pub forward_auth: bool,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Start a session for an existing user and print an access token for it.
    Issue(IssueArgs),
}

#[derive(Args, Debug)]
pub struct IssueArgs {
    /// The user: email, mobile or username.
    #[arg(long)]
    pub user: String,
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// Authentication methods, e.g. pwd,totp.
    #[arg(long, value_delimiter = ',', default_value = "pwd")]
    pub amr: Vec<crate::domain::Amr>,
    /// Lifetime, e.g. 15m or 1h.
    #[arg(long, default_value = "15m")]
    pub ttl: String,
    /// An admin session (the user must be an administrator): the token is admin-scoped, for
    /// /auth/admin/api only.
    #[arg(long)]
    pub admin: bool,
}

pub fn load_config(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(1)
    })
}

pub fn check(path: &std::path::Path) -> ExitCode {
    let cfg = match Config::load_unresolved(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let mut failed = false;
    if let Err(errors) = RouteTable::build(&cfg, None) {
        for e in errors {
            eprintln!("{e}");
        }
        failed = true;
    }
    failed |= !store_app_ids_free(&cfg);
    let loaded = crate::policy::load_dir(&cfg.policies_dir);
    for w in loaded.iter().flat_map(|p| p.warnings.iter()) {
        eprintln!("warning: {w}");
    }
    match loaded {
        Ok(p) if !failed => {
            let routes: usize = cfg.apps.iter().map(|a| a.routes.len()).sum();
            println!(
                "{}: OK ({} apps, {} routes, {} policy rules, default {})",
                path.display(),
                cfg.apps.len(),
                routes,
                p.rules.len(),
                p.default_level.as_str()
            );
            ExitCode::SUCCESS
        }
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

/// Whether no config app takes the id of an app registered in the store (what a start or a
/// reload refuses). A store in use by a running server is not opened: its reload checks.
fn store_app_ids_free(cfg: &Config) -> bool {
    if cfg.postgres.is_none() && !cfg.storage_path.exists() {
        return true;
    }
    let store = match crate::store::Store::open_configured(cfg) {
        Ok(s) => s,
        Err(crate::store::StoreError::Locked(_)) => {
            eprintln!("note: the store is in use by a running server, which checks app ids at reload");
            return true;
        }
        Err(e) => {
            eprintln!("{}: {e}", crate::store::postgres::location(cfg));
            return false;
        }
    };
    match crate::appkeys::clashes(cfg, &store).map(|c| cfg.refuse_taken_app_ids(&c)) {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            eprintln!("{e}");
            false
        }
        Err(e) => {
            eprintln!("{}: {e}", crate::store::postgres::location(cfg));
            false
        }
    }
}

pub fn policy(path: &std::path::Path, cmd: &PolicyCommand) -> ExitCode {
    let cfg = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let policy = match crate::policy::load_dir(&cfg.policies_dir) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    match cmd {
        PolicyCommand::Explain(a) => {
            let probe = Probe {
                url: a.url.clone(),
                method: a.method.clone(),
                user: a.user.clone(),
                groups: a.groups.clone(),
                scopes: a.scopes.clone(),
                ip: a.ip.clone(),
                level: a.level.clone(),
                forward_auth: a.forward_auth,
            };
            match cases::explain_probe(&policy, &probe, &cfg.access_groups) {
                Ok(cases::Explained::BadPath(e)) => {
                    println!("bad_path (400, before any rule): {e}");
                    ExitCode::SUCCESS
                }
                Ok(cases::Explained::Judged(j)) => {
                    println!("{}", cases::explain(&j));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(2)
                }
            }
        }
        PolicyCommand::Test => match cases::run_tests(&policy, &cfg.policies_dir, &cfg.access_groups) {
            Ok(report) => {
                for f in &report.failed {
                    println!("FAIL {f}");
                }
                println!("policy: {} passed, {} failed", report.passed, report.failed.len());
                if report.failed.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
    }
}

pub fn token(path: &std::path::Path, cmd: &TokenCommand) -> ExitCode {
    let cfg = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let TokenCommand::Issue(a) = cmd;
    let ttl = match crate::config::units::Dur::parse(&a.ttl) {
        Ok(d) => d.0,
        Err(e) => {
            eprintln!("--ttl: {e}");
            return ExitCode::from(2);
        }
    };
    let op = crate::control::Op::TokenIssue {
        tenant: a.tenant.clone(),
        user: a.user.clone(),
        amr: a.amr.clone(),
        ttl_secs: ttl.as_secs(),
        kind: if a.admin { crate::domain::SessionKind::Admin } else { crate::domain::SessionKind::User },
    };
    match crate::control::run(&cfg, op) {
        Ok((v, _)) => {
            println!("{}", v["access_token"].as_str().unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
