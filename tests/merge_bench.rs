//! Benchmark (prints figures, asserts only correctness): merging a large library page by page
//! into a real SQLite file. Run: `cargo test --test merge_bench -- --ignored --nocapture`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Instant;

use playmark::model::{ItemKind, LocalChange, RemoteItem, UserData};
use playmark::store::{ReadMark, Store};

fn episode(n: usize, user_data: UserData) -> RemoteItem {
    RemoteItem {
        provider_ids: Vec::new(),
        id: format!("e{n:06}"),
        kind: ItemKind::Episode,
        name: format!("Episode {n}"),
        parent_id: Some("season".into()),
        series_id: Some("series".into()),
        season_id: Some("season".into()),
        series_name: Some("Show".into()),
        season_number: Some(1),
        episode_number: Some(n as i64),
        runtime_ms: Some(2_400_000),
        user_data,
    }
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn merge_20k_items() {
    const N: usize = 20_000;
    const PAGE: usize = 200;
    let (_dir, mut store, acc) = common::store_with_account();
    let first: Vec<RemoteItem> = (0..N).map(|n| episode(n, UserData::default())).collect();
    // As the engine's pull does: a read mark taken before each page (one counter write, and
    // one more lookup per item in the merge).
    let pass = |store: &mut Store, items: &[RemoteItem], label: &str| {
        let t = Instant::now();
        let mut merges = 0;
        for page in items.chunks(PAGE) {
            let mark = store.read_mark().unwrap();
            merges += store
                .merge_remote_items(acc, page, mark, 1)
                .unwrap()
                .merges
                .len();
        }
        let el = t.elapsed();
        println!(
            "{label}: {N} items in {:.0} ms ({:.0} items/s, {merges} merges)",
            el.as_secs_f64() * 1e3,
            N as f64 / el.as_secs_f64()
        );
        merges
    };
    pass(&mut store, &first, "first scan");
    assert_eq!(pass(&mut store, &first, "unchanged rescan"), 0);
    // The same rescan without read marks (`ReadMark::LATEST`: no mark, no lookup): what the
    // marks cost, in the same run.
    let t = Instant::now();
    for page in first.chunks(PAGE) {
        store
            .merge_remote_items(acc, page, ReadMark::LATEST, 1)
            .unwrap();
    }
    let el = t.elapsed();
    println!(
        "unchanged rescan without read marks: {N} items in {:.0} ms ({:.0} items/s)",
        el.as_secs_f64() * 1e3,
        N as f64 / el.as_secs_f64()
    );
    assert_eq!(pass(&mut store, &first, "unchanged rescan again"), 0);
    // 2,000 local changes pending; the server changed 5,000 items, 1,000 of them both.
    for n in 4_000..6_000 {
        store
            .record_change(
                acc,
                &format!("e{n:06}"),
                LocalChange::Position {
                    position_ms: 600_000,
                },
                2,
                0,
            )
            .unwrap();
    }
    let changed: Vec<RemoteItem> = (0..N)
        .map(|n| {
            let ud = if n < 5_000 {
                UserData {
                    position_ms: 900_000,
                    played: false,
                    play_count: 0,
                    last_played: Some(3),
                }
            } else {
                UserData::default()
            };
            episode(n, ud)
        })
        .collect();
    assert_eq!(pass(&mut store, &changed, "rescan with changes"), 5_000);
}
