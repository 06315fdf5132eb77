//! The Mirror page of Preferences (issue 21; README "Mirror in the app"): the mirror groups
//! (members and policy), each group's status — the figures of `playmark mirror status` — its
//! health list (what is not mirrored and why, in words) and "Run now", which asks the worker
//! for a pass ([`MirrorRequest::RunNow`]) and shows it running, then its result. "Add Group…"
//! makes a group of two or more signed-in accounts with a policy ([`MirrorRequest::AddGroup`],
//! the same checks as `playmark mirror add`); a group's Remove asks first (a confirmation
//! dialog: its agreed states cannot be brought back) and then forgets it
//! ([`MirrorRequest::RemoveGroup`]). A group whose titles differ with no agreed state yet says
//! so and offers the first-pass choices in words ([`MirrorRequest::FirstPass`]); nothing
//! differing is written before the person picks. Each member account shows whether it is
//! online, offline or needs a sign-in, as its engine says it ([`MirrorReport::MemberState`]).
//!
//! The page never touches the database or a server: everything comes from the
//! [`SyncQueue`](super::worker::SyncQueue) worker as [`MirrorReport`]s. Server text
//! (server, user and item names, errors) is shown in plain labels or rows with markup off.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use relm4::adw;
use relm4::adw::prelude::*;
use relm4::gtk;

use super::i18n::{gettext, ntr, tr};
use super::worker::mirror::{
    MirrorGroupView, MirrorHealth, MirrorHealthKind, MirrorMember, MirrorReport, MirrorRequest,
    MirrorRunSummary,
};
use crate::mirror::fold::{FirstPass, MirrorPolicy};
use crate::model::{AccountId, ServerKind};
use crate::sync::AccountState;

use super::mirror_choices::{confirm_remove, first_pass_rows, open_add_dialog, Picked, Request};

/// The page and what it shows (public so tests can read and click it).
pub struct MirrorPage {
    /// The page (added to the Preferences window).
    pub page: adw::PreferencesPage,
    /// "Run now".
    pub run_now: gtk::Button,
    /// Turns while a pass runs.
    pub spinner: gtk::Spinner,
    /// What the last pass run from here did, in words.
    pub result: gtk::Label,
    /// "Add Group…".
    pub add_group: gtk::Button,
    /// The groups' status as last sent (`None`: not yet).
    groups: Option<Vec<MirrorGroupView>>,
    /// Every signed-in account, as last sent (read by "Add Group…").
    accounts: Rc<RefCell<Vec<MirrorMember>>>,
    /// The members' states as their engines said them since the last status.
    live: HashMap<AccountId, AccountState>,
    /// The groups' widgets, replaced at each status.
    shown: Vec<adw::PreferencesGroup>,
    /// Each member row's state label, by account.
    state_labels: Vec<(AccountId, gtk::Label)>,
    running: bool,
    request: Request,
    /// First-pass choices picked and not applied yet.
    picked: Picked,
}

impl std::fmt::Debug for MirrorPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorPage")
            .field("groups", &self.groups)
            .field("running", &self.running)
            .finish()
    }
}

/// A label for server text (never markup), wrapping, left-aligned.
fn plain(text: &str) -> gtk::Label {
    let label = gtk::Label::new(Some(text));
    label.set_use_markup(false);
    label.set_wrap(true);
    label.set_wrap_mode(gtk::pango::WrapMode::WordChar);
    label.set_xalign(0.0);
    label.set_selectable(true);
    label
}

/// A list row holding `labels` one under the other (the first as the heading).
fn text_row(labels: &[gtk::Label]) -> gtk::ListBoxRow {
    let boxed = gtk::Box::new(gtk::Orientation::Vertical, 2);
    boxed.set_margin_top(8);
    boxed.set_margin_bottom(8);
    boxed.set_margin_start(12);
    boxed.set_margin_end(12);
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            l.add_css_class("dim-label");
        }
        boxed.append(l);
    }
    let row = gtk::ListBoxRow::new();
    row.set_activatable(false);
    row.set_child(Some(&boxed));
    row
}

