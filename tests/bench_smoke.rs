//! The benchmark harness at smoke sizes: the call-count scenarios must reach the least possible
//! number of calls and leave the server right. Counts only; timings are never asserted.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use playmark::bench::{run, Figure, Options, Scenario, Sizes};

fn figure<'a>(figures: &'a [Figure], scenario: &str, name: &str) -> &'a Figure {
    figures
        .iter()
        .find(|f| f.scenario.starts_with(scenario) && f.name.starts_with(name))
        .unwrap_or_else(|| panic!("no figure {scenario} / {name} in {figures:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_count_scenarios_reach_the_minimum() {
    let options = Options {
        sizes: Sizes::smoke(),
        latency: Duration::from_millis(1),
        only: vec![
            Scenario::Playback,
            Scenario::Binge,
            Scenario::Indecision,
            Scenario::Offline,
        ],
    };
    let report = run(&options).await.unwrap();
    let f = &report.figures;

    let calls = figure(f, "1", "server calls");
    let checkpoints = figure(f, "1", "checkpoints recorded");
    assert_eq!(calls.baseline, Some(options.sizes.playback_secs as f64));
    assert_eq!(calls.ours, checkpoints.ours, "one call per checkpoint");
    assert!(calls.ours < options.sizes.playback_secs as f64 / 10.0);

    assert_eq!(figure(f, "2", "calls, bulk").ours, 1.0);
    assert_eq!(figure(f, "2", "calls, one episode").ours, 24.0);

    let indecision = figure(f, "3", "calls");
    assert_eq!(Some(indecision.ours), indecision.minimum);
    assert!(indecision.minimum.unwrap() > 0.0);
    assert_eq!(indecision.baseline, Some(10.0 * 10.0));

    let items = options.sizes.offline_items as f64;
    assert_eq!(figure(f, "4", "calls the server").ours, items);
    let right = figure(f, "4", "items right");
    assert_eq!((right.ours, right.baseline), (items, Some(0.0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_and_json_carry_every_figure() {
    let options = Options {
        sizes: Sizes::smoke(),
        latency: Duration::from_millis(1),
        only: vec![Scenario::Binge],
    };
    let report = run(&options).await.unwrap();
    let table = report.table();
    assert!(
        table.contains("| 2 season binge | calls, bulk action | n | 1 | 1 | 1 | 1.00x | 1.00x |")
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["figures"].as_array().unwrap().len(),
        report.figures.len()
    );
    assert_eq!(json["latency_ms"], 1);
}

/// Scenario 9 at smoke sizes: the initial mirror writes exactly the pairs that differ, the
/// quiet pass reads only the listings, and a live change crosses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_writes_only_the_pairs_that_differ() {
    let options = Options {
        sizes: Sizes::smoke(),
        latency: Duration::from_millis(1),
        only: vec![Scenario::Mirror],
    };
    let report = run(&options).await.unwrap();
    let f = &report.figures;
    let writes = figure(f, "9", "initial: writes");
    assert_eq!(Some(writes.ours), writes.minimum);
    assert!(writes.ours > 0.0);
    assert!(writes.ours <= options.sizes.mirror_differ as f64);
    let quiet = figure(f, "9", "steady-state pass: requests");
    assert!(quiet.ours >= quiet.minimum.unwrap(), "{quiet:?}");
    assert!(quiet.ours <= 3.0 * quiet.minimum.unwrap(), "{quiet:?}");
    assert!(figure(f, "9", "live Jellyfin → Plex: median").ours > 0.0);
}
