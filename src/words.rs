//! Counted words without gettext, for the command line (built without GTK and gettext-rs):
//! the singular or the plural form is chosen as `ngettext` chooses it for untranslated English
//! text (one → singular, anything else → plural), so no sentence says "change(s)".
//! The CLI's sentences are English only; the app counts through `ngettext` (`ui::i18n::ntr`).

/// `singular` when `n` is 1, else `plural`, with `{count}` filled with `n` and each other
/// `{name}` from `args` (see [`crate::backend::error::fill`]).
pub fn nfill(singular: &str, plural: &str, n: usize, args: &[(&str, &str)]) -> String {
    let count = n.to_string();
    let mut all: Vec<(&str, &str)> = vec![("count", &count)];
    all.extend_from_slice(args);
    crate::backend::error::fill(if n == 1 { singular } else { plural }, &all)
}

/// "1 change", "2 changes", "0 changes": `n` and the noun in its form for `n`.
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// The verb that goes with a count: `one` for 1 ("needs"), else `many` ("need").
pub fn agree<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(count(1, "change", "changes"), "1 change");
        assert_eq!(count(0, "change", "changes"), "0 changes");
        assert_eq!(count(2, "change", "changes"), "2 changes");
        assert_eq!(
            nfill(
                "{count} change queued on {server}",
                "{count} changes queued on {server}",
                3,
                &[("server", "Den")]
            ),
            "3 changes queued on Den"
        );
        assert_eq!(agree(1, "needs", "need"), "needs");
        assert_eq!(agree(21, "needs", "need"), "need");
    }
}
