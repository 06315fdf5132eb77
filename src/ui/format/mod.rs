//! Pure helpers: what a badge, the status button and a toast say for a given state.
//! Plain functions over plain data, tested without a display.

use super::i18n::{gettext, ntr, tr};
use crate::backend::error::n_;
use crate::backend::{error::Action, ErrorKind, SyncError};
use crate::model::Millis;
use crate::store::Counts;
use crate::sync::{AccountState, ItemSyncState};

/// How long the "synced" check stays before it fades.
pub const SYNCED_FADE_MS: u32 = 3_000;

/// The look of one sync badge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Badge {
    /// Symbolic icon name (`None` while the spinner shows).
    pub icon: Option<&'static str>,
    /// Show a spinner instead of an icon.
    pub spinner: bool,
    /// CSS class giving the colour (`queued`, `waiting`, `synced`, `retrying`, `attention`).
    pub css_class: &'static str,
    /// Short text next to the icon ("retrying in 40 s"), empty for none.
    pub text: String,
    /// What a screen reader says.
    pub accessible_label: String,
    /// Tooltip (the reason, for needs attention).
    pub tooltip: Option<String>,
}

/// "40 s", "3 min", "2 h": a short, rounded-up duration.
pub fn short_duration(ms: i64) -> String {
    let s = (ms.max(0) + 999) / 1000;
    if s < 60 {
        tr("{n} s", &[("n", &s.to_string())])
    } else if s < 3600 {
        tr("{n} min", &[("n", &((s + 59) / 60).to_string())])
    } else {
        tr("{n} h", &[("n", &((s + 3599) / 3600).to_string())])
    }
}

/// A badge for `state` (`None`: no badge, e.g. after a discard). `now` words the retry time;
/// `server` (the account's server name) the reason a change needs attention.
pub fn badge_for(state: &ItemSyncState, now: Millis, server: &str) -> Option<Badge> {
    let badge = |icon, css_class, accessible: String| Badge {
        icon: Some(icon),
        spinner: false,
        css_class,
        text: String::new(),
        accessible_label: accessible,
        tooltip: None,
    };
    Some(match state {
        ItemSyncState::Queued => {
            let mut b = badge(
                "playmark-sync-symbolic",
                "queued",
                gettext("Sync status: queued"),
            );
            b.tooltip = Some(gettext("Waiting to be sent"));
            b
        }
        ItemSyncState::WaitingForConnection => {
            let mut b = badge(
                "network-offline-symbolic",
                "waiting",
                gettext("Sync status: waiting for connection"),
            );
            b.tooltip = Some(gettext("Will be sent when the server is back"));
            b
        }
        ItemSyncState::WaitingForSignIn => {
            let mut b = badge(
                "dialog-password-symbolic",
                "waiting",
                gettext("Sync status: waiting for sign-in"),
            );
            b.tooltip = Some(gettext("Sign in again to send this change"));
            b
        }
        ItemSyncState::Syncing => Badge {
            icon: None,
            spinner: true,
            css_class: "queued",
            text: String::new(),
            accessible_label: gettext("Sync status: syncing"),
            tooltip: Some(gettext("Sending…")),
        },
        ItemSyncState::Synced => badge(
            "emblem-ok-symbolic",
            "synced",
            gettext("Sync status: synced"),
        ),
        ItemSyncState::Retrying {
            attempt,
            next_attempt_at,
        } => {
            // A clock time stays true without a timer per row ("in 40 s" would go stale).
            let when = retry_time(*next_attempt_at, now);
            let attempt = attempt.to_string();
            let mut b = badge(
                "view-refresh-symbolic",
                "retrying",
                tr(
                    "Sync status: retrying at {time}, attempt {attempt}",
                    &[("time", &when), ("attempt", &attempt)],
                ),
            );
            b.text = tr("retry at {time}", &[("time", &when)]);
            b.tooltip = Some(tr(
                "The server had trouble; attempt {attempt} at {time}",
                &[("time", &when), ("attempt", &attempt)],
            ));
            b
        }
        ItemSyncState::NeedsAttention { kind, detail } => {
            // The sentence comes from the kind; the raw detail is never shown here.
            let reason = attention_reason(Some(*kind), detail, server);
            let mut b = badge(
                "dialog-warning-symbolic",
                "attention",
                tr(
                    "Sync status: needs attention: {reason}",
                    &[("reason", &reason)],
                ),
            );
            b.tooltip = Some(reason);
            b
        }
        ItemSyncState::Discarded => return None,
        ItemSyncState::Merged {
            conflict,
            kept_server,
            position_ms,
            played,
        } => {
            let what = if *played {
                gettext("watched")
            } else {
                clock_time(*position_ms)
            };
            let (label, tooltip) = match (conflict, kept_server) {
                (false, _) => (
                    gettext("Sync status: updated from another device"),
                    tr("Progress from another device: {what}", &[("what", &what)]),
                ),
                (true, true) => (
                    gettext("Sync status: conflict resolved, kept the server's progress"),
                    tr(
                        "Kept the server's {what} from another device",
                        &[("what", &what)],
                    ),
                ),
                (true, false) => (
                    gettext("Sync status: conflict resolved, kept your progress"),
                    tr(
                        "Your {what} replaced the server's progress",
                        &[("what", &what)],
                    ),
                ),
            };
            let mut b = badge("dialog-information-symbolic", "merged", label);
            b.tooltip = Some(tooltip);
            b
        }
    })
}

