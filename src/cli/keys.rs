//! `gatehouse keys`: the access-token signing keys (kept in the store, shared by every replica).

use crate::config::Config;
use clap::Subcommand;
use serde_json::Value;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// The signing keys: the current one and the previous ones still verifying.
    List,
    /// Start a new signing key. Tokens signed by the current one keep verifying (and it stays in
    /// the JWKS) for the overlap window; replicas pick the new key up within seconds.
    Rotate {
        /// How long the current key keeps verifying, e.g. 1h or 1d (at least the access
        /// tokens' lifetime, plus the time JWKS consumers cache it).
        #[arg(long, default_value = "1d")]
        overlap: String,
    },
}

fn print(v: &Value) {
    for k in v["keys"].as_array().into_iter().flatten() {
        let until = k["valid_until"].as_u64().map(|t| format!("verifies until {t}")).unwrap_or_default();
        println!(
            "{}\t{}\tcreated {}\t{until}",
            k["kid"].as_str().unwrap_or("?"),
            k["state"].as_str().unwrap_or("?"),
            k["created_at"]
        );
    }
}

pub fn keys(cfg: &Config, cmd: &KeysCommand) -> ExitCode {
    let op = match cmd {
        KeysCommand::List => crate::control::Op::KeysList,
        KeysCommand::Rotate { overlap } => match crate::config::units::Dur::parse(overlap) {
            Ok(d) => crate::control::Op::KeysRotate { overlap_secs: d.0.as_secs() },
            Err(e) => {
                eprintln!("--overlap: {e}");
                return ExitCode::from(2);
            }
        },
    };
    match crate::control::run(cfg, op) {
        Ok((v, _)) => {
            print(&v);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
