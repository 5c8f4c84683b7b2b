//! Gatehouse: an identity gateway on Pingora. See README.md for the tour and docs/ for the
//! reference; a request's journey is `proxy` → `authz` (client IP, path, limits, identity) →
//! `policy`.

/// `gatehouse --version`: the crate version and the git commit it was built from (build.rs).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("GATEHOUSE_COMMIT"), ")");

pub mod address;
pub mod api;
pub mod appkeys;
pub mod audit;
pub mod auth_router;
pub mod authz;
pub mod catalogue;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod control;
pub mod directory;
pub mod domain;
pub mod flows;
pub mod identity;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod ops;
pub mod pats;
pub mod policy;
pub mod portal;
pub mod proxy;
pub mod ratelimit;
pub mod redirect;
pub mod replica;
pub mod routes;
pub mod runtime;
pub mod server;
pub mod sessions;
pub mod state;
pub mod store;
pub mod tokens;
pub mod web;
