//! The headless command line over the same engine. See the README for every command.
//!
//! Exit codes: 0 ok / queue empty; 1 bad usage or input; 2 sign-in needed; 3 changes still
//! pending or failed after `sync`; 4 server unreachable; 5 another server answers at the
//! account's address.
//!
//! Output: `println!` in this file is [`crate::cli::accounts::line`] (a broken pipe, as in
//! `playmark items | head -1`, ends the output quietly instead of panicking). Logs only with
//! `PLAYMARK_LOG` or `-v`.

macro_rules! println {
    ($($arg:tt)*) => {
        $crate::cli::accounts::line(format_args!($($arg)*))
    };
}

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::json;

pub mod accounts;
mod download;
mod failure;
mod library;
mod login;
mod mirror;
mod play;
mod queue;
mod settings;
mod tokens;

use crate::player::position::{format as format_position, parse as parse_position};
pub use failure::exit;
use failure::{capitalize, server_failure, VERBOSE};
pub(crate) use failure::{with_detail, Failure};
use library::{items, refresh};
use login::{login, login_plex, logout, set_or_show_policy, trusted_certificate};
use queue::{discard, engine_for, mark, progress, retry, status, sync, use_mine};
pub(crate) use tokens::read_failure as token_read_failure;

use crate::backend::jellyfin::{ClientOptions, DeviceInfo, JellyfinClient};
use crate::backend::plex::PlexClient;
use crate::backend::{ErrorKind, MediaServer, ServerInfo, SyncError};
use crate::clock::{Clock, SystemClock};
use crate::model::{ItemKind, LocalChange, ServerKind};
use crate::store::{self, secrets, Account, AccountStatus, Store, StoreError};
use crate::sync::{
    Engine, EngineConfig, EngineError, Policy, RunMode, RunOutcome, DEFAULT_PAGE_SIZE,
};

