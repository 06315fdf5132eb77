//! The headless command line over the same engine. See the README for every command.
//!
//! Exit codes: 0 ok / queue empty; 1 bad usage or input; 2 sign-in needed; 3 changes still
//! pending or failed after `sync`; 4 server unreachable; 5 another server answers at the
//! account's address.
//!
//! Output: `println!` in this file is [`crate::cli_accounts::line`] (a broken pipe, as in
//! `playmark items | head -1`, ends the output quietly instead of panicking). Logs only with
//! `PLAYMARK_LOG` or `-v`.

macro_rules! println {
    ($($arg:tt)*) => {
        $crate::cli_accounts::line(format_args!($($arg)*))
    };
}

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::json;

mod settings;
mod tokens;
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

/// Exit codes of the CLI.
pub mod exit {
    pub const OK: u8 = 0;
    pub const USAGE: u8 = 1;
    pub const SIGN_IN: u8 = 2;
    pub const PENDING: u8 = 3;
    pub const UNREACHABLE: u8 = 4;
    pub const SERVER_CHANGED: u8 = 5;
}

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

/// A failure of a command: what to print and which exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: exit::USAGE,
            message: message.into(),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        let code = match e {
            StoreError::NoAccount => exit::SIGN_IN,
            _ => exit::USAGE,
        };
        Failure {
            code,
            message: describe_store_error(&e),
        }
    }
}

