//! Benchmark (prints figures, asserts only correctness): a full library refresh through each
//! client against its demo server, on a generated library. Run with
//! `cargo test --test refresh_bench -- --ignored --nocapture`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Instant;

use common::Harness;
use playmark::demo::{DemoConfig, DemoLibrary};
use playmark::model::ServerKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: prints figures"]
async fn full_refresh_requests_and_time_per_server_kind() {
    for kind in [ServerKind::Jellyfin, ServerKind::Plex] {
        let config = DemoConfig {
            library: DemoLibrary::generated(40, 3, 12, 200),
            ..DemoConfig::default()
        };
        let h = Harness::start_with(kind, config).await;
        let items = h.server.items().len();
        for page in [50_u64, 200, 1000] {
            h.server.clear_requests();
            let started = Instant::now();
            let stats = h.engine.refresh(page).await.unwrap();
            let elapsed = started.elapsed();
            let requests = h.server.requests().len();
            println!(
                "{kind:?}: {items} items, page {page}: {requests} requests, {:.1} ms ({stats:?})",
                elapsed.as_secs_f64() * 1000.0
            );
        }
        let listed = h.engine.with_store(|s| s.items(h.account)).unwrap().len();
        assert_eq!(listed, items);
    }
}
