//! The Undo toast of a bulk change (GNOME's pattern: an `AdwToast` whose button says
//! "Undo"). The change is recorded at once and held, not sent, while the toast is up (see
//! `store::hold`); the toast going away ends the hold, its button takes the change back.
//!
//! libadwaita 1.2 queues toasts: a toast of normal priority may wait behind others while its
//! hold runs out. The Undo toast has high priority, so it is shown at once, and a newer one
//! replaces it (its change is then sent). Its timeout is shorter than the hold, which caps
//! everything at `store::UNDO_HOLD_MS` even if the app is killed.

use relm4::adw;

use super::i18n::{gettext, ntr, tr};

/// Seconds the Undo toast stays (well inside the hold of `store::UNDO_HOLD_MS`).
pub const UNDO_TOAST_SECONDS: u32 = 10;

/// The toast's title: what the bulk action did to `name` (a series, or "Series — Season 1";
/// server text, shown as plain text).
pub fn title(name: &str, count: usize, played: bool) -> String {
    let args = [("name", name)];
    if played {
        ntr(
            "“{name}”: {count} episode marked as watched",
            "“{name}”: {count} episodes marked as watched",
            count,
            &args,
        )
    } else {
        ntr(
            "“{name}”: {count} episode marked as not watched",
            "“{name}”: {count} episodes marked as not watched",
            count,
            &args,
        )
    }
}

/// What a season is called in the toast: "Series — Season 1" (the season page's title).
pub fn season_name(series: &str, season: &str) -> String {
    tr(
        "{series} — {season}",
        &[("series", series), ("season", season)],
    )
}

/// A new Undo toast (not yet shown): high priority, "Undo" button.
pub fn new(name: &str, count: usize, played: bool) -> adw::Toast {
    // Plain text in the toast's own label (`ui::toast`): the name is server text.
    let toast = super::toast::new(&title(name, count, played));
    toast.set_priority(adw::ToastPriority::High);
    toast.set_timeout(UNDO_TOAST_SECONDS);
    toast.set_button_label(Some(&gettext("Undo")));
    toast
}

/// The Undo toast of "Use mine for all": the person's values of `count` items go out after
/// all (an Undo puts the override notices back).
pub fn use_mine(count: usize) -> adw::Toast {
    let text = ntr(
        "Your progress will be sent for {count} episode",
        "Your progress will be sent for {count} episodes",
        count,
        &[],
    );
    let toast = super::toast::new(&text);
    toast.set_priority(adw::ToastPriority::High);
    toast.set_timeout(UNDO_TOAST_SECONDS);
    toast.set_button_label(Some(&gettext("Undo")));
    toast
}

/// What the person reads when Undo came too late.
pub fn too_late() -> String {
    gettext("Too late to undo: these changes were sent or are being sent")
}