/// What the header-bar status button and its popover say. Built from ONE set of numbers, so
/// the button, the popover's header and its needs-attention list cannot disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusView {
    /// Symbolic icon of the button.
    pub icon: &'static str,
    /// The button's label ("Syncing 3", "Offline · 2 need attention").
    pub label: String,
    /// The button's tooltip and accessible description (a whole sentence).
    pub tooltip: String,
    /// The popover's first line: what is waiting to be sent ("3 changes waiting to be sent").
    pub queued: String,
    /// The popover's second line when the account cannot send (offline, sign in, server
    /// changed), else `None`.
    pub account_line: Option<String>,
    /// The heading of the needs-attention list (`None` while the list is empty).
    pub attention_heading: Option<String>,
}

/// Changes that will be sent without the user doing anything: pending, being sent, retrying.
pub fn queued_count(counts: &Counts) -> usize {
    counts.pending + counts.in_flight + counts.failed
}

/// The status button and popover for `counts` and the account's state. `counts.needs_attention`
/// is the length of the list the popover shows.
pub fn status_view(counts: &Counts, account: AccountState) -> StatusView {
    status_view_held(counts, account, 0)
}

/// [`status_view`] where `held` of the pending rows are held while their Undo is offered
/// (`store::hold`): they are not waiting to be sent, and the button does not say they are.
pub fn status_view_held(counts: &Counts, account: AccountState, held: usize) -> StatusView {
    let held = held.min(counts.pending);
    let counts = &Counts {
        pending: counts.pending - held,
        ..*counts
    };
    let queued = queued_count(counts);
    let attention = counts.needs_attention;
    let attention_text = (attention > 0).then(|| {
        ntr(
            "{count} needs attention",
            "{count} need attention",
            attention,
            &[],
        )
    });
    let queued_line = if queued == 0 && attention > 0 {
        // The changes below wait for the person, not for the server: "nothing waiting" above
        // "2 changes need attention" would contradict them.
        gettext("Nothing else waiting to be sent")
    } else if queued == 0 {
        gettext("Nothing waiting to be sent")
    } else {
        ntr(
            "{count} change waiting to be sent",
            "{count} changes waiting to be sent",
            queued,
            &[],
        )
    };
    // The account's state comes first: with items needing attention the button still says
    // why nothing is being sent.
    let account_state = match account {
        AccountState::Offline => Some((
            "network-offline-symbolic",
            gettext("Offline"),
            gettext("Offline — changes are kept and sent when the server is back"),
        )),
        AccountState::SignInNeeded => Some((
            "dialog-password-symbolic",
            gettext("Sign in needed"),
            gettext("Sign in again to send your changes — they are kept"),
        )),
        AccountState::ServerChanged => Some((
            "dialog-warning-symbolic",
            gettext("Server changed"),
            gettext("Another server answers at this address — nothing is sent until you sign in again; your changes are kept"),
        )),
        AccountState::Online => None,
    };
    let (icon, label) = match (&account_state, &attention_text) {
        (Some((icon, state, _)), Some(att)) => (
            *icon,
            tr(
                "{state} · {attention}",
                &[("state", state), ("attention", att)],
            ),
        ),
        (Some((icon, state, _)), None) => (*icon, state.clone()),
        (None, Some(att)) => ("dialog-warning-symbolic", att.clone()),
        (None, None) if queued > 0 => (
            "playmark-sync-symbolic",
            ntr("Syncing {count}", "Syncing {count}", queued, &[]),
        ),
        (None, None) if held > 0 => (
            "edit-undo-symbolic",
            ntr("{count} held for Undo", "{count} held for Undo", held, &[]),
        ),
        (None, None) => ("emblem-ok-symbolic", gettext("Up to date")),
    };
    let held_line = ntr(
        "{count} change is held while its Undo is offered",
        "{count} changes are held while their Undo is offered",
        held,
        &[],
    );
    let queued_line = if queued == 0 && attention == 0 && held > 0 {
        held_line.clone()
    } else {
        queued_line
    };
    let mut tooltip = match &account_state {
        Some((_, _, sentence)) => sentence.clone(),
        None if queued == 0 && attention == 0 && held > 0 => held_line,
        None if queued == 0 && attention == 0 => gettext("Every change is on the server"),
        None => queued_line.clone(),
    };
    if account_state.is_some() && queued > 0 {
        tooltip = tr(
            "{state}. {queued}.",
            &[("state", &tooltip), ("queued", &queued_line)],
        );
    }
    if let Some(att) = &attention_text {
        if account_state.is_some() || queued > 0 {
            tooltip = tr(
                "{summary} — {attention}",
                &[("summary", &tooltip), ("attention", att)],
            );
        }
    }
    let attention_heading = (attention > 0).then(|| {
        ntr(
            "{count} change needs attention",
            "{count} changes need attention",
            attention,
            &[],
        )
    });
    StatusView {
        icon,
        label,
        tooltip,
        queued: queued_line,
        account_line: account_state.map(|(_, _, sentence)| sentence),
        attention_heading,
    }
}

