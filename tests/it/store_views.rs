//! The queries behind Home and search, on a real SQLite file: Continue watching order, Next up
//! (after the last watched episode, not the first unwatched), FTS5 title search (prefix,
//! accents folded, kept in step with refreshes and removals).
#![allow(clippy::unwrap_used)]

use playmark::model::{ItemKind, LocalChange, RemoteItem, UserData};
use playmark::store::{Store, VIEW_LIMIT};

fn remote(id: &str, kind: ItemKind, name: &str) -> RemoteItem {
    RemoteItem {
        provider_ids: Vec::new(),
        id: id.into(),
        kind,
        name: name.into(),
        parent_id: None,
        series_id: None,
        season_id: None,
        series_name: None,
        season_number: None,
        episode_number: None,
        runtime_ms: Some(1_800_000),
        user_data: UserData::default(),
    }
}

fn episode(series: &str, season: i64, n: i64, name: &str) -> RemoteItem {
    let season_id = format!("{series}/s{season}");
    RemoteItem {
        provider_ids: Vec::new(),
        parent_id: Some(season_id.clone()),
        series_id: Some(series.into()),
        season_id: Some(season_id),
        series_name: Some(format!("Series {series}")),
        season_number: Some(season),
        episode_number: Some(n),
        ..remote(&format!("{series}/s{season}e{n}"), ItemKind::Episode, name)
    }
}

/// Two series ("a": 2 seasons of 3, "b": 1 season of 3) and two movies, one with an accent.
fn library() -> Vec<RemoteItem> {
    let mut items = vec![
        remote("a", ItemKind::Series, "Lighthouse Keepers"),
        remote("b", ItemKind::Series, "Orbital Kitchen"),
        remote("m1", ItemKind::Movie, "Café Noir"),
        remote("m2", ItemKind::Movie, "The Last Tram Home"),
    ];
    for (series, seasons) in [("a", 2), ("b", 1)] {
        for s in 1..=seasons {
            let mut season = remote(&format!("{series}/s{s}"), ItemKind::Season, "Season");
            season.parent_id = Some(series.into());
            season.series_id = Some(series.into());
            season.season_number = Some(s);
            items.push(season);
            for e in 1..=3 {
                items.push(episode(series, s, e, &format!("Signal {series}{s}{e}")));
            }
        }
    }
    items
}

fn setup() -> (tempfile::TempDir, Store, i64) {
    let (dir, mut store, acc) = crate::common::store_with_account();
    store.apply_remote_items(acc, &library(), 0).unwrap();
    (dir, store, acc)
}

fn change(store: &mut Store, acc: i64, item: &str, change: LocalChange, at: i64) {
    store.record_change(acc, item, change, at, 0).unwrap();
}

#[test]
fn continue_watching_is_most_recently_played_first_and_drops_finished_items() {
    let (_dir, mut store, acc) = setup();
    assert!(store.continue_watching(acc, VIEW_LIMIT).unwrap().is_empty());
    let pos = |ms| LocalChange::Position { position_ms: ms };
    change(&mut store, acc, "a/s1e2", pos(60_000), 1_000);
    change(&mut store, acc, "m1", pos(90_000), 2_000);
    change(&mut store, acc, "b/s1e1", pos(30_000), 3_000);
    assert_eq!(
        store.continue_watching(acc, VIEW_LIMIT).unwrap(),
        ["b/s1e1", "m1", "a/s1e2"]
    );
    // Playing the oldest again moves it to the front; finishing one removes it.
    change(&mut store, acc, "a/s1e2", pos(70_000), 4_000);
    change(&mut store, acc, "m1", LocalChange::MarkWatched, 5_000);
    assert_eq!(
        store.continue_watching(acc, VIEW_LIMIT).unwrap(),
        ["a/s1e2", "b/s1e1"]
    );
    assert_eq!(store.continue_watching(acc, 1).unwrap(), ["a/s1e2"]);
}

