//! mpv, driven over its JSON IPC (`--input-ipc-server`).
//!
//! mpv starts idle (`--idle=once`) with the IPC socket in a private (0700) runtime directory;
//! Playmark then sets `http-header-fields` (the token travels there, never in argv or a URL),
//! observes `time-pos`, `pause` and `duration`, and sends `loadfile URL replace start=S`
//! (the mpv 0.35 form). Everything after is event-driven: mpv pushes `property-change`, `seek`,
//! `playback-restart` and `end-file` events; nothing is polled. `--idle=once` makes mpv quit
//! after the file, `--keep-open=no` that it does end, `--ytdl=no` that a failing URL never
//! starts yt-dlp, `--resume-playback=no` that mpv's own watch-later state does not override the
//! synced position. The person's `mpv.conf` applies otherwise; these come last and win.

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::{EndReason, MediaSource, Playback, PlaybackControl, Player, PlayerError, PlayerEvent};

const OBSERVE_TIME_POS: u64 = 1;
const OBSERVE_PAUSE: u64 = 2;
const OBSERVE_DURATION: u64 = 3;
const REQUEST_HEADERS: u64 = 10;
const REQUEST_LOAD: u64 = 11;
/// `get_property time-pos` sent on each `playback-restart` (mpv's property notifications and
/// events are not ordered with each other; a reply comes after the restart it answers).
const REQUEST_RESTART_POS: u64 = 12;

/// Options Playmark always passes (after the person's own, so they win).
pub const FORCED_ARGS: &[&str] = &[
    "--idle=once",
    "--keep-open=no",
    "--ytdl=no",
    "--resume-playback=no",
];

/// The mpv program and the extra options to pass it.
#[derive(Debug, Clone)]
pub struct MpvPlayer {
    program: PathBuf,
    extra_args: Vec<String>,
    /// mpv's terminal output and input: `false` inherits them (the CLI), `true` discards them
    /// (the app, tests).
    quiet: bool,
}

/// Find `mpv`: `PLAYMARK_MPV` if set, else the first `mpv` on `PATH` that is executable.
pub fn find_mpv() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PLAYMARK_MPV") {
        let p = PathBuf::from(p);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("mpv"))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl MpvPlayer {
    /// mpv from [`find_mpv`], with `extra_args` (options only: each must start with `--`, so a
    /// file or URL can not sneak in).
    pub fn find(extra_args: Vec<String>, quiet: bool) -> Result<MpvPlayer, PlayerError> {
        if let Some(bad) = extra_args.iter().find(|a| !a.starts_with("--")) {
            return Err(PlayerError::Failed(format!(
                "“{bad}” is not an mpv option: only options (--name=value) can be passed to mpv"
            )));
        }
        let program = find_mpv().ok_or(PlayerError::Missing)?;
        Ok(MpvPlayer {
            program,
            extra_args,
            quiet,
        })
    }
}

