//! Most integration tests, as modules of one test binary (issue 19: each binary links the whole
//! crate, and 33 binaries were most of CI's build time). Run one family with a filter, e.g.
//! `cargo test --test it store::` or `cargo test --test it cli_accounts::`.
//!
//! The long or timing-sensitive suites stay binaries of their own so their timing is not shared
//! with hundreds of threads on two cores: `simulation`, `soak`, `crash`, `ui_scale` (a large library
//! under a display: its app keeps working after the test) and the benches (`merge_bench`,
//! `refresh_bench`, `bench_smoke`). Everything under a display is `tests/gui/`.
#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod cli;
mod cli_accounts;
mod cli_mirror;
mod cli_policy;
mod cli_settings;
mod contract_plex;
mod contract_selftest;
mod demo_media;
mod demo_server;
mod downloads;
mod engine_resilience;
mod fake_conformance;
mod fuzz_parsers;
mod keyring;
mod live_and_pull;
mod merge_scenarios;
mod player;
mod posters;
mod real_clients;
mod security;
mod send_merge;
mod store;
mod store_views;
mod sync_suite;
mod undo;
