//! `gatehouse store`: the store's schema (`migrate`) and moving its data between backends
//! (`copy`, docs/cli.md §9).

use crate::config::storage::{check_url, is_postgres_url, PostgresConfig};
use crate::config::Config;
use crate::store::postgres::{Postgres, SCHEMA};
use crate::store::{Store, StoreError};
use clap::{Args, Subcommand};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Bring the configured store's schema up to date (a start does too); print what was applied.
    Migrate,
    /// Copy every table of one store into another (redb file or postgres:// URL, either way),
    /// then verify both sides agree.
    Copy(CopyArgs),
}

#[derive(Args, Debug)]
pub struct CopyArgs {
    /// The source: a redb file or a postgres:// URL.
    #[arg(long)]
    pub from: String,
    /// The destination: a redb file (created when missing) or a postgres:// URL.
    #[arg(long)]
    pub to: String,
    /// Replace the destination's data when it holds any.
    #[arg(long)]
    pub force: bool,
}

pub fn store(config: &Path, cmd: &StoreCommand) -> ExitCode {
    match cmd {
        StoreCommand::Migrate => match super::load_config(config) {
            Ok(cfg) => migrate(&cfg),
            Err(code) => code,
        },
        StoreCommand::Copy(args) => match copy(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
    }
}

/// A store named on the command line, and how to name it in messages (no credentials).
fn open_side(name: &str, source: bool) -> Result<(Store, String), String> {
    if is_postgres_url(name) {
        check_url(name).map_err(|e| format!("the PostgreSQL URL {e}"))?;
        let cfg = PostgresConfig { url: name.to_string(), pool: 2, timeout: Duration::from_secs(60) };
        let shown = cfg.display();
        let pg = Postgres::connect(&cfg).map_err(|e| format!("{shown}: {e}"))?;
        if source && pg.schema_version().map_err(|e| format!("{shown}: {e}"))? == 0 {
            return Err(format!("{shown}: holds no Gatehouse store (no schema): check the URL"));
        }
        pg.migrate().map_err(|e| format!("{shown}: {e}"))?;
        let store = Store::open_kv(Box::new(pg)).map_err(|e| format!("{shown}: {e}"))?;
        return Ok((store, shown));
    }
    let path = Path::new(name);
    if source && !path.is_file() {
        return Err(format!("{name}: no such store file"));
    }
    let store = Store::open(path).map_err(|e| match e {
        StoreError::Locked(_) => format!("{name} is in use by a running server: stop it first"),
        other => format!("{name}: {other}"),
    })?;
    Ok((store, name.to_string()))
}

fn copy(args: &CopyArgs) -> Result<(), String> {
    if args.from == args.to {
        return Err("--from and --to name the same store".into());
    }
    let (from, from_shown) = open_side(&args.from, true)?;
    let (to, to_shown) = open_side(&args.to, false)?;
    let total: u64 = crate::store::copy::counts(&from).map_err(|e| e.to_string())?.iter().map(|(_, n)| n).sum();
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let copied = crate::store::copy::copy(&from, &to, args.force, &mut |table, n| {
        bar.set_message(table);
        bar.inc(n);
    });
    let tables = match copied {
        Ok(t) => t,
        Err(e) => {
            bar.abandon();
            return Err(format!("{from_shown} → {to_shown}: {e}"));
        }
    };
    bar.finish_and_clear();
    println!("{from_shown} → {to_shown}");
    for t in tables.iter().filter(|t| t.rows > 0) {
        println!("  {:<20} {:>9} rows", t.table, t.rows);
    }
    let rows: u64 = tables.iter().map(|t| t.rows).sum();
    println!(
        "verified: {rows} rows in {} tables, the same on both sides (counts and SHA-256 of every row)",
        tables.len()
    );
    Ok(())
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
