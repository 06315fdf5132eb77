//! Mirroring while the app runs (issue 21; README "Mirror in the app") under a real display
//! (`xvfb-run -a cargo test --test gui ui_mirror::`): a demo Jellyfin and a demo Plex (separate
//! processes' worth of state: the demo Plex shares one play state between its tokens), both
//! signed in and grouped with the real `playmark` binary; the app opened on that data folder
//! runs the group's first pass by itself, its Preferences' Mirror page shows the figures of
//! `playmark mirror status` and the health list, and "Run now" carries a change made in the app
//! (on Jellyfin) to the Plex server, and one made on the Plex server back to Jellyfin and to the
//! library on screen.
#![cfg(feature = "gui")]
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::common;

use common::bin::{expect_code, login, run};
use common::gtk::{
    close_all_windows, descendants, launch, named, one, pump, wait_for, wait_within,
};
use playmark::demo::{DemoServer, DEMO_PASSWORD, DEMO_PLEX_TOKEN};
use playmark::model::UserData;
use playmark::ui::library::LibraryInput;
use playmark::ui::worker::mirror::MirrorHealthKind;
use playmark::ui::worker::SyncQueueInit;
use relm4::adw::prelude::PreferencesWindowExt;
use relm4::gtk;
use relm4::gtk::prelude::*;
use relm4::prelude::*;

use common::episode_id as episode;

/// `playmark login plex` on the demo Plex server (which plays plex.tv too) with its token.
fn login_plex(data: &Path, url: &str) -> Output {
    common::bin::login_plex(data, url, url, DEMO_PLEX_TOKEN, &[])
}

/// Every label's text on the page (what a person reads there).
fn page_text(page: &gtk::Widget) -> String {
    let mut out = Vec::new();
    for w in descendants(page) {
        if let Some(l) = w.downcast_ref::<gtk::Label>() {
            out.push(l.text().to_string());
        }
    }
    out.join("\n")
}