/// A store error in words, with what to do about it.
///
/// Decision on a damaged database: Playmark refuses to start on it and names the file; it is
/// moved aside only when the person runs `playmark reset-database`. Starting afresh on its own
/// would silently drop the queued changes the file may still hold (a recovery tool, or a
/// `sqlite3 .recover`, can often get them back), so that choice is the person's, and the file
/// is kept either way.
fn describe_store_error(e: &StoreError) -> String {
    use rusqlite::ffi::ErrorCode;
    const RESET: &str = "Run `playmark reset-database` to move it aside (it is kept, not \
                         deleted) and start with an empty database; then sign in again.";
    match e {
        StoreError::TooNew { .. } => format!(
            "{}.\nOr, to go on with this version, {}",
            capitalize(&e.to_string()),
            RESET.replacen("Run", "run", 1)
        ),
        StoreError::Sqlite(inner) if e.is_corrupt() => {
            format!("The database is damaged ({inner}). {RESET}")
        }
        StoreError::Corrupt { .. } => format!("{}.\n{RESET}", capitalize(&e.to_string())),
        StoreError::InvalidSetting(reason) => format!("Not changed: {reason}."),
        StoreError::Sqlite(inner) => match inner.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => {
                "The disk holding the Playmark database is full: free some space and try again."
                    .to_string()
            }
            Some(ErrorCode::ReadOnly) => {
                "The Playmark database is read-only (read-only data directory or file system): \
                 make it writable and try again."
                    .to_string()
            }
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => format!(
                "The database is busy: another Playmark process kept it locked for more than \
                 {} s. Try again.",
                store::BUSY_TIMEOUT.as_secs()
            ),
            Some(ErrorCode::SystemIoFailure) => format!(
                "The Playmark database could not be read or written ({inner}): the disk may be \
                 full or failing. Free some space and try again."
            ),
            Some(ErrorCode::CannotOpen) => format!(
                "Cannot open the Playmark database ({inner}): check that the data directory \
                 exists and is writable."
            ),
            _ => e.to_string(),
        },
        _ => capitalize(&e.to_string()),
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `-v/--verbose`: a failure's raw detail is printed under its sentence.
static VERBOSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `sentence`, and with `-v` the raw detail (never a token) on a second line. The first line a
/// person reads is always the sentence.
pub(crate) fn with_detail(sentence: String, detail: &str) -> String {
    if VERBOSE.load(std::sync::atomic::Ordering::Relaxed) && !detail.is_empty() {
        format!("{sentence}\n  ({detail})")
    } else {
        sentence
    }
}

fn server_failure(e: &SyncError, server: &str) -> Failure {
    let msg = e.message(server, 0);
    let code = match e.kind {
        ErrorKind::Offline => exit::UNREACHABLE,
        ErrorKind::Auth => exit::SIGN_IN,
        _ => exit::USAGE,
    };
    Failure {
        code,
        message: with_detail(msg.title, &msg.detail),
    }
}

/// A failed sign-in, in the words of the app's sign-in dialog
/// ([`crate::sign_in::sign_in_message`], one classification for both): unreachable exits 4,
/// refused credentials 2, anything else (another kind of server, an unsupported version, an
/// untrusted certificate) 1.
fn login_failure(e: crate::sign_in::SignInError, server: &str, plex: bool) -> Failure {
    use crate::sign_in::{sign_in_message, SignInError, SignInStep};
    let Some((step, error)) = e.step(plex) else {
        return match e {
            SignInError::Store(e) => Failure::from(e),
            SignInError::Secret(e) => tokens::save_failure(&e),
            e => Failure::usage(e.to_string()),
        };
    };
    let mut sentence = sign_in_message(error, step, server, |t| t.to_string());
    if error.kind == ErrorKind::Rejected && error.detail.contains("certificate is not trusted") {
        sentence.push_str(
            "\nIf this server uses a self-signed certificate, sign in with \
             --trust-certificate FILE (the server's certificate, PEM).",
        );
    }
    let code = match (step, error.kind) {
        (_, ErrorKind::Offline) => exit::UNREACHABLE,
        (SignInStep::Credentials | SignInStep::Token, ErrorKind::Auth) => exit::SIGN_IN,
        _ => exit::USAGE,
    };
    Failure {
        code,
        message: with_detail(sentence, &error.detail),
    }
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
        crate::cli_accounts::select(id);
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
        Command::Accounts { json } => crate::cli_accounts::accounts(data_dir, json).await,
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
            use crate::download::cli::Action;
            let action = match (pause, resume, remove) {
                (true, _, _) => Action::Pause,
                (_, true, _) => Action::Resume,
                (_, _, true) => Action::Remove,
                _ => Action::Download,
            };
            let d = downloader_for(data_dir, action == Action::Download).await?;
            crate::download::cli::download(d, &ids, action)
                .await
                .map_err(|(code, message)| Failure { code, message })
        }
        Command::Downloads { json } => {
            let d = downloader_for(data_dir, false).await?;
            crate::download::cli::list(&d, json)
                .map_err(|(code, message)| Failure { code, message })
        }
        Command::ResetDatabase => reset_database(data_dir),
        Command::Play {
            id,
            from_start,
            start,
            mpv_args,
        } => {
            let args = crate::player::cli::PlayArgs {
                id,
                from_start,
                start,
                mpv_args,
            };
            crate::player::cli::play(data_dir, args)
                .await
                .map_err(|(code, message)| Failure { code, message })
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
        match writable_probe(data_dir) {
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

/// Can a file be created in `dir`? (Root ignores permission bits, so asking the file system
/// is the only reliable check; the probe file is removed again.)
fn writable_probe(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".playmark-write-test-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

/// The account the command works on: `--account ID`, else the last signed in.
fn require_account(store: &Store) -> Result<Account, Failure> {
    crate::cli_accounts::chosen_account(store)?.ok_or(Failure {
        code: exit::SIGN_IN,
        message: "Not signed in: run `playmark login jellyfin --server URL --user NAME` or \
                  `playmark login plex --server URL` first."
            .into(),
    })
}

/// The server of the account, with its token and trusted certificate
/// ([`crate::sign_in::account_client`], the same function the app uses).
async fn server_for(
    data_dir: &Path,
    account: &Account,
    options: ClientOptions,
) -> Result<Arc<dyn MediaServer>, Failure> {
    use crate::sign_in::{account_client, AccountClientError};
    account_client(data_dir, account, options)
        .await
        .map_err(|e| match e {
            AccountClientError::SignedOut => Failure {
                code: exit::SIGN_IN,
                message: format!(
                    "Signed out of {}: run `playmark login` again (your queued changes are kept).",
                    account.server_name
                ),
            },
            AccountClientError::Secret(e) => tokens::read_failure(&e),
            AccountClientError::Client(e) => server_failure(&e, &account.base_url),
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

/// The Plex token: `PLAYMARK_TOKEN`, else stdin (never argv). Surrounding white space is
/// dropped; an empty token is refused.
fn read_token() -> Result<String, Failure> {
    let token = match std::env::var("PLAYMARK_TOKEN") {
        Ok(t) => t,
        Err(_) => {
            let mut stdin = std::io::stdin();
            if stdin.is_terminal() {
                // Typed at a terminal: not echoed.
                return rpassword::prompt_password("Plex token: ")
                    .map_err(|e| {
                        Failure::usage(format!("cannot read the token from the terminal: {e}"))
                    })
                    .and_then(|t| {
                        let t = t.trim().to_string();
                        if t.is_empty() {
                            Err(Failure::usage(
                                "no Plex token: type it, pipe it on stdin or set PLAYMARK_TOKEN",
                            ))
                        } else {
                            Ok(t)
                        }
                    });
            }
            let mut buf = String::new();
            stdin
                .read_to_string(&mut buf)
                .map_err(|e| Failure::usage(format!("cannot read the token from stdin: {e}")))?;
            buf
        }
    };
    let token = token.trim().to_string();
    if token.is_empty() {
        return Err(Failure::usage(
            "no Plex token: pipe it on stdin or set PLAYMARK_TOKEN",
        ));
    }
    Ok(token)
}

async fn login_plex(
    data_dir: &Path,
    server: &str,
    who: crate::sign_in::PlexUserChoice,
) -> Result<u8, Failure> {
    use crate::sign_in::sign_in_plex;
    let token = read_token()?;
    let mut store = open_store(data_dir)?;
    let signed_in = sign_in_plex(&mut store, data_dir, server, &token, who)
        .await
        .map_err(|e| login_failure(e, server, true))?;
    println!(
        "Signed in to {} (Plex {}) as {}{}.",
        signed_in.info.server_name,
        signed_in.info.version,
        signed_in.user_name,
        crate::cli_accounts::account_note(&store, signed_in.account, signed_in.existing)?
    );
    println!("{}", tokens::saved_note(&signed_in.token_location));
    Ok(exit::OK)
}

/// The certificate the person chose to trust for this account's server, if any.
fn trusted_certificate(data_dir: &Path, account: &Account) -> Result<Option<Vec<u8>>, Failure> {
    secrets::load_certificate(data_dir, account.id)
        .map_err(|e| Failure::usage(format!("cannot read the trusted certificate: {e}")))
}

fn read_password() -> Result<String, Failure> {
    if let Ok(p) = std::env::var("PLAYMARK_PASSWORD") {
        return Ok(p);
    }
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        // Typed at a terminal: not echoed.
        return rpassword::prompt_password("Password: ").map_err(|e| {
            Failure::usage(format!("cannot read the password from the terminal: {e}"))
        });
    }
    let mut buf = String::new();
    stdin
        .read_to_string(&mut buf)
        .map_err(|e| Failure::usage(format!("cannot read the password from stdin: {e}")))?;
    Ok(buf.trim_end_matches(['\r', '\n']).to_string())
}

async fn login(
    data_dir: &Path,
    server: &str,
    user: &str,
    trust_certificate: Option<&Path>,
    policy: Option<Policy>,
) -> Result<u8, Failure> {
    let certificate = match trust_certificate {
        Some(file) => {
            if !server.trim().to_ascii_lowercase().starts_with("https://") {
                return Err(Failure::usage(
                    "--trust-certificate is for https:// addresses only",
                ));
            }
            let pem = std::fs::read(file).map_err(|e| {
                Failure::usage(format!(
                    "cannot read the certificate {}: {e}",
                    file.display()
                ))
            })?;
            eprintln!(
                "Trusting the certificate in {} for {server}: Playmark accepts this server only \
                 with that certificate (or one it signed). Check it came from the server's owner.",
                file.display()
            );
            Some(pem)
        }
        None => None,
    };
    let password = read_password()?;
    let mut store = open_store(data_dir)?;
    if let Some(warning) = crate::backend::transport::plaintext_warning(server) {
        eprintln!("{warning}");
    }
    let signed_in = crate::sign_in::sign_in_jellyfin(
        &mut store,
        data_dir,
        server,
        user,
        &password,
        certificate,
    )
    .await
    .map_err(|e| login_failure(e, server, false))?;
    let account = signed_in.account;
    if let Some(p) = policy {
        store.set_policy(account, p)?;
    }
    let policy = store.policy(account)?;
    println!(
        "Signed in to {} (Jellyfin {}) as {}{}. Conflict policy: {policy}.",
        signed_in.info.server_name,
        signed_in.info.version,
        signed_in.user_name,
        crate::cli_accounts::account_note(&store, account, signed_in.existing)?
    );
    println!("{}", tokens::saved_note(&signed_in.token_location));
    Ok(exit::OK)
}

fn set_or_show_policy(data_dir: &Path, policy: Option<Policy>) -> Result<u8, Failure> {
    let mut store = open_store(data_dir)?;
    let account = require_account(&store)?;
    match policy {
        Some(p) => {
            store.set_policy(account.id, p)?;
            println!("Conflict policy: {p} (from the next refresh on).");
        }
        None => println!("Conflict policy: {}", store.policy(account.id)?),
    }
    Ok(exit::OK)
}

async fn logout(data_dir: &Path) -> Result<u8, Failure> {
    let store = open_store(data_dir)?;
    let account = require_account(&store)?;
    tokens::forget(data_dir, &account).await?;
    let pending = store.counts(account.id)?.total();
    println!(
        "Signed out of {}. {} kept until you sign in again.",
        account.server_name,
        crate::words::count(pending, "queued change", "queued changes")
    );
    Ok(exit::OK)
}

/// A failed library fetch. `refresh` is one attempt, so "retrying automatically" would be
/// wrong; unreachable (4) and signed out (2) keep their usual wording and codes.
fn refresh_failure(e: &SyncError, server: &str) -> Failure {
    match e.kind {
        ErrorKind::Offline | ErrorKind::Auth => server_failure(e, server),
        _ => {
            // What went wrong in a few words; the raw detail (a body, an error chain) only
            // with -v.
            let why = if let Some(status) = e.status {
                let reason = reqwest::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .map(|r| format!(" {r}"))
                    .unwrap_or_default();
                format!("it answered HTTP {status}{reason}")
            } else if let Some(rest) = e.detail.strip_prefix("unexpected response from server: ") {
                match rest.split(" (").next() {
                    // The engine's own words about the listing ("… ignored paging").
                    Some(words) if words.starts_with("the library listing") => words.to_string(),
                    _ => "its answer was not a library listing".to_string(),
                }
            } else {
                // Playmark's own words ("the server ignored paging …", "request timed out"),
                // without the address and error chain after them.
                e.detail
                    .split(" (")
                    .next()
                    .unwrap_or(&e.detail)
                    .trim_end_matches('.')
                    .to_string()
            };
            Failure::usage(with_detail(
                format!(
                    "Could not fetch the library from {server}: {why}.\nNothing was lost: \
                     queued changes are kept. Try `playmark refresh` again later."
                ),
                &e.detail,
            ))
        }
    }
}

/// The first line of `refresh`: what really changed here, not how many items were looked at.
fn refresh_summary(stats: &crate::store::RefreshStats, server: &str) -> String {
    let mut parts = Vec::new();
    if stats.new_local > 0 {
        parts.push(format!("{} new", stats.new_local));
    }
    if stats.changed_local > 0 {
        parts.push(format!("{} updated", stats.changed_local));
    }
    if stats.already_on_server > 0 {
        parts.push(format!(
            "{} already there",
            crate::words::count(stats.already_on_server, "change", "changes")
        ));
    }
    if stats.kept_local > 0 {
        parts.push(format!(
            "{} with your queued changes kept",
            crate::words::count(stats.kept_local, "item", "items")
        ));
    }
    let what = if parts.is_empty() {
        "nothing changed".to_string()
    } else {
        parts.join(", ")
    };
    format!(
        "Fetched {} from {server}: {what}.",
        crate::words::count(stats.seen, "item", "items")
    )
}

async fn refresh(data_dir: &Path) -> Result<u8, Failure> {
    let (engine, account) = engine_for(data_dir).await?;
    let stats = engine
        .refresh(DEFAULT_PAGE_SIZE)
        .await
        .map_err(|e| match e {
            EngineError::Server(e) => refresh_failure(&e, &account.server_name),
            EngineError::Store(e) => Failure::from(e),
            // `refresh` does not check identity itself: `engine_for` probed just before.
            EngineError::ServerChanged { .. } => Failure {
                code: exit::SERVER_CHANGED,
                message: crate::cli_accounts::server_changed_message(&account, None, 0),
            },
        })?;
    println!("{}", refresh_summary(&stats, &account.server_name));
    if stats.adopted + stats.conflicts + stats.removed > 0 {
        let policy = engine.with_store(|s| s.policy(account.id))?;
        let mut parts = Vec::new();
        if stats.adopted > 0 {
            parts.push(format!(
                "{} on another device",
                crate::words::count(stats.adopted, "item changed", "items changed")
            ));
        }
        if stats.conflicts > 0 {
            parts.push(format!(
                "{} decided by {policy}",
                crate::words::count(stats.conflicts, "conflict", "conflicts")
            ));
        }
        if stats.removed > 0 {
            parts.push(format!(
                "{} no longer on the server",
                crate::words::count(stats.removed, "item", "items")
            ));
        }
        println!("{}.", capitalize(&parts.join(", ")));
    }
    Ok(exit::OK)
}

fn items(data_dir: &Path, json: bool) -> Result<u8, Failure> {
    let store = open_store(data_dir)?;
    let account = require_account(&store)?;
    let items = store.items(account.id)?;
    if json {
        let doc =
            serde_json::to_string_pretty(&items).map_err(|e| Failure::usage(e.to_string()))?;
        println!("{doc}");
        return Ok(exit::OK);
    }
    if items.is_empty() {
        println!("The library is empty: run `playmark refresh`.");
    }
    for i in &items {
        let label = match (i.kind, i.season_number, i.episode_number) {
            (ItemKind::Episode, Some(s), Some(e)) => {
                format!(
                    "  {} S{s:02}E{e:02} {}",
                    i.series_name.as_deref().unwrap_or(""),
                    i.name
                )
            }
            (ItemKind::Season, _, _) => format!(" {}", i.name),
            _ => i.name.clone(),
        };
        let state = if !i.kind.is_playable() {
            String::new()
        } else if i.played {
            " — watched".to_string()
        } else if i.position_ms > 0 {
            format!(" — resume from {}", format_position(i.position_ms))
        } else {
            String::new()
        };
        let sync = i
            .sync_state
            .map(|s| format!(" [{}]", s.as_str()))
            .unwrap_or_default();
        println!("{}  {label}{state}{sync}", i.item_id);
    }
    Ok(exit::OK)
}

fn format_position(ms: i64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// Parse `754.2`, `12:34` or `1:02:03` into milliseconds.
pub fn parse_position(input: &str) -> Result<i64, String> {
    let input = input.trim();
    let bad = || format!("'{input}' is not a position: use seconds (754.2) or H:MM:SS / MM:SS");
    if input.starts_with('-') {
        return Err(format!("'{input}' is negative: a position is 0 or more"));
    }
    let parts: Vec<&str> = input.split(':').collect();
    if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(bad());
    }
    let mut seconds = 0.0_f64;
    for (i, part) in parts.iter().enumerate() {
        let v: f64 = part.parse().map_err(|_| bad())?;
        if !v.is_finite() || v < 0.0 {
            return Err(bad());
        }
        let last = i == parts.len() - 1;
        if !last && v.fract() != 0.0 {
            return Err(bad());
        }
        if i > 0 && v >= 60.0 {
            return Err(bad());
        }
        seconds = seconds * 60.0 + v;
    }
    // 100 years is absurd for a media position.
    if seconds > 3.2e9 {
        return Err(format!("'{input}' is not a plausible position"));
    }
    Ok((seconds * 1000.0).round() as i64)
}

fn record(
    data_dir: &Path,
    f: impl FnOnce(&mut Store, &Account) -> Result<(), Failure>,
) -> Result<u8, Failure> {
    // A change that could not be written is reported as such, never claimed.
    let not_recorded = |e: Failure| Failure {
        code: e.code,
        message: format!("Not recorded: {}", e.message),
    };
    let mut store = open_store(data_dir).map_err(not_recorded)?;
    let account = require_account(&store).map_err(not_recorded)?;
    f(&mut store, &account).map_err(not_recorded)?;
    let queued = store.counts(account.id)?.total();
    if queued == 0 {
        println!("Nothing to send: {} already has this.", account.server_name);
        return Ok(exit::OK);
    }
    println!(
        "{}",
        crate::words::nfill(
            "{count} change queued; run `playmark sync` to send it now.",
            "{count} changes queued; run `playmark sync` to send them now.",
            queued,
            &[],
        )
    );
    Ok(exit::OK)
}

fn mark(data_dir: &Path, ids: &[String], played: bool) -> Result<u8, Failure> {
    let word = if played { "watched" } else { "not watched" };
    record(data_dir, |store, account| {
        let now = SystemClock.now();
        for id in ids {
            let item = store
                .item(account.id, id)?
                .ok_or_else(|| Failure::from(StoreError::UnknownItem(id.clone())))?;
            if item.kind.is_playable() {
                let change = if played {
                    LocalChange::MarkWatched
                } else {
                    LocalChange::MarkUnwatched
                };
                store.record_change(account.id, id, change, now, 0)?;
                println!("Marked “{}” {word}.", item.name);
            } else {
                let outcome = store.record_bulk(account.id, id, played, now, 0)?;
                println!(
                    "Marked {} of “{}” {word}{}.",
                    crate::words::count(outcome.queued + outcome.dropped, "episode", "episodes"),
                    item.name,
                    if outcome.group_key.is_some() {
                        " (one server call)"
                    } else {
                        ""
                    }
                );
            }
        }
        Ok(())
    })
}

fn use_mine(data_dir: &Path, ids: &[String]) -> Result<u8, Failure> {
    record(data_dir, |store, account| {
        let now = SystemClock.now();
        for id in ids {
            let name = store
                .item(account.id, id)?
                .map(|i| i.name)
                .ok_or_else(|| Failure::from(StoreError::UnknownItem(id.clone())))?;
            let Some((state, _)) = store.use_mine(account.id, id, now, 0)? else {
                return Err(Failure::usage(format!(
                    "no change of yours to “{name}” was replaced in the last 7 days (see `playmark status`)"
                )));
            };
            let what = if state.played {
                "watched".to_string()
            } else {
                format!("at {}", format_position(state.position_ms))
            };
            println!("“{name}”: yours again ({what}).");
        }
        Ok(())
    })
}

fn progress(data_dir: &Path, id: &str, position: &str) -> Result<u8, Failure> {
    let position_ms = parse_position(position).map_err(Failure::usage)?;
    record(data_dir, |store, account| {
        let item = store
            .item(account.id, id)?
            .ok_or_else(|| Failure::from(StoreError::UnknownItem(id.to_string())))?;
        if item.kind == ItemKind::Series || item.kind == ItemKind::Season {
            return Err(Failure::usage(format!(
                "“{}” is a {}: a position needs an episode or movie",
                item.name,
                item.kind.as_str()
            )));
        }
        if let Some(runtime) = item.runtime_ms.filter(|r| *r > 0) {
            if position_ms > runtime {
                return Err(Failure::usage(format!(
                    "{} is past the end of “{}” ({})",
                    format_position(position_ms),
                    item.name,
                    format_position(runtime)
                )));
            }
        }
        store.record_change(
            account.id,
            id,
            LocalChange::Position { position_ms },
            SystemClock.now(),
            0,
        )?;
        println!(
            "“{}” resumes at {}.",
            item.name,
            format_position(position_ms)
        );
        Ok(())
    })
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

/// The engine of the chosen account, after checking that its server still answers at its
/// address: another server there gets no request beyond that check (exit 5, state
/// `server_changed` persisted for `status` and `accounts`). An unreachable server passes (the
/// engine waits for it and checks again when it probes).
async fn engine_for(data_dir: &Path) -> Result<(Engine, Account), Failure> {
    let mut store = open_store(data_dir)?;
    let account = require_account(&store)?;
    // Signed out: said before anything is sent.
    server_for(data_dir, &account, ClientOptions::default()).await?;
    let probe_options = ClientOptions {
        trusted_certificate_pem: trusted_certificate(data_dir, &account)?,
        ..ClientOptions::default()
    };
    let probe = probe_account(&account, probe_options).await;
    if let Ok(info) = &probe {
        if !crate::cli_accounts::same_server(&account, info) {
            store.set_account_state(account.id, AccountStatus::ServerChanged)?;
            let queued = store.counts(account.id)?.total();
            return Err(Failure {
                code: exit::SERVER_CHANGED,
                message: crate::cli_accounts::server_changed_message(&account, Some(info), queued),
            });
        }
        if account.state == AccountStatus::ServerChanged {
            // The account's own server is back at its address.
            store.set_account_state(account.id, AccountStatus::Online)?;
        }
    }
    let engine = crate::sign_in::account_engine(
        store,
        data_dir,
        &account,
        ClientOptions::default(),
        EngineConfig::default(),
    )
    .await
    .map_err(|e| match e {
        crate::sign_in::AccountClientError::Secret(e) => tokens::read_failure(&e),
        e => Failure::usage(e.to_string()),
    })?;
    // A busy server answered the check with `Retry-After`: nothing is sent before it is over.
    if let Some(wait) = probe.err().and_then(|e| e.retry_after) {
        engine.server_busy_for(wait);
    }
    Ok((engine, account))
}

async fn sync(data_dir: &Path, wait: Option<f64>) -> Result<u8, Failure> {
    let wait_ms = match wait {
        Some(w) if !w.is_finite() || w < 0.0 => {
            return Err(Failure::usage(
                "--wait takes a number of seconds, 0 or more",
            ))
        }
        Some(w) => (w * 1000.0) as i64,
        None => 0,
    };
    let (engine, account) = engine_for(data_dir).await?;
    engine.sync_now()?;
    let deadline = SystemClock.now() + wait_ms;
    let outcome = engine.run(RunMode::UntilIdle { deadline }).await?;
    let delivered = engine
        .stats()
        .requests
        .load(std::sync::atomic::Ordering::Relaxed);
    let server = &account.server_name;
    let seen = match &outcome {
        RunOutcome::ServerChanged { .. } => AccountStatus::ServerChanged,
        RunOutcome::Offline { .. } => AccountStatus::Offline,
        RunOutcome::SignInNeeded { .. } => AccountStatus::SignInNeeded,
        _ => AccountStatus::Online,
    };
    engine.with_store(|s| s.set_account_state(account.id, seen))?;
    Ok(match outcome {
        RunOutcome::Empty | RunOutcome::Stopped => {
            println!(
                "All changes are on {server} ({} sent).",
                crate::words::count(delivered as usize, "request", "requests")
            );
            exit::OK
        }
        RunOutcome::Pending { counts } => {
            // Held: a bulk change the app offers to undo, sent when the person is done.
            let held = engine.with_store(|s| s.held(account.id, SystemClock.now()))?;
            let held_words = if held > 0 {
                format!("{held} held for Undo in the app, ")
            } else {
                String::new()
            };
            println!(
                "{} on {server}: {held_words}{} retrying, {} {} attention (see `playmark status`).",
                crate::words::count(counts.total(), "change not yet", "changes not yet"),
                (counts.failed + counts.pending).saturating_sub(held),
                counts.needs_attention,
                crate::words::agree(counts.needs_attention, "needs", "need")
            );
            exit::PENDING
        }
        RunOutcome::Offline { counts } => {
            let e = SyncError::new(ErrorKind::Offline, "unreachable");
            println!("{}", e.message(server, counts.total()).title);
            exit::UNREACHABLE
        }
        RunOutcome::SignInNeeded { counts } => {
            let e = SyncError::new(ErrorKind::Auth, "401");
            println!(
                "{} ({} kept)",
                e.message(server, counts.total()).title,
                crate::words::count(counts.total(), "change", "changes")
            );
            exit::SIGN_IN
        }
        RunOutcome::ServerChanged { counts } => {
            println!(
                "{}",
                crate::cli_accounts::server_changed_message(&account, None, counts.total())
            );
            exit::SERVER_CHANGED
        }
    })
}

async fn status(data_dir: &Path, json: bool) -> Result<u8, Failure> {
    let mut store = open_store(data_dir)?;
    let Some(account) = crate::cli_accounts::chosen_account(&store)? else {
        if json {
            println!(
                "{}",
                json!({"signed_in": false, "online": null, "counts": store::Counts::default(), "items": []})
            );
        } else {
            println!("Not signed in.");
        }
        return Ok(exit::OK);
    };
    let counts = store.counts(account.id)?;
    let rows = store.outbox(account.id)?;
    let probe_options = ClientOptions {
        timeout: Duration::from_secs(3),
        connect_timeout: Duration::from_secs(2),
        trusted_certificate_pem: trusted_certificate(data_dir, &account)?,
        ..ClientOptions::default()
    };
    let answer = probe_account(&account, probe_options).await.ok();
    let signed_in = crate::sign_in::account_token(data_dir, &account)
        .await
        .map_err(|e| tokens::read_failure(&e))?
        .is_some();
    // online | offline | sign_in_needed | server_changed: what answers at the address now,
    // else what was last seen (another server stays "changed" while nothing answers).
    let changed = answer
        .as_ref()
        .is_some_and(|info| !crate::cli_accounts::same_server(&account, info));
    let online = answer.is_some() && !changed;
    let account_state =
        if changed || (answer.is_none() && account.state == AccountStatus::ServerChanged) {
            AccountStatus::ServerChanged
        } else if !signed_in || account.state == AccountStatus::SignInNeeded {
            AccountStatus::SignInNeeded
        } else if online {
            AccountStatus::Online
        } else {
            AccountStatus::Offline
        };
    if changed || (online && account.state == AccountStatus::ServerChanged) {
        store.set_account_state(account.id, account_state)?;
    }
    let pending = counts.total();
    let now = SystemClock.now();
    let overridden = store.overridden(account.id, now)?;
    // Rows held back while the app offers Undo for a bulk change (`store::hold`).
    let held = store.held(account.id, now)?;
    let items: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let message = r.error_kind.map(|k| {
                SyncError::new(k, r.error_detail.clone().unwrap_or_default())
                    .message(&account.server_name, pending)
                    .title
            });
            json!({
                "item_id": r.item_id,
                "state": r.state,
                "attempts": r.attempts,
                "next_attempt_at": r.next_attempt_at,
                "error_kind": r.error_kind,
                "error_message": message,
                "error_detail": r.error_detail,
                "desired": {"position_ms": r.desired.position_ms, "played": r.desired.played},
                "hold_until": r.hold_until.filter(|_| r.held_at(now)),
            })
        })
        .collect();
    if json {
        let doc = json!({
            "signed_in": signed_in,
            "account": account.id,
            "server": account.server_name,
            "online": online,
            "account_state": crate::cli_accounts::state_name(account_state),
            "counts": counts,
            "held": held,
            "items": items,
            "overridden": overridden,
        });
        println!("{doc}");
    } else {
        println!(
            "{} — {}{}",
            account.server_name,
            match answer.as_ref() {
                Some(info) if changed => format!(
                    "another server ({}) answers at {}: nothing is sent to it",
                    info.server_name, account.base_url
                ),
                Some(_) => "reachable".to_string(),
                None => "unreachable".to_string(),
            },
            if signed_in { "" } else { ", signed out" }
        );
        println!(
            "{} pending{}, {} sending, {} retrying, {} {} attention",
            counts.pending,
            if held > 0 {
                format!(" ({held} held for Undo in the app)")
            } else {
                String::new()
            },
            counts.in_flight,
            counts.failed,
            counts.needs_attention,
            crate::words::agree(counts.needs_attention, "needs", "need")
        );
        for (r, v) in rows.iter().zip(&items) {
            let name = store
                .item(account.id, &r.item_id)?
                .map(|i| i.name)
                .unwrap_or_else(|| r.item_id.clone());
            let what = if r.desired.played {
                "watched".to_string()
            } else if r.desired.position_ms > 0 {
                format!("at {}", format_position(r.desired.position_ms))
            } else {
                "not watched".to_string()
            };
            let note = v["error_message"]
                .as_str()
                .map(|m| format!(" — {m}"))
                .unwrap_or_default();
            let held = if r.held_at(now) {
                ", held for Undo"
            } else {
                ""
            };
            println!(
                "  {} {name} → {what} [{}{held}]{note}",
                r.item_id,
                r.state.as_str()
            );
        }
        if !overridden.is_empty() {
            println!("Kept the server's value over a change of yours (`playmark use-mine ID` sends yours):");
        }
        let shown = |p: &store::Progress| {
            if p.played {
                "watched".to_string()
            } else {
                format_position(p.position_ms)
            }
        };
        for o in &overridden {
            let name = store
                .item(account.id, &o.item_id)?
                .map(|i| i.name)
                .unwrap_or_else(|| o.item_id.clone());
            println!(
                "  {} {name}: kept {}, yours {} — {}",
                o.item_id,
                shown(&o.kept),
                shown(&o.yours),
                o.why
            );
        }
    }
    Ok(exit::OK)
}

fn retry(data_dir: &Path, ids: Vec<String>, all: bool) -> Result<u8, Failure> {
    if ids.is_empty() && !all {
        return Err(Failure::usage("name the items to retry, or use --all"));
    }
    let mut store = open_store(data_dir)?;
    let account = require_account(&store)?;
    let n = store.retry(
        account.id,
        if all { None } else { Some(&ids) },
        SystemClock.now(),
    )?;
    if n == 0 {
        println!("Nothing to retry: no change is waiting for a retry.");
        return Ok(exit::OK);
    }
    println!(
        "{}",
        crate::words::nfill(
            "{count} change will be retried; run `playmark sync` to send it now.",
            "{count} changes will be retried; run `playmark sync` to send them now.",
            n,
            &[],
        )
    );
    Ok(exit::OK)
}

fn discard(data_dir: &Path, ids: &[String]) -> Result<u8, Failure> {
    let mut store = open_store(data_dir)?;
    let account = require_account(&store)?;
    let n = store.discard(account.id, ids, SystemClock.now())?;
    if n == 0 {
        println!("Nothing to discard: no change of those items is queued.");
        return Ok(exit::OK);
    }
    println!(
        "{}",
        crate::words::nfill(
            "Discarded {count} change; that item shows the server's state again.",
            "Discarded {count} changes; those items show the server's state again.",
            n,
            &[],
        )
    );
    Ok(exit::OK)
}

fn reset_database(data_dir: &Path) -> Result<u8, Failure> {
    let path = store::database_path(data_dir);
    if !path.exists() {
        println!(
            "There is no database at {}: nothing to reset.",
            path.display()
        );
        return Ok(exit::OK);
    }
    let reason = match Store::open(&path) {
        Ok(store) => match store.integrity_check() {
            Ok(result) if result == "ok" => {
                return Err(Failure::usage(format!(
                    "The database {} is healthy: nothing was changed.",
                    path.display()
                )))
            }
            Ok(result) => format!("integrity check: {result}"),
            Err(e) if e.is_corrupt() => e.to_string(),
            Err(e) => return Err(Failure::from(e)),
        },
        Err(StoreError::Corrupt { detail, .. }) => format!("damaged: {detail}"),
        Err(StoreError::TooNew { found, known, .. }) => {
            format!("written by a newer Playmark: schema {found}, this version knows {known}")
        }
        Err(e) if e.is_corrupt() => e.to_string(),
        Err(e) => return Err(Failure::from(e)),
    };
    let moved = store::set_aside(&path, SystemClock.now())?;
    open_store(data_dir)?;
    println!(
        "The database could not be used ({reason}).\n\
         It was moved to {} (kept, not deleted); changes still queued in it were not sent.\n\
         Playmark now has an empty database: run `playmark login` and `playmark refresh`.",
        moved.display()
    );
    Ok(exit::OK)
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
        }
    }
    println!("Press Ctrl+C to stop.");
    server
        .run_until_ctrl_c()
        .await
        .map_err(|e| Failure::usage(format!("cannot wait for Ctrl+C: {e}")))?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_parse() {
        assert_eq!(parse_position("754.2"), Ok(754_200));
        assert_eq!(parse_position("12:34"), Ok(754_000));
        assert_eq!(parse_position("1:02:03"), Ok(3_723_000));
        assert!(parse_position("-5").is_err());
        assert!(parse_position("1:75").is_err());
        assert!(parse_position("abc").is_err());
        assert!(parse_position("1::2").is_err());
        assert!(parse_position("NaN").is_err());
        assert!(parse_position("1e12").is_err());
    }
}