/// An action row whose title and subtitle are shown as written (server text).
pub(super) fn plain_row(title: &str, subtitle: &str) -> adw::ActionRow {
    let row = adw::ActionRow::new();
    row.set_use_markup(false);
    row.set_title(title);
    row.set_subtitle(subtitle);
    row
}

pub(super) fn kind_name(kind: ServerKind) -> &'static str {
    match kind {
        ServerKind::Plex => "Plex",
        ServerKind::Jellyfin => "Jellyfin",
        ServerKind::Demo => "Demo",
    }
}

/// The group's policy and first-pass mode, in words.
pub fn policy_words(policy: &str, first_pass: &str) -> String {
    let policy = match MirrorPolicy::parse(policy) {
        Some(MirrorPolicy::FurthestProgress) => gettext("the furthest progress wins"),
        Some(MirrorPolicy::LastWriterWins) => gettext("the later change wins"),
        Some(MirrorPolicy::Prefer(a)) => tr(
            "account {account}'s change wins",
            &[("account", &a.to_string())],
        ),
        None => policy.to_string(),
    };
    let first = match FirstPass::parse(first_pass) {
        Some(FirstPass::AgreeOnly) => gettext("where the servers already agree"),
        Some(FirstPass::Furthest) => gettext("carrying only what is further"),
        Some(FirstPass::From(a)) => tr(
            "taking account {account}'s state",
            &[("account", &a.to_string())],
        ),
        None => first_pass.to_string(),
    };
    tr(
        "When both sides changed, {policy}. New titles start {first}.",
        &[("policy", &policy), ("first", &first)],
    )
}

/// What a health entry is, in words.
pub fn health_kind(kind: MirrorHealthKind) -> String {
    match kind {
        MirrorHealthKind::Unmatched => gettext("Unmatched"),
        MirrorHealthKind::Ambiguous => gettext("Ambiguous"),
        MirrorHealthKind::FirstPass => gettext("Waiting for a first-pass choice"),
    }
}

/// Why an entry is not mirrored, in words (the pass's own text, with the ids, is the row's
/// tooltip).
pub fn health_reason(h: &MirrorHealth) -> String {
    let r = h.reason.as_str();
    match h.kind {
        MirrorHealthKind::Unmatched if r.contains("no provider ids") => {
            gettext("It has no IMDb, TMDB or TVDB id to match it by, so it is not mirrored (titles are never compared).")
        }
        MirrorHealthKind::Unmatched => {
            gettext("No item with the same ids is on the other servers, so it is not mirrored.")
        }
        MirrorHealthKind::Ambiguous if r.contains("same ids") => gettext(
            "Two or more items on one server carry the same ids: none of them is written.",
        ),
        MirrorHealthKind::Ambiguous if r.contains("series ids disagree") => {
            gettext("The series' ids disagree between the servers: nothing is written.")
        }
        MirrorHealthKind::Ambiguous if r.contains("ids disagree") => {
            gettext("Their ids point to different titles: nothing is written.")
        }
        MirrorHealthKind::Ambiguous if r.contains("numbers differ") => gettext(
            "Matched by the series' ids, but the season or episode numbers differ (TVDB and TMDB number seasons differently, e.g. for anime): nothing is written.",
        ),
        MirrorHealthKind::Ambiguous if r.contains("one id names") => {
            gettext("One id names items of different kinds: nothing is written.")
        }
        MirrorHealthKind::Ambiguous => gettext("It matches more than one item: nothing is written."),
        MirrorHealthKind::FirstPass if r.contains("waits for") => gettext(
            "The first pass waits for a server that was not read: nothing is written yet.",
        ),
        MirrorHealthKind::FirstPass => gettext(
            "The servers differ and nothing was agreed yet: nothing is written until you choose how to start, above.",
        ),
    }
}

/// An account's state in a word or two (the member row's suffix).
pub fn state_word(state: AccountState) -> String {
    match state {
        AccountState::Online => gettext("Online"),
        AccountState::Offline => gettext("Offline"),
        AccountState::SignInNeeded => gettext("Sign-in needed"),
        AccountState::ServerChanged => gettext("Server changed"),
    }
}

