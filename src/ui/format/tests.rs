//! Unit tests of the app's words and badges.

use super::*;

#[test]
fn override_notices_are_built_from_the_numbers() {
    use crate::store::Progress;
    let at = |s: i64| Progress {
        played: false,
        position_ms: s * 1000,
    };
    let watched = Progress {
        played: true,
        position_ms: 0,
    };
    assert_eq!(
        overridden_notice(at(180), at(1200), false),
        "Another device set 3:00 while you set 20:00 — kept 3:00"
    );
    assert_eq!(
        overridden_notice(watched, at(1200), true),
        "Another device set watched after your 20:00 reached the server — kept watched"
    );
    assert_eq!(overridden_toast(Some(("Pilot", "x")), 1), "Pilot: x");
    assert_eq!(
        overridden_toast(Some(("Pilot", "x")), 3),
        "Kept another device's progress for 3 episodes"
    );
}

#[test]
fn every_state_has_its_own_icon_class_and_label() {
    let states = [
        ItemSyncState::Queued,
        ItemSyncState::WaitingForConnection,
        ItemSyncState::WaitingForSignIn,
        ItemSyncState::Syncing,
        ItemSyncState::Synced,
        ItemSyncState::Retrying {
            attempt: 5,
            next_attempt_at: 40_000,
        },
        ItemSyncState::NeedsAttention {
            kind: ErrorKind::NotFound,
            detail: "404 <b>gone</b>".into(),
        },
        ItemSyncState::Merged {
            conflict: true,
            kept_server: true,
            position_ms: 2_530_000,
            played: false,
        },
    ];
    let badges: Vec<Badge> = states
        .iter()
        .map(|s| badge_for(s, 0, "Demo").unwrap())
        .collect();
    let labels: std::collections::HashSet<_> =
        badges.iter().map(|b| b.accessible_label.clone()).collect();
    assert_eq!(labels.len(), states.len(), "accessible labels differ");
    assert!(badges[3].spinner && badges[3].icon.is_none());
    assert_eq!(badges[4].icon, Some("emblem-ok-symbolic"));
    assert!(
        badges[5].text.starts_with("retry at "),
        "{}",
        badges[5].text
    );
    assert!(badges[5].accessible_label.contains("attempt 5"));
    // The words come from the kind; the raw detail is never shown on the badge.
    assert_eq!(
        badges[6].tooltip.as_deref(),
        Some("This item is no longer on Demo")
    );
    assert_eq!(
        badges[6].accessible_label,
        "Sync status: needs attention: This item is no longer on Demo"
    );
    let refused = ItemSyncState::NeedsAttention {
        kind: ErrorKind::Rejected,
        detail: "HTTP 400".into(),
    };
    assert_eq!(
        badge_for(&refused, 0, "Demo").unwrap().tooltip.as_deref(),
        Some("Demo refused this change")
    );
    assert_eq!(badges[6].css_class, "attention");
    assert!(badge_for(&ItemSyncState::Discarded, 0, "Demo").is_none());
    assert_eq!(badges[7].icon, Some("dialog-information-symbolic"));
    assert_eq!(
        badges[7].tooltip.as_deref(),
        Some("Kept the server's 42:10 from another device")
    );
}

#[test]
fn durations_round_up() {
    assert_eq!(short_duration(1), "1 s");
    assert_eq!(short_duration(59_001), "1 min");
    assert_eq!(short_duration(61_000), "2 min");
    assert_eq!(short_duration(3_600_001), "2 h");
    assert_eq!(short_duration(-5), "0 s");
}

#[test]
fn times_and_numbers() {
    assert_eq!(clock_time(754_200), "12:34");
    assert_eq!(clock_time(3_723_000), "1:02:03");
    assert_eq!(episode_code(Some(1), Some(3)), "S01E03");
    assert_eq!(episode_code(None, Some(12)), "E12");
    assert_eq!(
        resume_text(754_000, false).as_deref(),
        Some("Resume from 12:34")
    );
    assert_eq!(resume_text(754_000, true), None);
    assert_eq!(resume_text(0, false), None);
    assert_eq!(progress_fraction(30, Some(60), false), 0.5);
    assert_eq!(progress_fraction(30, None, false), 0.0);
    assert_eq!(progress_fraction(0, Some(60), true), 1.0);
}

#[test]
fn status_button_priorities() {
    let label = |c: &Counts, a| status_view(c, a).label;
    let mut c = Counts::default();
    assert_eq!(label(&c, AccountState::Online), "Up to date");
    c.pending = 2;
    c.failed = 1;
    assert_eq!(label(&c, AccountState::Online), "Syncing 3");
    assert_eq!(label(&c, AccountState::Offline), "Offline");
    c.needs_attention = 1;
    assert_eq!(label(&c, AccountState::Online), "1 needs attention");
    // The account's state is never hidden by changes needing attention.
    assert_eq!(
        label(&c, AccountState::Offline),
        "Offline · 1 needs attention"
    );
    assert_eq!(
        label(&c, AccountState::SignInNeeded),
        "Sign in needed · 1 needs attention"
    );
    assert_eq!(
        label(&c, AccountState::ServerChanged),
        "Server changed · 1 needs attention"
    );
}

