//! `gatehouse store`: the store's schema (`migrate`) and moving its data between backends
//! (`copy`, docs/cli.md §9).

use crate::config::Config;
use crate::store::postgres::{Postgres, SCHEMA};
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Bring the configured store's schema up to date (a start does too); print what was applied.
    Migrate,
}

pub fn store(cfg: &Config, cmd: &StoreCommand) -> ExitCode {
    match cmd {
        StoreCommand::Migrate => migrate(cfg),
    }
}

fn migrate(cfg: &Config) -> ExitCode {
    let Some(pg_cfg) = &cfg.postgres else {
        // redb checks and upgrades its file at every open.
        return match crate::store::Store::open(&cfg.storage_path) {
            Ok(_) => {
                println!("{}: up to date (the embedded store migrates itself when opened)", cfg.storage_path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}: {e}", cfg.storage_path.display());
                ExitCode::from(1)
            }
        };
    };
    let shown = pg_cfg.display();
    let run = || -> crate::store::Result<(u32, Vec<u32>)> {
        let pg = Postgres::connect(pg_cfg)?;
        let before = pg.schema_version()?;
        Ok((before, pg.migrate()?))
    };
    match run() {
        Ok((before, applied)) if applied.is_empty() => {
            println!("{shown}: schema version {before}, up to date");
            ExitCode::SUCCESS
        }
        Ok((before, applied)) => {
            let list = applied.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
            println!("{shown}: schema version {before} → {SCHEMA} (applied {list})");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{shown}: {e}");
            ExitCode::from(1)
        }
    }
}
