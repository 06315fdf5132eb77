//! Toasts whose words fit the window (issue 20 item 8): libadwaita 1.2's toast title is one
//! line, ellipsized, so in a narrow window (the app's minimum is about 613 px) a toast lost its
//! end ("“The Lighthouse Keepers — Season 2”: 12 episodes marked as no…"). Every toast of the
//! app carries its words in a label of its own (`AdwToast:custom-title`, libadwaita 1.2) that
//! wraps instead. The label holds plain text: server text in it is never markup.

use relm4::adw;
use relm4::gtk;
use relm4::gtk::prelude::*;

/// A toast saying `text` (plain text), its words wrapped to the window's width.
pub fn new(text: &str) -> adw::Toast {
    let toast = adw::Toast::new("");
    set_text(&toast, text);
    toast
}

/// Let `toast` say `text` instead (plain text).
pub fn set_text(toast: &adw::Toast, text: &str) {
    let label = match toast
        .custom_title()
        .and_then(|w| w.downcast::<gtk::Label>().ok())
    {
        Some(label) => label,
        None => {
            let label = gtk::Label::new(None);
            label.set_wrap(true);
            label.set_wrap_mode(gtk::pango::WrapMode::WordChar);
            // Never wider than about 50 characters: a long toast takes lines, not the window.
            label.set_max_width_chars(50);
            label.set_xalign(0.0);
            label.set_widget_name("toast-text");
            toast.set_custom_title(Some(&label));
            label
        }
    };
    label.set_text(text);
    // The toast is as tall as its tallest part and lays its label out for that height: a
    // wrapping label alone would take the least width that fits two lines and wrap even a
    // short text. So it is at least this many characters wide (or the whole text), which
    // still fits the app's narrowest window with the toast's buttons.
    let chars = i32::try_from(text.chars().count()).unwrap_or(i32::MAX);
    label.set_width_chars(chars.min(MIN_CHARS));
}

/// The least width of a toast's words, in characters (see [`set_text`]).
const MIN_CHARS: i32 = 36;

/// What `toast` says (plain text), for tests and the log.
pub fn text(toast: &adw::Toast) -> Option<String> {
    toast
        .custom_title()
        .and_then(|w| w.downcast::<gtk::Label>().ok())
        .map(|l| l.text().to_string())
        .or_else(|| toast.title().map(|t| t.to_string()))
}