#[test]
fn items_by_ids_reads_a_views_rows_in_one_query_with_their_progress() {
    let (_dir, mut store, acc) = setup();
    change(
        &mut store,
        acc,
        "m1",
        LocalChange::Position {
            position_ms: 90_000,
        },
        2_000,
    );
    let ids: Vec<String> = ["m1", "a/s2e3", "gone", "b"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut got = store.items_by_ids(acc, &ids).unwrap();
    got.sort_by(|a, b| a.item_id.cmp(&b.item_id));
    let names: Vec<(&str, &str)> = got
        .iter()
        .map(|i| (i.item_id.as_str(), i.name.as_str()))
        .collect();
    // Unknown ids are left out; ids that look like JSON or SQL are only ids.
    assert_eq!(
        names,
        [
            ("a/s2e3", "Signal a23"),
            ("b", "Orbital Kitchen"),
            ("m1", "Café Noir")
        ]
    );
    assert_eq!(got[2].position_ms, 90_000);
    assert!(store.items_by_ids(acc, &[]).unwrap().is_empty());
    let odd = vec!["\"]\u{0}'); DROP TABLE items; --".to_string()];
    assert!(store.items_by_ids(acc, &odd).unwrap().is_empty());
    assert_eq!(store.items_by_ids(acc, &ids).unwrap().len(), 3);
}

#[test]
fn next_up_is_the_episode_after_the_last_watched_one() {
    let (_dir, mut store, acc) = setup();
    assert!(
        store.next_up(acc, VIEW_LIMIT).unwrap().is_empty(),
        "nothing started"
    );
    // Skipped the pilot of "a", watched its second episode: next up is the third, not the first.
    change(&mut store, acc, "a/s1e2", LocalChange::MarkWatched, 1_000);
    assert_eq!(store.next_up(acc, VIEW_LIMIT).unwrap(), ["a/s1e3"]);
    // The last episode of a season leads into the next season.
    change(&mut store, acc, "a/s1e3", LocalChange::MarkWatched, 2_000);
    assert_eq!(store.next_up(acc, VIEW_LIMIT).unwrap(), ["a/s2e1"]);
    // A second series, played more recently, comes first.
    change(&mut store, acc, "b/s1e1", LocalChange::MarkWatched, 3_000);
    assert_eq!(
        store.next_up(acc, VIEW_LIMIT).unwrap(),
        ["b/s1e2", "a/s2e1"]
    );
    // A half-watched next episode is on Continue watching, and only there: an item is on Home
    // once (issue 20: the same episode stood in both lists).
    change(
        &mut store,
        acc,
        "b/s1e2",
        LocalChange::Position { position_ms: 5_000 },
        4_000,
    );
    assert_eq!(store.next_up(acc, VIEW_LIMIT).unwrap(), ["a/s2e1"]);
    assert_eq!(
        store.continue_watching(acc, VIEW_LIMIT).unwrap(),
        ["b/s1e2"]
    );
    // A finished series has nothing next.
    change(&mut store, acc, "b/s1e3", LocalChange::MarkWatched, 5_000);
    assert_eq!(store.next_up(acc, VIEW_LIMIT).unwrap(), ["a/s2e1"]);
    // Unwatching moves Next up back.
    change(&mut store, acc, "a/s1e3", LocalChange::MarkUnwatched, 6_000);
    assert_eq!(store.next_up(acc, VIEW_LIMIT).unwrap(), ["a/s1e3"]);
}

#[test]
fn search_matches_prefixes_folds_accents_and_follows_refreshes() {
    let (_dir, mut store, acc) = setup();
    let search = |store: &Store, q: &str| store.search(acc, q, VIEW_LIMIT).unwrap();
    assert_eq!(search(&store, "cafe"), ["m1"], "accent folded");
    assert_eq!(search(&store, "CAFÉ no"), ["m1"], "prefix, case folded");
    assert_eq!(search(&store, "tram"), ["m2"]);
    assert_eq!(
        search(&store, "signal a21"),
        ["a/s2e1"],
        "an episode by its title"
    );
    assert_eq!(search(&store, "lighthouse")[0], "a", "the series first");
    assert!(search(&store, "nothing-like-this").is_empty());
    // FTS syntax is not interpreted: "OR" is a word (Orbital), quotes and stars separators.
    assert_eq!(search(&store, "\" OR*")[0], "b");
    assert!(search(&store, "\" ( * : -").is_empty());

    // A refresh renames a movie and no longer lists the other: the index follows.
    let items: Vec<RemoteItem> = library()
        .into_iter()
        .filter(|i| i.id != "m2")
        .map(|mut i| {
            if i.id == "m1" {
                i.name = "Crème Brûlée".into();
            }
            i
        })
        .collect();
    store.apply_remote_items(acc, &items, 10).unwrap();
    let seen = items.iter().map(|i| i.id.clone()).collect();
    store.mark_unseen_removed(acc, &seen, 10).unwrap();
    assert!(search(&store, "cafe").is_empty(), "old title gone");
    assert_eq!(search(&store, "creme brul"), ["m1"]);
    assert!(search(&store, "tram").is_empty(), "removed item not found");
}

/// A series' episodes come together in season and episode order, whatever their titles' lengths
/// (issue 20: bm25 per episode scattered them: S02E05…E08, then S01E06, S02E02).
#[test]
fn search_keeps_a_series_episodes_together_in_season_and_episode_order() {
    let (_dir, mut store, acc) = setup();
    let titles = [
        (1, 1, "Storm"),
        (
            1,
            2,
            "The storm before the long quiet night over the harbour",
        ),
        (1, 3, "Storm again"),
        (2, 1, "A storm at sea, far from any coast or lighthouse"),
        (2, 2, "Storm"),
    ];
    let mut items = library();
    items.push(remote("c", ItemKind::Series, "Weather Watch"));
    for (s, e, name) in titles {
        items.push(episode("c", s, e, name));
    }
    store.apply_remote_items(acc, &items, 10).unwrap();
    assert_eq!(
        store.search(acc, "storm", VIEW_LIMIT).unwrap(),
        ["c/s1e1", "c/s1e2", "c/s1e3", "c/s2e1", "c/s2e2"]
    );
}

/// A series' and a season's rows count their unwatched episodes, following every change
/// (issue 20 item 12); episodes and movies have no count.
#[test]
fn series_and_seasons_count_their_unwatched_episodes() {
    let (_dir, mut store, acc) = setup();
    let unwatched = |store: &Store, id: &str| store.item(acc, id).unwrap().unwrap().unwatched;
    assert_eq!(unwatched(&store, "a"), Some(6));
    assert_eq!(unwatched(&store, "a/s1"), Some(3));
    assert_eq!(unwatched(&store, "a/s1e1"), None);
    assert_eq!(unwatched(&store, "m1"), None);
    change(&mut store, acc, "a/s1e1", LocalChange::MarkWatched, 1_000);
    change(&mut store, acc, "a/s2e3", LocalChange::MarkWatched, 2_000);
    assert_eq!(unwatched(&store, "a"), Some(4));
    assert_eq!(unwatched(&store, "a/s1"), Some(2));
    assert_eq!(unwatched(&store, "a/s2"), Some(2));
    // A position is not watched; unwatching counts again.
    let pos = LocalChange::Position {
        position_ms: 60_000,
    };
    change(&mut store, acc, "a/s1e2", pos, 3_000);
    change(&mut store, acc, "a/s1e1", LocalChange::MarkUnwatched, 4_000);
    assert_eq!(unwatched(&store, "a/s1"), Some(3));
    // The same through the views' one query.
    let views = store
        .items_by_ids(acc, &["a".to_string(), "b/s1".to_string()])
        .unwrap();
    let count = |id: &str| views.iter().find(|v| v.item_id == id).unwrap().unwatched;
    assert_eq!((count("a"), count("b/s1")), (Some(5), Some(3)));
}
