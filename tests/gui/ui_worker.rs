//! The worker never waits on the network: a sign-in (or a sign-out) runs as a task of the
//! worker's runtime, and the rows keep answering meanwhile
//! (`DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/x xvfb-run -a cargo test --test gui ui_worker::`).
#![cfg(feature = "gui")]
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use common::gtk::{close_all_windows, pump, wait_for, wait_within, Fixture};
use playmark::demo::{Fault, PathPattern, RequestMatch, DEMO_PASSWORD, DEMO_USER};
use playmark::sync::ItemSyncState;
use playmark::ui::app::AppInput;
use playmark::ui::sign_in::SignInOutput;
use playmark::ui::worker::{LibrarySource, Password, SyncQueueInput};
use relm4::gtk;
use relm4::prelude::*;

/// A sign-in whose server holds its answer: while it hangs, a Watched toggle is recorded,
/// badged and sent at once (the worker used to `block_on` the sign-in, and the toggle waited
/// behind it); when the answer comes, the app switches to the account. Then a sign-out whose
/// demo sign-in hangs: the worker still answers.
#[gtk::test]
fn a_hanging_sign_in_or_sign_out_does_not_hold_up_the_worker() {
    close_all_windows();
    let f = Fixture::start();
    let id = f.episode_ids()[0].clone();
    // The server holds the password check, unanswered, until the test lets it go.
    f.server.fail_matching(
        RequestMatch::request(
            Some("POST"),
            PathPattern::Exact("/Users/AuthenticateByName".into()),
        ),
        Fault::Hold,
    );
    f.app.emit(AppInput::SignIn(SignInOutput::SignIn {
        url: f.server.url(),
        user: DEMO_USER.into(),
        password: Password(DEMO_PASSWORD.into()),
    }));
    wait_for("the sign-in held by the server", || {
        f.server.held_requests() == 1
    });

    f.toggle_watched(&id);
    pump();
    assert!(f.played(&id), "the row shows watched at once");
    // The worker records it, badges it and sends it while the sign-in still hangs.
    wait_within(
        "the change badged and synced",
        Duration::from_secs(10),
        || f.state(&id) == Some(ItemSyncState::Synced),
    );
    assert!(f.server_played(&id), "the change reached the server");
    assert_eq!(f.server.held_requests(), 1, "the sign-in still hangs");
    assert!(matches!(
        f.app.model().source,
        Some(LibrarySource::Demo { .. })
    ));

    // The answer comes: the app switches to the account.
    assert!(f.server.release_held(true));
    wait_for("signed in", || {
        matches!(f.app.model().source, Some(LibrarySource::Account { .. }))
    });
    assert_eq!(f.app.model().sign_in.model().error, None);
    wait_for("the account's library", || f.episode_ids().len() >= 3);

    // Sign out: the demo library's sign-in is held the same way, and the worker still answers
    // (where a sign-in's token would go). (A toggle made meanwhile waits for the demo's engine,
    // as it waited behind the blocking switch before, and meets the same store: one not pulled
    // yet, "unknown item"; unchanged here.)
    f.server.fail_matching(
        RequestMatch::request(
            Some("POST"),
            PathPattern::Exact("/Users/AuthenticateByName".into()),
        ),
        Fault::Hold,
    );
    f.app.emit(AppInput::SignOut);
    wait_for("the demo's sign-in held by the server", || {
        f.server.held_requests() == 1
    });
    assert_eq!(f.app.model().sign_in.model().storage, None);
    f.app.model().queue.emit(SyncQueueInput::TokenStorage);
    wait_within("the worker answers", Duration::from_secs(10), || {
        f.app.model().sign_in.model().storage.is_some()
    });
    assert!(f.server.release_held(true));
    wait_for("the demo library again", || {
        matches!(f.app.model().source, Some(LibrarySource::Demo { .. }))
    });
}