/// What an account's state means for mirroring (the state's tooltip).
pub fn state_meaning(state: AccountState) -> String {
    match state {
        AccountState::Online => gettext("Its server answers: changes cross as they come."),
        AccountState::Offline => gettext(
            "Its server does not answer: changes for it wait in its queue and go out when it is back.",
        ),
        AccountState::SignInNeeded => gettext(
            "The server refused the sign-in: nothing is sent to it until you sign in to this account again (`playmark login`).",
        ),
        AccountState::ServerChanged => gettext(
            "Another server answers at this account's address: nothing is sent to it until you sign in again.",
        ),
    }
}

/// The group's figures, as `playmark mirror status` gives them.
pub fn figures(g: &MirrorGroupView) -> String {
    if g.last_run_at.is_none() {
        return gettext("Not run yet.");
    }
    tr(
        "Matched: {matched} · Unmatched: {unmatched} · Ambiguous: {ambiguous} · Waiting: {waiting} · Pending: {pending}",
        &[
            ("matched", &g.matched.to_string()),
            ("unmatched", &g.unmatched.to_string()),
            ("ambiguous", &g.ambiguous.to_string()),
            ("waiting", &g.waiting.to_string()),
            ("pending", &g.pending.to_string()),
        ],
    )
}

/// What a pass did, in words.
pub fn summary_words(s: &MirrorRunSummary) -> String {
    if let Some(reason) = &s.failed {
        return tr("The pass failed: {reason}", &[("reason", reason)]);
    }
    if s.groups == 0 {
        return gettext("No mirror group to run.");
    }
    let mut words = if s.writes == 0 {
        gettext("Done: nothing to write.")
    } else if s.undelivered == 0 {
        ntr(
            "Done: {count} change written and delivered.",
            "Done: {count} changes written and delivered.",
            s.writes,
            &[("count", &s.writes.to_string())],
        )
    } else {
        ntr(
            "Done: {count} change queued; {left} still waiting to be sent (it goes out when the server answers).",
            "Done: {count} changes queued; {left} still waiting to be sent (they go out when the server answers).",
            s.writes,
            &[
                ("count", &s.writes.to_string()),
                ("left", &s.undelivered.to_string()),
            ],
        )
    };
    if s.errors > 0 {
        words.push(' ');
        words.push_str(&ntr(
            "{count} error: see the group below.",
            "{count} errors: see the group below.",
            s.errors,
            &[("count", &s.errors.to_string())],
        ));
    }
    words
}

fn last_run_words(at: Option<crate::model::Millis>) -> String {
    match at.and_then(chrono::DateTime::from_timestamp_millis) {
        Some(t) => tr(
            "Last run at {time}",
            &[(
                "time",
                &t.with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
            )],
        ),
        None => gettext("Not run yet."),
    }
}

impl MirrorPage {
    /// The page; `request` sends the page's requests to the worker (Run now, groups made and
    /// removed, first-pass choices).
    pub fn new(request: impl Fn(MirrorRequest) + 'static) -> MirrorPage {
        let request: Request = Rc::new(request);
        let page = adw::PreferencesPage::new();
        page.set_title(&gettext("Mirror"));
        page.set_icon_name(Some("emblem-synchronizing-symbolic"));
        let intro = adw::PreferencesGroup::new();
        intro.set_title(&gettext("Mirror"));
        intro.set_description(Some(&gettext(
            "Keeps your watched state and resume points in step between your accounts on several servers (Plex and Jellyfin), both ways, through each account's queue.",
        )));
        let add_group = gtk::Button::with_label(&gettext("Add Group…"));
        add_group.set_widget_name("mirror-add-group");
        add_group.set_valign(gtk::Align::Center);
        add_group.set_sensitive(false);
        let add_row = adw::ActionRow::new();
        add_row.set_title(&gettext("New group"));
        add_row.set_subtitle(&gettext(
            "Two or more of your signed-in accounts, any mix of Jellyfin and Plex (`playmark login` signs in more).",
        ));
        add_row.add_suffix(&add_group);
        intro.add(&add_row);
        let run_now = gtk::Button::with_label(&gettext("Run Now"));
        run_now.set_widget_name("mirror-run-now");
        run_now.set_valign(gtk::Align::Center);
        run_now.set_sensitive(false);
        let spinner = gtk::Spinner::new();
        spinner.set_visible(false);
        let row = adw::ActionRow::new();
        row.set_title(&gettext("Mirror now"));
        row.set_subtitle(&gettext(
            "Reads every member server and sends what differs. It also runs at start and at every library check.",
        ));
        row.add_suffix(&spinner);
        row.add_suffix(&run_now);
        intro.add(&row);
        let result = plain("");
        result.set_visible(false);
        result.set_margin_top(6);
        intro.add(&result);
        {
            let request = request.clone();
            run_now.connect_clicked(move |_| request(MirrorRequest::RunNow));
        }
        let accounts = Rc::new(RefCell::new(Vec::new()));
        {
            let (request, page, accounts) = (request.clone(), page.clone(), accounts.clone());
            add_group.connect_clicked(move |_| {
                open_add_dialog(&page, &accounts.borrow(), request.clone());
            });
        }
        page.add(&intro);
        MirrorPage {
            page,
            run_now,
            spinner,
            result,
            add_group,
            groups: None,
            accounts,
            live: HashMap::new(),
            shown: Vec::new(),
            state_labels: Vec::new(),
            running: false,
            request,
            picked: Picked::default(),
        }
    }

