//! The integration suites, one test binary (one link instead of fifteen). Each module is one
//! suite: what crosses a socket runs against the real `gatehouse` binary and real peers, started
//! by the harness in tests/common. Add a suite as a file here and a `mod` line below; run one
//! with `cargo test --test e2e gateway::`.

#[path = "../common/mod.rs"]
mod common;

mod account;
mod account_page;
mod addresses;
mod admin_adm;
mod admin_apps;
mod admin_audit;
mod admin_users;
mod admin_webhooks;
mod at_rest;
mod browser;
mod budget;
mod cli;
mod cli_users;
mod console;
mod console_directory;
mod console_ops;
mod delivery;
mod docs;
mod edge_identity;
mod forward_auth;
mod gateway;
mod identity;
mod keys;
mod layers;
mod links;
mod mfa;
mod openapi;
mod otp;
mod outbox_replicas;
mod portal;
mod postgres;
mod providers;
mod register;
mod register_options;
mod regulation_shared;
mod release;
mod replicas;
mod verify;
mod wire;
