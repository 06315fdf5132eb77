//! `playmark-bench`: Playmark's engine against a naive client, on the demo server over loopback.
//! See `docs/PERFORMANCE.md`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use playmark::bench::{run, Options, Scenario, Sizes};

/// Benchmarks: fewest calls, fastest drain, zero idle cost — against a naive baseline.
#[derive(Debug, Parser)]
#[command(name = "playmark-bench", version)]
struct Args {
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Tiny sizes (seconds): for CI, to keep the harness from rotting.
    #[arg(long)]
    smoke: bool,
    /// Latency the server adds to every request, in ms (default 20; 2 with --smoke).
    #[arg(long, value_name = "N")]
    latency_ms: Option<u64>,
    /// Run only this scenario (repeatable).
    #[arg(long, value_enum, value_name = "SCENARIO")]
    only: Vec<Scenario>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PLAYMARK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let options = Options {
        sizes: if args.smoke {
            Sizes::smoke()
        } else {
            Sizes::full()
        },
        latency: Duration::from_millis(args.latency_ms.unwrap_or(if args.smoke { 2 } else { 20 })),
        only: args.only,
    };
    match run(&options).await {
        Ok(report) => {
            if args.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("playmark-bench: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{}", report.table());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("playmark-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