    /// The groups' status as last shown (`None`: not sent yet).
    pub fn groups(&self) -> Option<&[MirrorGroupView]> {
        self.groups.as_deref()
    }

    /// A pass runs now (as far as the page was told).
    pub fn running(&self) -> bool {
        self.running
    }

    /// The state shown for member `account` (its engine's latest word, else the status's).
    pub fn member_state(&self, account: AccountId) -> Option<AccountState> {
        self.live.get(&account).copied().or_else(|| {
            self.groups
                .iter()
                .flatten()
                .flat_map(|g| &g.members)
                .find(|m| m.account == account)
                .map(|m| m.state)
        })
    }

    /// What the worker said.
    pub fn show(&mut self, report: MirrorReport) {
        match report {
            MirrorReport::Started => self.set_running(true),
            MirrorReport::Finished { summary } => {
                self.set_running(false);
                self.result.set_text(&summary_words(&summary));
                self.result.set_visible(true);
            }
            MirrorReport::Status {
                groups,
                running,
                accounts,
            } => {
                self.add_group.set_sensitive(accounts.len() >= 2);
                *self.accounts.borrow_mut() = accounts;
                self.set_running(running);
                self.show_groups(&groups);
                self.groups = Some(groups);
            }
            MirrorReport::MemberState { account, state } => {
                self.live.insert(account, state);
                for (_, label) in self.state_labels.iter().filter(|(a, _)| *a == account) {
                    show_state(label, state);
                }
            }
            MirrorReport::GroupNotChanged { reason } => {
                self.result.set_text(&tr(
                    "The group was not changed: {reason}",
                    &[("reason", &reason)],
                ));
                self.result.set_visible(true);
            }
        }
    }

    fn set_running(&mut self, running: bool) {
        self.running = running;
        self.spinner.set_visible(running);
        self.spinner.set_spinning(running);
        let any = self.groups.as_ref().is_some_and(|g| !g.is_empty());
        self.run_now.set_sensitive(!running && any);
        if running {
            self.result.set_text(&gettext("Mirroring…"));
            self.result.set_visible(true);
        }
    }

    fn show_groups(&mut self, groups: &[MirrorGroupView]) {
        for g in self.shown.drain(..) {
            self.page.remove(&g);
        }
        self.state_labels.clear();
        self.run_now
            .set_sensitive(!self.running && !groups.is_empty());
        if groups.is_empty() {
            let none = adw::PreferencesGroup::new();
            none.set_description(Some(&if self.accounts.borrow().len() >= 2 {
                gettext("No mirror group yet: “Add Group…” makes one.")
            } else {
                gettext(
                    "No mirror group yet. Sign in to each server (`playmark login` signs in more accounts), then make one with “Add Group…”.",
                )
            }));
            self.page.add(&none);
            self.shown.push(none);
            return;
        }
        for g in groups {
            let group = self.group_widget(g);
            self.page.add(&group);
            self.shown.push(group);
        }
    }
}