/// A fresh private (0700) directory for the IPC socket: under `$XDG_RUNTIME_DIR` when it
/// exists, else the temporary directory.
pub fn private_runtime_dir() -> io::Result<PathBuf> {
    let root = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    for _ in 0..16 {
        let dir = root.join(format!(
            "playmark-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no free name for a runtime directory"))
}

struct MpvControl {
    commands: mpsc::UnboundedSender<Value>,
    pid: Option<u32>,
}

impl PlaybackControl for MpvControl {
    fn stop(&self) {
        // The writer is gone once mpv is: nothing to stop then.
        let _ = self.commands.send(json!({ "command": ["quit"] }));
    }

    fn set_paused(&self, paused: bool) {
        let _ = self
            .commands
            .send(json!({ "command": ["set_property", "pause", paused] }));
    }

    fn seek(&self, position_ms: i64) {
        let seconds = position_ms.max(0) as f64 / 1000.0;
        let _ = self
            .commands
            .send(json!({ "command": ["seek", seconds, "absolute"] }));
    }

    fn pid(&self) -> Option<u32> {
        self.pid
    }
}

#[async_trait]
impl Player for MpvPlayer {
    async fn play(&self, media: &MediaSource, start_ms: i64) -> Result<Playback, PlayerError> {
        let failed =
            |what: &str, e: &dyn std::fmt::Display| PlayerError::Failed(format!("{what}: {e}"));
        let dir = private_runtime_dir().map_err(|e| failed("no runtime directory", &e))?;
        let socket = dir.join("mpv.sock");
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.extra_args)
            .arg(format!("--input-ipc-server={}", socket.display()))
            .args(FORCED_ARGS)
            .kill_on_drop(true);
        if self.quiet {
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
        } else {
            cmd.stdin(Stdio::inherit());
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(if e.kind() == io::ErrorKind::NotFound {
                    PlayerError::Missing
                } else {
                    failed("cannot start mpv", &e)
                });
            }
        };
        let stream = match connect(&socket, &mut child).await {
            Ok(s) => s,
            Err(e) => {
                let _ = child.kill().await;
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let pid = child.id();
        let (read, mut write) = stream.into_split();
        let (commands, mut queue) = mpsc::unbounded_channel::<Value>();
        tokio::spawn(async move {
            while let Some(cmd) = queue.recv().await {
                let mut line = cmd.to_string().into_bytes();
                line.push(b'\n');
                if write.write_all(&line).await.is_err() {
                    break;
                }
            }
        });
        let send = |v: Value| {
            commands
                .send(v)
                .map_err(|_| PlayerError::Failed("mpv closed its control socket".into()))
        };
        if !media.headers.is_empty() {
            send(json!({
                "command": ["set_property", "http-header-fields", media.headers],
                "request_id": REQUEST_HEADERS,
            }))?;
        }
        for (id, name) in [
            (OBSERVE_TIME_POS, "time-pos"),
            (OBSERVE_PAUSE, "pause"),
            (OBSERVE_DURATION, "duration"),
        ] {
            send(json!({ "command": ["observe_property", id, name] }))?;
        }
        let start = format!("start={:.3}", start_ms.max(0) as f64 / 1000.0);
        send(json!({
            "command": ["loadfile", media.url, "replace", start],
            "request_id": REQUEST_LOAD,
        }))?;
        let (events_tx, events) = mpsc::unbounded_channel();
        let quit = commands.clone();
        tokio::spawn(read_events(read, child, dir, events_tx, quit));
        Ok(Playback {
            events,
            control: std::sync::Arc::new(MpvControl { commands, pid }),
        })
    }
}

/// Wait for mpv's socket (it appears a moment after start), or its early exit.
async fn connect(socket: &Path, child: &mut Child) -> Result<UnixStream, PlayerError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut delay = Duration::from_millis(5);
    loop {
        if let Ok(s) = UnixStream::connect(socket).await {
            return Ok(s);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(PlayerError::Failed(format!(
                "mpv exited at start ({status}); check the options passed to it"
            )));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(PlayerError::Failed(
                "mpv did not open its control socket within 10 s".into(),
            ));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(100));
    }
}

fn seconds_to_ms(v: &Value) -> Option<i64> {
    let s = v.as_f64()?;
    s.is_finite().then(|| (s * 1000.0).round() as i64)
}

/// One IPC line as an event, if it is one we use.
pub fn parse_line(line: &str) -> Option<PlayerEvent> {
    let v: Value = serde_json::from_str(line).ok()?;
    if let Some(id) = v.get("request_id").and_then(Value::as_u64) {
        let ok = v.get("error").and_then(Value::as_str) == Some("success");
        return match id {
            REQUEST_RESTART_POS => Some(PlayerEvent::Restarted(
                v.get("data").filter(|_| ok).and_then(seconds_to_ms),
            )),
            REQUEST_LOAD if !ok => Some(PlayerEvent::Ended(EndReason::Error(format!(
                "mpv refused to load the media ({})",
                v.get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error")
            )))),
            REQUEST_HEADERS if !ok => Some(PlayerEvent::Ended(EndReason::Error(
                "mpv did not accept the request headers".into(),
            ))),
            _ => None,
        };
    }
    match v.get("event").and_then(Value::as_str)? {
        "property-change" => {
            let data = v.get("data")?;
            match v.get("id").and_then(Value::as_u64)? {
                OBSERVE_TIME_POS => seconds_to_ms(data).map(|ms| PlayerEvent::Position(ms.max(0))),
                OBSERVE_PAUSE => data.as_bool().map(PlayerEvent::Paused),
                OBSERVE_DURATION => seconds_to_ms(data).map(PlayerEvent::Duration),
                _ => None,
            }
        }
        "seek" => Some(PlayerEvent::SeekStarted),
        // Answered by the `get_property` sent when this event arrives (see `read_events`).
        "playback-restart" => None,
        "end-file" => {
            let reason = match v.get("reason").and_then(Value::as_str).unwrap_or("") {
                "eof" => EndReason::Eof,
                "stop" => EndReason::Stop,
                "quit" => EndReason::Quit,
                other => EndReason::Error(
                    v.get("file_error")
                        .and_then(Value::as_str)
                        .unwrap_or(if other.is_empty() { "unknown" } else { other })
                        .to_string(),
                ),
            };
            Some(PlayerEvent::Ended(reason))
        }
        _ => None,
    }
}