#[test]
fn button_header_and_list_heading_count_the_same_changes() {
    let c = Counts {
        pending: 1,
        in_flight: 1,
        failed: 1,
        needs_attention: 2,
    };
    let v = status_view(&c, AccountState::Online);
    assert_eq!(v.queued, "3 changes waiting to be sent");
    assert_eq!(v.label, "2 need attention");
    assert_eq!(
        v.attention_heading.as_deref(),
        Some("2 changes need attention")
    );
    assert_eq!(v.tooltip, "3 changes waiting to be sent — 2 need attention");
    assert_eq!(v.account_line, None);
    let v = status_view(&Counts::default(), AccountState::Online);
    assert_eq!(v.queued, "Nothing waiting to be sent");
    assert_eq!(v.attention_heading, None);
    let only_attention = Counts {
        needs_attention: 2,
        ..Counts::default()
    };
    let v = status_view(&only_attention, AccountState::Online);
    assert_eq!(v.queued, "Nothing else waiting to be sent");
    assert_eq!(
        v.attention_heading.as_deref(),
        Some("2 changes need attention")
    );
    let v = status_view(&c, AccountState::Offline);
    assert!(v.account_line.unwrap().starts_with("Offline"));
}

#[test]
fn held_rows_are_not_waiting_to_be_sent() {
    let held = Counts {
        pending: 7,
        ..Counts::default()
    };
    let v = status_view_held(&held, AccountState::Online, 7);
    assert_eq!(v.label, "7 held for Undo");
    assert_eq!(v.queued, "7 changes are held while their Undo is offered");
    assert_eq!(v.tooltip, v.queued);
    // One more change, not held: that one is waiting.
    let more = Counts {
        pending: 8,
        ..Counts::default()
    };
    let v = status_view_held(&more, AccountState::Online, 7);
    assert_eq!(v.label, "Syncing 1");
    assert_eq!(v.queued, "1 change waiting to be sent");
    // The hold ended before the counts came: never fewer than nothing.
    let v = status_view_held(&Counts::default(), AccountState::Online, 7);
    assert_eq!(v.label, "Up to date");
}

#[test]
fn attention_reasons_are_sentences_not_server_text() {
    let raw = "HTTP 404 Not Found: {\"error\":\"gone\"}";
    assert_eq!(
        attention_reason(Some(ErrorKind::NotFound), raw, "Demo"),
        "This item is no longer on Demo"
    );
    assert_eq!(
        attention_reason(Some(ErrorKind::Rejected), "HTTP 400 Bad Request", "Demo"),
        "Demo refused this change"
    );
    assert_eq!(
        attention_reason(None, crate::store::REMOVED_DETAIL, "Demo"),
        "This item is no longer on Demo"
    );
}

#[test]
fn store_trouble_is_one_sentence_never_the_raw_error() {
    assert_eq!(
        store_trouble(
            "Can't write to Playmark's database: disk full — changes saved before are kept"
        ),
        "Can't write to Playmark's database: disk full — changes saved before are kept"
    );
    assert_eq!(
        store_trouble("database error: database is locked"),
        "Can't write to Playmark's database: another program is holding it locked — changes saved before are kept"
    );
    let odd = store_trouble("database error: SQL logic error near \"x\"");
    assert!(!odd.contains("SQL"), "{odd}");
    assert!(odd.ends_with("changes saved before are kept"));
}

#[test]
fn a_retry_shows_the_clock_time_it_happens_at() {
    let now = 1_700_000_000_000;
    assert_eq!(retry_time(now + 500, now), "now");
    let at = retry_time(now + 40_000, now);
    assert_eq!(at.len(), 8, "{at}");
    assert_eq!(at.matches(':').count(), 2, "{at}");
    let b = badge_for(
        &ItemSyncState::Retrying {
            attempt: 5,
            next_attempt_at: now + 40_000,
        },
        now,
        "Demo",
    )
    .unwrap();
    assert_eq!(b.text, format!("retry at {at}"));
    // The same text a minute later: nothing on the row goes stale.
    let later = badge_for(
        &ItemSyncState::Retrying {
            attempt: 5,
            next_attempt_at: now + 40_000,
        },
        now + 20_000,
        "Demo",
    )
    .unwrap();
    assert_eq!(later.text, b.text);
}

#[test]
fn a_burst_is_one_sentence_with_the_count() {
    let e = SyncError::new(ErrorKind::NotFound, "404");
    let (title, action) = failure_toast(&e, "Demo", 12, 12);
    assert_eq!(
        title,
        "12 changes couldn't be saved: their items are no longer on Demo"
    );
    let (title, _) = failure_toast(&e, "Demo", 1, 1);
    assert_eq!(
        title,
        "1 change couldn't be saved: its item is no longer on Demo"
    );
    let refused = SyncError::rejected("HTTP 400");
    let (title, _) = failure_toast(&refused, "Demo", 2, 2);
    assert_eq!(title, "2 changes couldn't be saved: Demo refused them");
    let (title, _) = failure_toast(&refused, "Demo", 1, 1);
    assert_eq!(title, "1 change couldn't be saved: Demo refused it");
    assert_eq!(action, Action::Discard);
    let (title, action) = failure_toast(&SyncError::offline("refused"), "Demo", 3, 3);
    assert_eq!(
        title,
        "Demo can't be reached — 3 changes will be sent when it's back"
    );
    assert_eq!(action, Action::Retry);
}