impl MirrorPage {
    /// One group: members (with their state), policy, figures, the first-pass choice when
    /// titles wait for it, errors, what was not kept and the health list.
    fn group_widget(&mut self, g: &MirrorGroupView) -> adw::PreferencesGroup {
        let group = adw::PreferencesGroup::new();
        group.set_title(&tr("Group {id}", &[("id", &g.id.to_string())]));
        group.set_description(Some(&policy_words(&g.policy, &g.first_pass)));
        let remove = gtk::Button::with_label(&gettext("Remove…"));
        remove.set_widget_name(&format!("mirror-remove-{}", g.id));
        remove.set_valign(gtk::Align::Center);
        remove.add_css_class("destructive-action");
        remove.set_tooltip_text(Some(&tr("Remove group {id}", &[("id", &g.id.to_string())])));
        {
            let (request, page, id) = (self.request.clone(), self.page.clone(), g.id);
            let names = g
                .members
                .iter()
                .map(|m| m.server.clone())
                .collect::<Vec<_>>()
                .join(", ");
            remove.connect_clicked(move |_| confirm_remove(&page, id, &names, request.clone()));
        }
        group.set_header_suffix(Some(&remove));
        for m in &g.members {
            let row = plain_row(&m.server, &member_subtitle(m));
            let state = gtk::Label::new(None);
            state.set_widget_name(&format!("mirror-member-state-{}", m.account));
            state.set_valign(gtk::Align::Center);
            show_state(
                &state,
                self.live.get(&m.account).copied().unwrap_or(m.state),
            );
            row.add_suffix(&state);
            self.state_labels.push((m.account, state));
            group.add(&row);
        }
        let status = plain_row(&last_run_words(g.last_run_at), &figures(g));
        status.set_widget_name("mirror-figures");
        if g.queued > 0 {
            status.add_suffix(&plain(&tr(
                "{count} queued",
                &[("count", &g.queued.to_string())],
            )));
        }
        group.add(&status);
        if g.waiting > 0 {
            first_pass_rows(&group, g, self.request.clone(), self.picked.clone());
        }
        add_status_rows(&group, g);
        group
    }
}

pub(super) fn member_subtitle(m: &MirrorMember) -> String {
    format!(
        "{} · {} · {}",
        m.user,
        kind_name(m.kind),
        tr("account {id}", &[("id", &m.account.to_string())])
    )
}

/// A member's state on its label: the word, a colour, and what it means as the tooltip.
fn show_state(label: &gtk::Label, state: AccountState) {
    label.set_text(&state_word(state));
    label.set_tooltip_text(Some(&state_meaning(state)));
    for class in ["success", "warning", "error"] {
        label.remove_css_class(class);
    }
    label.add_css_class(match state {
        AccountState::Online => "success",
        AccountState::Offline => "warning",
        AccountState::SignInNeeded | AccountState::ServerChanged => "error",
    });
}

