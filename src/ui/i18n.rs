//! gettext set-up and the two helpers every visible string goes through.
//!
//! GTK's own initialisation calls `setlocale(LC_ALL, "")`, so no unsafe code is needed here:
//! we only bind the text domain to the directory holding the compiled catalogues.

use std::path::PathBuf;

pub use gettextrs::{gettext, ngettext};

/// The gettext domain of the app.
pub const DOMAIN: &str = "playmark";

/// Where the compiled catalogues (`<lang>/LC_MESSAGES/playmark.mo`) are: `PLAYMARK_LOCALEDIR`
/// if set; else, for an installed binary (`meson install`: `<prefix>/bin/playmark`),
/// `<prefix>/share/locale` when it holds Playmark's catalogues; else the ones build.rs compiled
/// from `po/` into cargo's build directory (`cargo run`).
pub fn locale_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PLAYMARK_LOCALEDIR") {
        return PathBuf::from(dir);
    }
    let installed = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("share").join("locale")));
    match installed {
        Some(dir) if has_catalogue(&dir) => dir,
        _ => PathBuf::from(concat!(env!("OUT_DIR"), "/locale")),
    }
}

/// Does `dir` hold a Playmark catalogue for some language?
fn has_catalogue(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|langs| {
        langs.flatten().any(|lang| {
            lang.path()
                .join("LC_MESSAGES")
                .join(format!("{DOMAIN}.mo"))
                .is_file()
        })
    })
}

/// Bind the text domain. Failures only mean untranslated (English) text, so they are logged.
pub fn init() {
    let dir = locale_dir();
    if let Err(e) = gettextrs::bindtextdomain(DOMAIN, &dir) {
        tracing::warn!(error = %e, "cannot bind the translations");
    }
    if let Err(e) = gettextrs::bind_textdomain_codeset(DOMAIN, "UTF-8") {
        tracing::warn!(error = %e, "cannot set the translation codeset");
    }
    if let Err(e) = gettextrs::textdomain(DOMAIN) {
        tracing::warn!(error = %e, "cannot select the text domain");
    }
}

/// gettext `msgid`, then fill its `{name}` placeholders (never `format!` on UI text).
pub fn tr(msgid: &str, args: &[(&str, &str)]) -> String {
    crate::backend::error::fill(&gettext(msgid), args)
}

/// ngettext, then fill `{name}` placeholders; `{count}` is filled with `n`.
pub fn ntr(singular: &str, plural: &str, n: usize, args: &[(&str, &str)]) -> String {
    let count = n.to_string();
    let mut all: Vec<(&str, &str)> = vec![("count", &count)];
    all.extend_from_slice(args);
    let n32 = u32::try_from(n).unwrap_or(u32::MAX);
    crate::backend::error::fill(&ngettext(singular, plural, n32), &all)
}