#[derive(Debug, Parser)]
#[command(
    name = "playmark",
    version,
    about = "Keeps playback progress and watched status in sync with Jellyfin and Plex"
)]
struct Cli {
    /// Where the database and token live (default: the XDG data directory).
    #[arg(long, global = true, env = "PLAYMARK_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The account to use (see `playmark accounts`; default: the last signed in).
    #[arg(long, global = true, value_name = "ID")]
    account: Option<i64>,
    /// Log what happens to stderr (`PLAYMARK_LOG` sets the filter, e.g. `debug`).
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign in to a server (Jellyfin: password from stdin or PLAYMARK_PASSWORD; Plex: token
    /// from stdin or PLAYMARK_TOKEN).
    Login {
        #[command(subcommand)]
        server: LoginKind,
    },
    /// Show the conflict policy, or set it: last-writer-wins, furthest-progress (default),
    /// prefer-local, prefer-server (see the README, "Conflicts and merge").
    Policy {
        #[arg(value_parser = parse_policy)]
        policy: Option<Policy>,
    },
    /// Show or change settings: none lists them all, KEY prints one, KEY VALUE sets it.
    Settings(settings::SettingsArgs),
    /// Sign out: forget the token (queued changes are kept until you sign in again).
    Logout,
    /// List the accounts (one user on one server each) with their state and queue.
    Accounts {
        #[arg(long)]
        json: bool,
    },
    /// Fetch the library and its user data from the server.
    Refresh,
    /// List the library with local state and sync state.
    Items {
        #[arg(long)]
        json: bool,
    },
    /// Mark items watched (a season or series id marks all its episodes, in one server call).
    MarkWatched {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Mark items not watched (a season or series id marks all its episodes).
    MarkUnwatched {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Set the resume position: seconds (`754.2`) or `H:MM:SS` / `MM:SS`.
    Progress {
        id: String,
        /// Seconds (754.2) or H:MM:SS / MM:SS.
        // A leading '-' is taken as a value so a negative position gets a clear refusal.
        #[arg(allow_hyphen_values = true)]
        position: String,
    },
    /// Send queued changes now.
    Sync {
        /// Keep going (retrying, waiting for the server) until the queue is empty or this many
        /// seconds have passed.
        #[arg(long, value_name = "SECONDS")]
        wait: Option<f64>,
    },
    /// Show the queue.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Retry failed changes now.
    Retry {
        ids: Vec<String>,
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
    /// Download episodes, seasons, series or movies for offline play; blocks until every item
    /// is done (exit 0) or one failed (exit 3). Ctrl+C leaves them queued.
    Download {
        #[arg(required = true)]
        ids: Vec<String>,
        /// Pause these downloads.
        #[arg(long, conflicts_with_all = ["resume", "remove"])]
        pause: bool,
        /// Queue paused or failed downloads again (without waiting for them).
        #[arg(long, conflicts_with_all = ["pause", "remove"])]
        resume: bool,
        /// Forget these downloads and delete their files.
        #[arg(long, conflicts_with_all = ["pause", "resume"])]
        remove: bool,
    },
    /// The downloads: state, size, progress, path.
    Downloads {
        #[arg(long)]
        json: bool,
    },
    /// Send your value after all where a merge kept the server's over your change (listed by
    /// `status` for 7 days): it is queued as a new change.
    UseMine {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Give up on queued changes (the local state goes back to the server's).
    Discard {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Play an episode or movie in mpv from its resume position, recording progress as it
    /// plays (exit 0 played, 1 mpv missing, 4 server unreachable and not downloaded).
    Play {
        id: String,
        /// Start from the beginning instead of the resume position.
        #[arg(long, conflicts_with = "start")]
        from_start: bool,
        /// Start here: seconds (754.2) or H:MM:SS / MM:SS.
        #[arg(long, value_name = "POSITION")]
        start: Option<String>,
        /// Options for mpv after `--`, e.g. `-- --vo=null --ao=null --speed=50`.
        #[arg(last = true, value_name = "MPV_ARGS")]
        mpv_args: Vec<String>,
    },
    /// Keep one person's accounts on several servers in step: watched, unwatched and resume
    /// points, both ways (see the README, "Mirror").
    Mirror {
        #[command(subcommand)]
        command: mirror::MirrorCommand,
    },
    /// Move a damaged database (or one from a newer Playmark) aside and start an empty one.
    /// The old file is renamed to `playmark.db.corrupt-<time>`, never deleted; a healthy
    /// database is left alone.
    ResetDatabase,
    /// Run the bundled demo server (Jellyfin- or Plex-compatible) in the foreground.
    #[cfg(feature = "demo")]
    DemoServer {
        /// Which API it speaks: jellyfin or plex.
        #[arg(long, default_value = "jellyfin")]
        kind: crate::demo::DemoKind,
        /// TCP port on 127.0.0.1 (default 8096 for Jellyfin, 32400 for Plex).
        #[arg(long)]
        port: Option<u16>,
        /// Fault injection, e.g. `offline`, `random=0.3`, `next=3:503` (see the README).
        #[arg(long)]
        faults: Option<String>,
        /// Serve a generated library of about N items instead of the bundled one (a fifth
        /// movies, the rest series of 4 seasons × 24 episodes), e.g. 100000 for scale tests.
        #[arg(long, value_name = "N")]
        library_size: Option<usize>,
        /// The demo user may not download media (Jellyfin 403, Plex "owner has forbidden
        /// download"); streaming stays allowed.
        #[arg(long)]
        forbid_downloads: bool,
    },
}

#[derive(Debug, Subcommand)]
enum LoginKind {
    /// Jellyfin 10.9 or newer.
    Jellyfin {
        #[arg(long)]
        server: String,
        #[arg(long)]
        user: String,
        /// Trust this certificate (PEM file) for an https:// server with a self-signed
        /// certificate. Only this certificate is added; verification stays on.
        #[arg(long, value_name = "PEM_FILE")]
        trust_certificate: Option<PathBuf>,
        /// How conflicts are decided (default furthest-progress; kept on a later login
        /// without it).
        #[arg(long, value_parser = parse_policy)]
        policy: Option<Policy>,
    },
    /// Plex Media Server: the server URL and an X-Plex-Token (from stdin or PLAYMARK_TOKEN,
    /// never a command-line argument).
    Plex {
        #[arg(long)]
        server: String,
        /// When plex.tv cannot say whose token this is: the same person as the server's last
        /// account (their queued changes are kept).
        #[arg(long, conflicts_with = "new_user")]
        same_user: bool,
        /// When plex.tv cannot say whose token this is: someone else (a new account).
        #[arg(long)]
        new_user: bool,
    },
}

fn parse_policy(s: &str) -> Result<Policy, String> {
    Policy::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Policy::ALL.iter().map(|p| p.as_str()).collect();
        format!(
            "unknown policy \"{s}\"; choose one of: {}",
            names.join(", ")
        )
    })
}

/// Entry point of the `playmark` binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    init_tracing(cli.verbose);
    VERBOSE.store(cli.verbose, std::sync::atomic::Ordering::Relaxed);
    if let Some(id) = cli.account {
        crate::cli::accounts::select(id);
    }
    let Some(command) = cli.command else {
        return window(cli.data_dir.or_else(default_data_dir));
    };
    let data_dir = match cli.data_dir.or_else(default_data_dir) {
        // Absolute from here on: paths stored in the database (downloads) and printed
        // (`downloads --json`) must not depend on the directory the command ran in.
        Some(d) => std::path::absolute(&d).unwrap_or(d),
        None => {
            eprintln!("error: no data directory: set --data-dir or PLAYMARK_DATA_DIR");
            return ExitCode::from(exit::USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    match runtime.block_on(run(command, &data_dir)) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("{}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// No command: the desktop app (when built with the `gui` feature).
fn window(data_dir: Option<PathBuf>) -> ExitCode {
    #[cfg(feature = "gui")]
    if let Some(dir) = data_dir {
        return crate::ui::run(dir);
    }
    if cfg!(feature = "gui") {
        eprintln!("error: no data directory: set --data-dir or PLAYMARK_DATA_DIR");
    } else {
        let _ = data_dir;
        eprintln!("This build has no window (built without the `gui` feature); use a command (see `playmark --help`).");
    }
    ExitCode::from(exit::USAGE)
}

/// Logs go to stderr only when asked for: `PLAYMARK_LOG` (a filter such as `debug` or
/// `playmark=trace`) or `-v` (`info`); colours only on a terminal. Without either, routine
/// conditions are one human sentence from the command, never log lines.
fn init_tracing(verbose: bool) {
    let filter = match tracing_subscriber::EnvFilter::try_from_env("PLAYMARK_LOG") {
        Ok(filter) => filter,
        Err(_) if verbose => tracing_subscriber::EnvFilter::new("info"),
        Err(_) => return,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

fn default_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("org", "Playmark", "playmark")
        .map(|d| d.data_dir().to_path_buf())
}

async fn run(command: Command, data_dir: &Path) -> Result<u8, Failure> {
    match command {
        Command::Login {
            server:
                LoginKind::Jellyfin {
                    server,
                    user,
                    trust_certificate,
                    policy,
                },
        } => {
            login(
                data_dir,
                &server,
                &user,
                trust_certificate.as_deref(),
                policy,
            )
            .await
        }
        Command::Login {
            server:
                LoginKind::Plex {
                    server,
                    same_user,
                    new_user,
                },
        } => {
            let who = if same_user {
                crate::sign_in::PlexUserChoice::Same
            } else if new_user {
                crate::sign_in::PlexUserChoice::New
            } else {
                crate::sign_in::PlexUserChoice::Ask
            };
            login_plex(data_dir, &server, who).await
        }
        Command::Accounts { json } => crate::cli::accounts::accounts(data_dir, json).await,
        Command::Policy { policy } => set_or_show_policy(data_dir, policy),
        Command::Settings(args) => settings::run(data_dir, args),
        Command::Logout => logout(data_dir).await,
        Command::Refresh => refresh(data_dir).await,
        Command::Items { json } => items(data_dir, json),
        Command::MarkWatched { ids } => mark(data_dir, &ids, true),
        Command::MarkUnwatched { ids } => mark(data_dir, &ids, false),
        Command::Progress { id, position } => progress(data_dir, &id, &position),
        Command::Sync { wait } => sync(data_dir, wait).await,
        Command::Status { json } => status(data_dir, json).await,
        Command::Retry { ids, all } => retry(data_dir, ids, all),
        Command::Discard { ids } => discard(data_dir, &ids),
        Command::UseMine { ids } => use_mine(data_dir, &ids),
        Command::Download {
            ids,
            pause,
            resume,
            remove,
        } => {
            use download::Action;
            let action = match (pause, resume, remove) {
                (true, _, _) => Action::Pause,
                (_, true, _) => Action::Resume,
                (_, _, true) => Action::Remove,
                _ => Action::Download,
            };
            let d = downloader_for(data_dir, action == Action::Download).await?;
            download::download(d, &ids, action)
                .await
                .map_err(|(code, message)| Failure { code, message })
        }
        Command::Downloads { json } => {
            let d = downloader_for(data_dir, false).await?;
            download::list(&d, json).map_err(|(code, message)| Failure { code, message })
        }
        Command::ResetDatabase => reset_database(data_dir),
        Command::Mirror { command } => mirror::run(data_dir, command).await,
        Command::Play {
            id,
            from_start,
            start,
            mpv_args,
        } => {
            let args = crate::player::play::PlayArgs {
                id,
                from_start,
                start,
                mpv_args,
            };
            play::play(data_dir, args).await
        }
        #[cfg(feature = "demo")]
        Command::DemoServer {
            kind,
            port,
            faults,
            library_size,
            forbid_downloads,
        } => demo_server(kind, port, faults, library_size, forbid_downloads).await,
    }
}

pub(crate) fn open_store(data_dir: &Path) -> Result<Store, Failure> {
    Store::open(&store::database_path(data_dir)).map_err(|e| {
        use rusqlite::ffi::ErrorCode;
        let cannot_open = matches!(&e, StoreError::Sqlite(inner)
            if inner.sqlite_error_code() == Some(ErrorCode::CannotOpen));
        if let StoreError::Io { source, .. } = &e {
            if !data_dir.is_dir() {
                return Failure::usage(format!(
                    "The data directory {} cannot be created ({source}). Choose another with \
                     --data-dir.",
                    data_dir.display()
                ));
            }
        }
        match store::writable_probe(data_dir) {
            Err(io) if cannot_open || matches!(e, StoreError::Io { .. }) => {
                Failure::usage(with_detail(
                    format!(
                        "The data directory {} is not writable: Playmark keeps its database \
                         there. Make it writable, or choose another with --data-dir.",
                        data_dir.display()
                    ),
                    &format!("{io}; {e}"),
                ))
            }
            _ => Failure::from(e),
        }
    })
}

/// The account the command works on: `--account ID`, else the last signed in.
fn require_account(store: &Store) -> Result<Account, Failure> {
    crate::cli::accounts::chosen_account(store)?.ok_or(Failure {
        code: exit::SIGN_IN,
        message: "Not signed in: run `playmark login jellyfin --server URL --user NAME` or \
                  `playmark login plex --server URL` first."
            .into(),
    })
}

/// The server of the account, with its token and trusted certificate
/// ([`crate::account::session::account_client`], the same function the app uses).
async fn server_for(
    data_dir: &Path,
    account: &Account,
    options: ClientOptions,
) -> Result<Arc<dyn MediaServer>, Failure> {
    use crate::account::session::{account_client, SessionError};
    account_client(data_dir, account, options)
        .await
        .map_err(|e| match e {
            SessionError::SignedOut => Failure {
                code: exit::SIGN_IN,
                message: format!(
                    "Signed out of {}: run `playmark login` again (your queued changes are kept).",
                    account.server_name
                ),
            },
            SessionError::Secret(e) => tokens::read_failure(&e),
            SessionError::Client(e) => server_failure(&e, &account.base_url),
        })
}

/// What answers at the account's address, without signing in (`/System/Info/Public` or Plex
/// `/identity`), or why nothing does (a busy server's `Retry-After` is in the error).
async fn probe_account(
    account: &Account,
    options: ClientOptions,
) -> Result<ServerInfo, crate::backend::SyncError> {
    match account.kind {
        ServerKind::Plex => {
            PlexClient::new(
                &account.base_url,
                PlexClient::device(account.device_id.clone()),
                options,
            )?
            .identity()
            .await
        }
        ServerKind::Jellyfin | ServerKind::Demo => {
            JellyfinClient::new(
                &account.base_url,
                DeviceInfo::playmark(account.device_id.clone()),
                options,
            )?
            .public_info()
            .await
        }
    }
}

/// The download queue of the chosen account (its own store connection). `online`: with the
/// account's server client (a download needs it; listing and pausing do not).
async fn downloader_for(
    data_dir: &Path,
    online: bool,
) -> Result<Arc<crate::download::Downloader>, Failure> {
    use crate::download::{DownloadConfig, Downloader};
    let store = open_store(data_dir)?;
    let account = require_account(&store)?;
    let server = if online {
        Some(server_for(data_dir, &account, ClientOptions::default()).await?)
    } else {
        None
    };
    // The `download_folder` setting (`playmark settings download_folder DIR`), else
    // `<data dir>/downloads`.
    let mut config = DownloadConfig::new(store.settings()?.download_folder_in(data_dir));
    config.user_name = account.user_name.clone();
    // The CLI gives up on a download after about half a minute of retries (exit 3, queued
    // rows stay for the next run); the app keeps retrying longer.
    config.max_attempts = 5;
    config.backoff = crate::sync::backoff::Backoff {
        base_ms: 1_000,
        cap_ms: 15_000,
    };
    Ok(Arc::new(Downloader::new(
        store,
        account.id,
        server,
        Arc::new(SystemClock),
        config,
    )))
}

fn reset_database(data_dir: &Path) -> Result<u8, Failure> {
    let path = store::database_path(data_dir);
    match store::reset_database(&path, SystemClock.now())? {
        store::ResetOutcome::Missing => {
            println!(
                "There is no database at {}: nothing to reset.",
                path.display()
            );
            Ok(exit::OK)
        }
        store::ResetOutcome::Healthy => Err(Failure::usage(format!(
            "The database {} is healthy: nothing was changed.",
            path.display()
        ))),
        store::ResetOutcome::SetAside { reason, moved } => {
            open_store(data_dir)?;
            println!(
                "The database could not be used ({reason}).\n\
                 It was moved to {} (kept, not deleted); changes still queued in it were not sent.\n\
                 Playmark now has an empty database: run `playmark login` and `playmark refresh`.",
                moved.display()
            );
            Ok(exit::OK)
        }
    }
}

#[cfg(feature = "demo")]
async fn demo_server(
    kind: crate::demo::DemoKind,
    port: Option<u16>,
    faults: Option<String>,
    library_size: Option<usize>,
    forbid_downloads: bool,
) -> Result<u8, Failure> {
    use crate::demo::{
        DemoConfig, DemoKind, DemoLibrary, DemoServer, FaultSpec, DEMO_PASSWORD, DEMO_PLEX_TOKEN,
        DEMO_USER,
    };
    let port = port.unwrap_or(match kind {
        DemoKind::Jellyfin => 8096,
        DemoKind::Plex => 32400,
    });
    let base = match kind {
        DemoKind::Jellyfin => DemoConfig::default(),
        DemoKind::Plex => DemoConfig::plex(),
    };
    let faults = match faults {
        Some(spec) => Some(
            spec.parse::<FaultSpec>()
                .map_err(|e| Failure::usage(format!("--faults: {e}")))?,
        ),
        None => None,
    };
    let library = match library_size {
        Some(n) => DemoLibrary::sized(n),
        None => base.library.clone(),
    };
    let server = DemoServer::start(DemoConfig {
        port,
        faults,
        library,
        ..base
    })
    .await
    .map_err(|e| Failure::usage(format!("cannot start the demo server on port {port}: {e}")))?;
    server.set_downloads_allowed(!forbid_downloads);
    match kind {
        DemoKind::Jellyfin => {
            println!("Demo Jellyfin server at {}", server.url());
            println!("User: {DEMO_USER}  Password: {DEMO_PASSWORD}");
        }
        DemoKind::Plex => {
            println!("Demo Plex server at {}", server.url());
            // The demo token is public (a constant of the demo server), not a secret.
            println!("Token: {DEMO_PLEX_TOKEN}");
            // Sign-in asks plex.tv whose token it is: this server answers for its tokens.
            println!(
                "It stands in for plex.tv too: export PLAYMARK_PLEX_TV_URL={} before `playmark login plex`, so the demo token never goes to the real plex.tv.",
                server.url()
            );
        }
    }
    println!("Press Ctrl+C to stop.");
    server
        .run_until_ctrl_c()
        .await
        .map_err(|e| Failure::usage(format!("cannot wait for Ctrl+C: {e}")))?;
    Ok(exit::OK)
}