#[gtk::test]
fn the_mirror_page_shows_the_group_and_run_now_carries_changes_both_ways() {
    close_all_windows();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let jf = rt.block_on(common::clean_server());
    let plex = rt
        .block_on(DemoServer::start_plex(common::clean_config()))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    expect_code(&login_plex(&data, &plex.url()), 0);
    expect_code(&login(&data, &jf.url(), DEMO_PASSWORD), 0);
    // Plex = account 1, Jellyfin = account 2 (signed in last: the library shows it); the
    // group is made, never run from the CLI.
    expect_code(&run(&data, &["mirror", "add", "1", "2"], None), 0);

    let app = launch(SyncQueueInit::DataDir {
        data_dir: data.clone(),
    });
    wait_for("the library", || app.model().source.is_some());
    gtk::prelude::ActionGroupExt::activate_action(app.widget(), "preferences", None);
    let prefs = || app.model().preferences.model().window.clone();
    wait_for("the preferences", || prefs().is_visible());
    let page = app.model().preferences.model().mirror.page.clone();
    prefs().set_visible_page(&page);

    // The app ran the group's first pass by itself: the page has its figures.
    wait_within("the app's own first pass", Duration::from_secs(60), || {
        let app = app.model();
        let prefs = app.preferences.model();
        !prefs.mirror.running()
            && prefs
                .mirror
                .groups()
                .is_some_and(|g| g.len() == 1 && g[0].last_run_at.is_some())
    });
    let shown = app.model().preferences.model().mirror.groups().unwrap()[0].clone();
    let cli: serde_json::Value =
        serde_json::from_slice(&run(&data, &["mirror", "status", "--json"], None).stdout).unwrap();
    let cli = &cli[0];
    assert!(shown.matched > 0, "{shown:?}");
    assert!(
        shown.ambiguous >= 1,
        "Paper Cities S2E8/S2E9 on Plex: {shown:?}"
    );
    for (figure, value) in [
        ("matched", shown.matched),
        ("unmatched", shown.unmatched),
        ("ambiguous", shown.ambiguous),
        ("waiting", shown.waiting),
    ] {
        assert_eq!(
            cli[figure], value,
            "{figure}: the page says what the CLI says"
        );
    }
    assert_eq!(
        shown.health.len(),
        cli["health"].as_array().unwrap().len(),
        "{shown:?}"
    );
    let words = page_text(page.upcast_ref());
    assert!(
        words.contains(&format!("Matched: {}", shown.matched)),
        "{words}"
    );
    assert!(
        words.contains(&format!("Ambiguous: {}", shown.ambiguous)),
        "{words}"
    );
    assert!(words.contains("Plex Media Server"), "the members: {words}");
    let same_ids = shown
        .health
        .iter()
        .find(|h| h.kind == MirrorHealthKind::Ambiguous && h.reason.contains("same ids"))
        .unwrap_or_else(|| panic!("{shown:?}"));
    assert!(
        same_ids
            .items
            .iter()
            .any(|(_, label)| label.contains("Paper Cities")),
        "{same_ids:?}"
    );
    assert!(
        words.contains("Two or more items on one server carry the same ids"),
        "the reason in words: {words}"
    );

    // Watched in the app (its library shows Jellyfin): the app sends it to the Jellyfin
    // server; then Run now carries it to the Plex server.
    prefs().close();
    pump();
    let (j, x) = (
        episode(&jf, "Paper Cities", 1, 3),
        episode(&plex, "Paper Cities", 1, 3),
    );
    assert!(!plex.user_data(&x).unwrap().played);
    let on_jf = jf.items().into_iter().find(|i| i.id == j).unwrap();
    let (series, season) = (on_jf.series_id.unwrap(), on_jf.season_id.unwrap());
    app.model()
        .library
        .emit(LibraryInput::OpenSeries { id: series });
    pump();
    app.model()
        .library
        .emit(LibraryInput::OpenSeason { id: season });
    let library = app.model().library.widget().clone().upcast::<gtk::Widget>();
    wait_for("the episode's row", || !named(&library, &j).is_empty());
    let check: gtk::CheckButton = one(&named(&library, &j).pop().unwrap());
    assert!(!check.is_active());
    check.set_active(true);
    wait_for("watched on the Jellyfin server (sent by the app)", || {
        jf.user_data(&j).is_some_and(|u| u.played)
    });
    gtk::prelude::ActionGroupExt::activate_action(app.widget(), "preferences", None);
    wait_for("the preferences again", || prefs().is_visible());
    let run_now = || {
        let button = app.model().preferences.model().mirror.run_now.clone();
        wait_for("Run now can be clicked", || {
            button.is_sensitive() && !app.model().preferences.model().mirror.running()
        });
        button.emit_clicked();
    };
    run_now();
    wait_within(
        "watched on the Plex server",
        Duration::from_secs(60),
        || plex.user_data(&x).is_some_and(|u| u.played),
    );
    assert_eq!(plex.user_data(&x).unwrap().play_count, 1, "one view");
    let result = app.model().preferences.model().mirror.result.clone();
    wait_for("the pass's result on the page", || {
        !app.model().preferences.model().mirror.running()
            && result.is_visible()
            && result.text().starts_with("Done")
    });

    // Watched on the Plex server, then Run now: the Jellyfin server has it, and the library
    // (Jellyfin) shows it.
    let (j4, x4) = (
        episode(&jf, "Paper Cities", 1, 4),
        episode(&plex, "Paper Cities", 1, 4),
    );
    plex.set_user_data(
        &x4,
        UserData {
            position_ms: 0,
            played: true,
            play_count: 1,
            last_played: Some(1_765_000_000_000),
        },
    );
    run_now();
    wait_within(
        "watched on the Jellyfin server",
        Duration::from_secs(60),
        || jf.user_data(&j4).is_some_and(|u| u.played),
    );
    wait_for("watched in the library", || {
        app.model()
            .library
            .model()
            .rows
            .item(&j4)
            .is_some_and(|i| i.played)
    });

    // The Plex server down for a pass: the page lists the error, the change waits in Plex's
    // queue, and the app's engine for Plex (a member the library does not show) delivers it
    // once the server is back — no second Run now.
    let (j5, x5) = (
        episode(&jf, "Paper Cities", 1, 5),
        episode(&plex, "Paper Cities", 1, 5),
    );
    jf.set_user_data(
        &j5,
        UserData {
            position_ms: 0,
            played: true,
            play_count: 1,
            last_played: Some(1_765_000_000_000),
        },
    );
    plex.set_offline(true);
    run_now();
    wait_within("the pass with Plex down", Duration::from_secs(60), || {
        let app = app.model();
        let prefs = app.preferences.model();
        !prefs.mirror.running()
            && prefs
                .mirror
                .groups()
                .is_some_and(|g| !g[0].errors.is_empty() && g[0].queued > 0)
    });
    let error = app.model().preferences.model().mirror.groups().unwrap()[0].errors[0].clone();
    assert!(error.contains("Plex Media Server"), "{error}");
    let words = page_text(page.upcast_ref());
    assert!(words.contains(&error), "the error on the page: {words}");
    assert!(!plex.user_data(&x5).unwrap().played);
    plex.set_offline(false);
    wait_within(
        "delivered to Plex by the app's engine for it",
        Duration::from_secs(90),
        || plex.user_data(&x5).is_some_and(|u| u.played),
    );
    assert_eq!(plex.user_data(&x5).unwrap().play_count, 1, "one view");
    prefs().close();
    pump();
    close_all_windows();
    drop(app);
    drop(rt);
}
