use clap::Parser;
use gatehouse::cli::{self, Cli, Command};
use std::process::ExitCode;

/// mimalloc: measurably cheaper than glibc malloc for the many small per-request allocations
/// of the proxy path (scripts/bench).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Pingora's connection pool logs an error when a pooled upstream connection is contended and
/// a new one is opened instead: benign, and one line per occurrence under load.
const DEFAULT_LOG: &str = "info,pingora_core::connectors=off";

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GATEHOUSE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG)),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Cli::parse();
    match args.command.as_ref().unwrap_or(&Command::Serve) {
        Command::Serve => match gatehouse::server::serve(&args.config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
        Command::Check => cli::check(&args.config),
        Command::Policy(p) => cli::policy(&args.config, p),
        Command::Token(t) => cli::token(&args.config, t),
        Command::HashPassword => {
            cli::directory::hash_password(gatehouse::config::Config::load(&args.config).ok().as_ref())
        }
        Command::User(c) => with_config(&args.config, |cfg| cli::directory::user(cfg, c)),
        Command::Admin(c) => with_config(&args.config, |cfg| cli::directory::admin(cfg, c)),
        Command::Bans(c) => with_config(&args.config, |cfg| cli::directory::bans(cfg, c)),
        Command::Sessions(c) => with_config(&args.config, |cfg| cli::directory::sessions(cfg, c)),
        Command::App(c) => with_config(&args.config, |cfg| cli::directory::app(cfg, c)),
        Command::Audit(c) => with_config(&args.config, |cfg| cli::directory::audit(cfg, c)),
        Command::Store(c) => cli::store::store(&args.config, c),
    }
}

fn with_config(path: &std::path::Path, f: impl FnOnce(&gatehouse::config::Config) -> ExitCode) -> ExitCode {
    match cli::load_config(path) {
        Ok(cfg) => f(&cfg),
        Err(code) => code,
    }
}