async fn read_events(
    read: tokio::net::unix::OwnedReadHalf,
    mut child: Child,
    dir: PathBuf,
    events: mpsc::UnboundedSender<PlayerEvent>,
    commands: mpsc::UnboundedSender<Value>,
) {
    let mut lines = BufReader::new(read).lines();
    let mut ended = false;
    while let Ok(Some(line)) = lines.next_line().await {
        if ended {
            continue;
        }
        if line.contains("\"playback-restart\"") {
            let _ = commands.send(json!({
                "command": ["get_property", "time-pos"],
                "request_id": REQUEST_RESTART_POS,
            }));
        }
        if let Some(event) = parse_line(&line) {
            if let PlayerEvent::Ended(reason) = &event {
                ended = true;
                if matches!(reason, EndReason::Error(_)) {
                    // A load error leaves an idle mpv behind: ask it to go.
                    let _ = commands.send(json!({ "command": ["quit"] }));
                }
            }
            let _ = events.send(event);
        }
    }
    // The socket closed: mpv is exiting (or was killed).
    let status = match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
        Ok(Ok(status)) => Some(status),
        _ => {
            let _ = child.kill().await;
            None
        }
    };
    if !ended {
        let how = match status {
            Some(s) => {
                use std::os::unix::process::ExitStatusExt;
                match s.signal() {
                    Some(sig) => format!("mpv was killed (signal {sig})"),
                    None => format!("mpv exited ({s})"),
                }
            }
            None => "mpv stopped answering".to_string(),
        };
        let _ = events.send(PlayerEvent::Ended(EndReason::Gone(how)));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipc_lines_become_events() {
        let ev = |s: &str| parse_line(s);
        assert_eq!(
            ev(r#"{"event":"property-change","id":1,"name":"time-pos","data":722.5}"#),
            Some(PlayerEvent::Position(722_500))
        );
        assert_eq!(
            ev(r#"{"event":"property-change","id":1,"name":"time-pos"}"#),
            None
        );
        assert_eq!(
            ev(r#"{"event":"property-change","id":2,"name":"pause","data":true}"#),
            Some(PlayerEvent::Paused(true))
        );
        assert_eq!(
            ev(r#"{"event":"property-change","id":3,"name":"duration","data":1200.0}"#),
            Some(PlayerEvent::Duration(1_200_000))
        );
        assert_eq!(ev(r#"{"event":"seek"}"#), Some(PlayerEvent::SeekStarted));
        assert_eq!(ev(r#"{"event":"playback-restart"}"#), None);
        assert_eq!(
            ev(r#"{"data":720.000000,"request_id":12,"error":"success"}"#),
            Some(PlayerEvent::Restarted(Some(720_000)))
        );
        assert_eq!(
            ev(r#"{"request_id":12,"error":"property unavailable"}"#),
            Some(PlayerEvent::Restarted(None))
        );
        assert_eq!(
            ev(r#"{"event":"end-file","reason":"eof","playlist_entry_id":1}"#),
            Some(PlayerEvent::Ended(EndReason::Eof))
        );
        assert_eq!(
            ev(r#"{"event":"end-file","reason":"error","file_error":"loading failed"}"#),
            Some(PlayerEvent::Ended(EndReason::Error(
                "loading failed".into()
            )))
        );
        assert_eq!(
            ev(r#"{"request_id":11,"error":"invalid parameter"}"#),
            Some(PlayerEvent::Ended(EndReason::Error(
                "mpv refused to load the media (invalid parameter)".into()
            )))
        );
        assert_eq!(ev(r#"{"request_id":11,"error":"success"}"#), None);
        assert_eq!(ev("not json"), None);
        assert_eq!(ev(r#"{"event":"property-change","id":1,"data":"x"}"#), None);
    }

    #[test]
    fn runtime_dir_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = private_runtime_dir().unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        std::fs::remove_dir(&dir).unwrap();
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn only_options_pass_to_mpv() {
        assert!(matches!(
            MpvPlayer::find(vec!["--vo=null".into(), "/etc/passwd".into()], true),
            Err(PlayerError::Failed(_))
        ));
    }
}