/// Why a change needs attention, in words (never the server's raw text: that is behind
/// "Copy details").
pub fn attention_reason(kind: Option<ErrorKind>, detail: &str, server: &str) -> String {
    let kind = match kind {
        Some(kind @ (ErrorKind::NotFound | ErrorKind::Rejected)) => kind,
        // A removed item (scan) or an unknown kind: the item is what went missing.
        _ if detail == crate::store::REMOVED_DETAIL => ErrorKind::NotFound,
        _ => ErrorKind::Rejected,
    };
    SyncError::new(kind, detail)
        .message_translated(server, 0, |t| gettext(t))
        .title
}

/// The one sentence shown while Playmark's database fails, from the engine's English sentence
/// or a raw store error: the known reasons are translated, anything else is not shown (the raw
/// text is in the log).
pub fn store_trouble(raw: &str) -> String {
    const REASONS: [&str; 8] = [
        n_("disk full"),
        n_("another program is holding it locked"),
        n_("the file is read-only"),
        n_("permission denied"),
        n_("the disk reported an error"),
        n_("the file is damaged"),
        n_("an unexpected database error"),
        n_("it was written by a newer version of Playmark"),
    ];
    // SQLite's own words for the common cases, and the store's, when the raw error is all
    // there is.
    const SQLITE: [(&str, usize); 6] = [
        ("database or disk is full", 0),
        ("database is locked", 1),
        ("database is busy", 1),
        ("readonly database", 2),
        ("is damaged or not a Playmark database", 5),
        ("was written by a newer Playmark", 7),
    ];
    let reason = REASONS
        .iter()
        .position(|r| raw.contains(r))
        .or_else(|| {
            SQLITE
                .iter()
                .find(|(s, _)| raw.contains(s))
                .map(|(_, i)| *i)
        })
        .map_or_else(|| gettext(REASONS[6]), |i| gettext(REASONS[i]));
    tr(
        "Can't write to Playmark's database: {reason} — changes saved before are kept",
        &[("reason", &reason)],
    )
}

