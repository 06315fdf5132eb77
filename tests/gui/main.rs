//! The app under a display (`xvfb-run -a cargo test --test gui`): real GTK widgets, the real
//! worker and engine, a real SQLite file and the demo servers over loopback. One binary: every
//! `#[gtk::test]` of its modules runs on its one GTK thread. Run one family with a filter, e.g.
//! `cargo test --test gui ui_library::`.
#![cfg(feature = "gui")]
#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;

mod ui;
mod ui_dead_ends;
mod ui_dialogs;
mod ui_layout;
mod ui_library;
mod ui_mirror;
mod ui_prefs;
mod ui_undo;
mod ui_worker;