/// Errors, what was not kept and the health list of a group.
fn add_status_rows(group: &adw::PreferencesGroup, g: &MirrorGroupView) {
    if !g.errors.is_empty() {
        let errors = adw::ExpanderRow::new();
        errors.set_title(&tr(
            "Errors in the last pass: {count}",
            &[("count", &g.errors.len().to_string())],
        ));
        errors.set_expanded(true);
        for e in &g.errors {
            errors.add_row(&text_row(&[plain(e)]));
        }
        group.add(&errors);
    }
    if !g.not_kept.is_empty() {
        let kept = adw::ExpanderRow::new();
        kept.set_title(&gettext("Not kept (both sides changed)"));
        for n in &g.not_kept {
            kept.add_row(&text_row(&[plain(n)]));
        }
        group.add(&kept);
    }
    let health = adw::ExpanderRow::new();
    health.set_widget_name("mirror-health");
    health.set_title(&tr(
        "Not mirrored: {count}",
        &[("count", &g.health.len().to_string())],
    ));
    health.set_subtitle(&gettext(
        "Items on one side only, items that match more than one, and titles waiting for a first-pass choice.",
    ));
    health.set_enable_expansion(!g.health.is_empty());
    health.set_expanded(!g.health.is_empty() && g.health.len() <= 20);
    for h in &g.health {
        let items = h
            .items
            .iter()
            .map(|(server, label)| format!("{server}: {label}"))
            .collect::<Vec<_>>()
            .join("\n");
        let row = text_row(&[
            plain(&health_kind(h.kind)),
            plain(&items),
            plain(&health_reason(h)),
        ]);
        row.set_tooltip_text(Some(&h.reason));
        health.add_row(&row);
    }
    group.add(&health);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mirror::matching::{match_items, Candidate, HealthKind};
    use crate::model::{AccountId, ItemKind, ProviderId};

    fn item(account: AccountId, id: &str, kind: ItemKind, own: &[&str]) -> Candidate {
        Candidate {
            account,
            item_id: id.into(),
            kind,
            label: id.into(),
            ids: own.iter().filter_map(|s| ProviderId::parse(s)).collect(),
            series_ids: Vec::new(),
            season: None,
            episode: None,
        }
    }

    fn episode(account: AccountId, id: &str, own: &[&str], series: &[&str], s: i64) -> Candidate {
        Candidate {
            series_ids: series.iter().filter_map(|s| ProviderId::parse(s)).collect(),
            season: Some(s),
            episode: Some(2),
            ..item(account, id, ItemKind::Episode, own)
        }
    }

    /// The page's words for the first health entry matching makes of `candidates`.
    fn words(candidates: &[Candidate]) -> String {
        let m = match_items(candidates);
        assert!(m.titles.is_empty() && !m.health.is_empty(), "{m:?}");
        let h = &m.health[0];
        health_reason(&MirrorHealth {
            kind: match h.kind {
                HealthKind::Unmatched => MirrorHealthKind::Unmatched,
                HealthKind::Ambiguous => MirrorHealthKind::Ambiguous,
            },
            reason: h.reason.clone(),
            items: Vec::new(),
        })
    }

    /// Every reason the matching gives has its own sentence (none falls to the generic one):
    /// the page follows the core's wording.
    #[test]
    fn every_matching_reason_has_its_own_words() {
        let generic_ambiguous = gettext("It matches more than one item: nothing is written.");
        let said = [
            words(&[item(1, "a", ItemKind::Movie, &[])]),
            words(&[
                item(1, "a", ItemKind::Movie, &["tmdb:1"]),
                item(2, "b", ItemKind::Movie, &["tmdb:2"]),
            ]),
            words(&[
                item(1, "a", ItemKind::Movie, &["tmdb:65"]),
                item(2, "b", ItemKind::Movie, &["tmdb:65"]),
                item(2, "c", ItemKind::Movie, &["tmdb:65"]),
            ]),
            words(&[
                item(1, "a", ItemKind::Movie, &["tmdb:65", "imdb:tt1"]),
                item(2, "b", ItemKind::Movie, &["tmdb:65", "imdb:tt2"]),
            ]),
            words(&[
                item(1, "a", ItemKind::Movie, &["tmdb:65"]),
                item(2, "b", ItemKind::Episode, &["tmdb:65"]),
            ]),
            words(&[
                episode(1, "a", &[], &["tvdb:100", "imdb:tt5"], 1),
                episode(2, "b", &[], &["tvdb:100", "imdb:tt6"], 1),
            ]),
            words(&[
                episode(1, "a", &["tvdb:1"], &["tvdb:100"], 1),
                episode(2, "b", &[], &["tvdb:100"], 1),
                episode(3, "c", &["tvdb:1"], &["tvdb:100"], 2),
            ]),
        ];
        let distinct: std::collections::BTreeSet<&String> = said.iter().collect();
        assert_eq!(distinct.len(), said.len(), "{said:#?}");
        assert!(!said.contains(&generic_ambiguous), "{said:#?}");
        assert!(said[6].contains("anime"), "{}", said[6]);
        let waiting = |reason: &str| {
            health_reason(&MirrorHealth {
                kind: MirrorHealthKind::FirstPass,
                reason: reason.into(),
                items: Vec::new(),
            })
        };
        assert_ne!(
            waiting("first pass waits for Plex (not read in this pass)"),
            waiting("first pass: the servers differ (Plex watched, Jellyfin not watched)")
        );
    }
}