/// "14:05:12" (local time) when the retry is more than a few seconds away, "now" otherwise.
pub fn retry_time(at: Millis, now: Millis) -> String {
    if at <= now + 1_000 {
        return gettext("now");
    }
    match chrono::DateTime::from_timestamp_millis(at) {
        Some(t) => t
            .with_timezone(&chrono::Local)
            .format("%H:%M:%S")
            .to_string(),
        None => gettext("later"),
    }
}

/// Position as "12:34" or "1:02:03".
pub fn clock_time(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// "S01E03" (numbers as the server gave them; missing ones are left out).
pub fn episode_code(season: Option<i64>, episode: Option<i64>) -> String {
    match (season, episode) {
        (Some(s), Some(e)) => format!("S{s:02}E{e:02}"),
        (None, Some(e)) => format!("E{e:02}"),
        (Some(s), None) => format!("S{s:02}"),
        (None, None) => String::new(),
    }
}

/// A series' or season's row: "3 unwatched episodes", or "All watched" when none is left.
pub fn unwatched_text(unwatched: i64) -> String {
    if unwatched > 0 {
        ntr(
            "{count} unwatched episode",
            "{count} unwatched episodes",
            usize::try_from(unwatched).unwrap_or(usize::MAX),
            &[],
        )
    } else {
        gettext("All watched")
    }
}

/// "Resume from 12:34", or `None` when there is nothing to resume.
pub fn resume_text(position_ms: i64, played: bool) -> Option<String> {
    (position_ms > 0 && !played)
        .then(|| tr("Resume from {time}", &[("time", &clock_time(position_ms))]))
}

/// Progress bar fraction, 0..=1.
pub fn progress_fraction(position_ms: i64, runtime_ms: Option<i64>, played: bool) -> f64 {
    if played {
        return 1.0;
    }
    match runtime_ms {
        Some(r) if r > 0 => (position_ms as f64 / r as f64).clamp(0.0, 1.0),
        _ => 0.0,
    }
}

/// The toast for `count` failures of one kind (coalesced): title (plain text; escape it
/// before it reaches a widget that takes markup) and the action button to offer.
pub fn failure_toast(
    error: &SyncError,
    server: &str,
    count: usize,
    pending: usize,
) -> (String, Action) {
    let message = error.message_translated(server, pending, |t| gettext(t));
    let server_arg = [("server", server)];
    let title = match error.kind {
        // The offline wording already counts the waiting changes.
        ErrorKind::Offline | ErrorKind::Auth => message.title,
        // The reason agrees with the count ("its item" / "their items"), not a singular
        // sentence after a plural count.
        ErrorKind::NotFound => ntr(
            "{count} change couldn't be saved: its item is no longer on {server}",
            "{count} changes couldn't be saved: their items are no longer on {server}",
            count,
            &server_arg,
        ),
        ErrorKind::Rejected => ntr(
            "{count} change couldn't be saved: {server} refused it",
            "{count} changes couldn't be saved: {server} refused them",
            count,
            &server_arg,
        ),
        ErrorKind::Transient => ntr(
            "{count} change couldn't be saved: {reason}",
            "{count} changes couldn't be saved: {reason}",
            count,
            &[("reason", &message.title)],
        ),
    };
    (title, message.action)
}

/// What a progress reads as in the override notices: "watched" or a position ("20:00").
pub fn progress_word(played: bool, position_ms: i64) -> String {
    if played {
        gettext("watched")
    } else {
        clock_time(position_ms)
    }
}

/// The sentence a row shows when a merge kept another device's progress (`kept`) over the
/// person's (`yours`), built from the numbers (never from the engine's English reason).
/// `after_unknown_outcome`: the person's write may have reached the server and been changed
/// after it there, so the sentence says so.
pub fn overridden_notice(
    kept: crate::store::Progress,
    yours: crate::store::Progress,
    after_unknown_outcome: bool,
) -> String {
    let kept = progress_word(kept.played, kept.position_ms);
    let yours = progress_word(yours.played, yours.position_ms);
    let args = [("kept", kept.as_str()), ("yours", yours.as_str())];
    if after_unknown_outcome {
        tr(
            "Another device set {kept} after your {yours} reached the server — kept {kept}",
            &args,
        )
    } else {
        tr(
            "Another device set {kept} while you set {yours} — kept {kept}",
            &args,
        )
    }
}

/// The tooltip of a row's Use mine button.
pub fn use_mine_tooltip(yours: crate::store::Progress) -> String {
    tr(
        "Send your {yours} to the server instead",
        &[("yours", &progress_word(yours.played, yours.position_ms))],
    )
}

/// The toast for override notices that arrived together: one item says what happened to it
/// (its title is server text: escape before it reaches markup), several are counted.
pub fn overridden_toast(first: Option<(&str, &str)>, count: usize) -> String {
    match first {
        Some((title, notice)) if count == 1 => {
            tr("{title}: {notice}", &[("title", title), ("notice", notice)])
        }
        _ => ntr(
            "Kept another device's progress for {count} episode",
            "Kept another device's progress for {count} episodes",
            count,
            &[],
        ),
    }
}

/// The button of the override toast: one item's "Use mine", or Use mine for every item it
/// counts.
pub fn overridden_toast_action(count: usize) -> String {
    if count == 1 {
        gettext("Use mine")
    } else {
        gettext("Use mine for all")
    }
}

/// Label of a toast's action button.
pub fn action_label(action: Action) -> Option<String> {
    match action {
        Action::Retry => Some(gettext("Retry")),
        Action::Discard => Some(gettext("Details")),
        Action::SignIn => Some(gettext("Sign in")),
        Action::None => None,
    }
}

/// "Last synced 14:05" in local time, or "Not synced yet".
pub fn last_sync_text(at: Option<Millis>) -> String {
    match at.and_then(chrono::DateTime::from_timestamp_millis) {
        Some(t) => {
            let local = t.with_timezone(&chrono::Local);
            tr(
                "Last synced at {time}",
                &[("time", &local.format("%H:%M:%S").to_string())],
            )
        }
        None => gettext("Not synced in this session yet"),
    }
}

#[cfg(test)]
mod tests;

pub use crate::sign_in::SignInStep;

/// A clear sentence for a failed sign-in (wrong URL, wrong password, a server of another kind,
/// unsupported version, TLS): [`crate::sign_in::sign_in_message`] through gettext, the same
/// words `playmark login` prints.
pub fn sign_in_error(error: &SyncError, step: SignInStep, url: &str) -> String {
    crate::sign_in::sign_in_message(error, step, url, |t| gettext(t))
}

#[cfg(test)]
mod sign_in_tests {
    use super::*;

    #[test]
    fn each_sign_in_failure_says_what_to_fix() {
        let url = "https://media.local";
        let wrong_pw = SyncError::auth("wrong user name or password");
        assert_eq!(
            sign_in_error(&wrong_pw, SignInStep::Credentials, url),
            "Wrong user name or password."
        );
        let refused = SyncError::offline("connection refused");
        assert!(sign_in_error(&refused, SignInStep::Reach, url)
            .starts_with("Can't reach a server at https://media.local"));
        let old = SyncError::rejected("Jellyfin 10.8.13 is too old: Playmark needs 10.9 or newer");
        assert!(sign_in_error(&old, SignInStep::Version, url).contains("10.8.13 is too old"));
        let tls = SyncError::rejected("the server's TLS certificate is not trusted");
        assert!(sign_in_error(&tls, SignInStep::Reach, url)
            .starts_with("The server's security certificate"));
        let refused = SyncError::auth("the server refused this token");
        assert!(sign_in_error(&refused, SignInStep::Token, url)
            .starts_with("The server refused this token."));
        let down = SyncError::offline("connection refused");
        assert!(sign_in_error(&down, SignInStep::Token, url)
            .starts_with("Can't reach a server at https://media.local"));
        let missing = SyncError::new(ErrorKind::NotFound, "no /identity");
        assert!(sign_in_error(&missing, SignInStep::Token, url)
            .starts_with("The server at https://media.local is not a Plex server."));
        let bad = SyncError::rejected("add http:// or https:// to the start of \"x\"");
        assert!(sign_in_error(&bad, SignInStep::Address, url).starts_with("That server address"));
    }
}
