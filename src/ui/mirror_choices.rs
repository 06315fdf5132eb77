//! The Mirror page's choices (issue 21; README "Mirror in the app"): the "Add Group…" dialog
//! (accounts and policy), the confirmation before a group is removed, and a group's
//! first-pass choice in words. Each ends in a [`MirrorRequest`] to the worker; none touches
//! the database or a server.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use relm4::adw;
use relm4::adw::prelude::*;
use relm4::gtk;

use super::i18n::{gettext, ntr, tr};
use super::mirror_page::{member_subtitle, plain_row};
use super::worker::mirror::{MirrorGroupView, MirrorMember, MirrorRequest};
use crate::mirror::fold::{FirstPass, MirrorPolicy};
use crate::model::AccountId;

/// Where the page's requests go (the worker).
pub(super) type Request = Rc<dyn Fn(MirrorRequest)>;

/// The first-pass choice picked per group and not applied yet (kept while the page's groups
/// are rebuilt by a new status).
pub(super) type Picked = Rc<RefCell<HashMap<i64, FirstPass>>>;

/// A first-pass choice in words: its title and what it will and will not do. `server` and
/// `user` name the account of `From`.
pub fn first_pass_words(choice: FirstPass, server: &str, user: &str) -> (String, String) {
    match choice {
        FirstPass::AgreeOnly => (
            gettext("Leave them as they are"),
            gettext("Nothing is written to any server. These titles stay unmirrored in the list below; titles the servers agree on are mirrored from now on."),
        ),
        FirstPass::Furthest => (
            gettext("Carry what is further"),
            gettext("A title watched on one server is marked watched on the others, and resume points move forward. Nothing is marked unwatched and no resume point moves back — but titles a server shows as watched by mistake (a fresh library scan can) are spread too."),
        ),
        FirstPass::From(_) => (
            tr("Make the others like {server}", &[("server", server)]),
            tr(
                "The other servers take the state of {user} on {server} for these titles, including marking titles unwatched and moving resume points back.",
                &[("server", server), ("user", user)],
            ),
        ),
    }
}

/// "Add Group…": a dialog to choose the accounts and the policy; its Add makes the group.
pub(super) fn open_add_dialog(
    page: &adw::PreferencesPage,
    accounts: &[MirrorMember],
    request: Request,
) {
    let dialog = adw::MessageDialog::new(
            page.root().and_downcast_ref::<gtk::Window>(),
            Some(&gettext("New Mirror Group")),
            Some(&gettext(
                "Choose two or more accounts to keep in step. Titles the servers disagree on are not written until you choose how to start.",
            )),
        );
    dialog.set_widget_name("mirror-add-dialog");
    dialog.add_responses(&[("cancel", &gettext("_Cancel")), ("add", &gettext("_Add"))]);
    dialog.set_response_appearance("add", adw::ResponseAppearance::Suggested);
    dialog.set_default_response(Some("cancel"));
    dialog.set_close_response("cancel");
    dialog.set_response_enabled("add", false);

    let content = gtk::Box::new(gtk::Orientation::Vertical, 12);
    let accounts_list = gtk::ListBox::new();
    accounts_list.add_css_class("boxed-list");
    accounts_list.set_selection_mode(gtk::SelectionMode::None);
    let policy_label = gtk::Label::new(Some(&gettext("When both servers changed a title")));
    policy_label.add_css_class("heading");
    policy_label.set_xalign(0.0);
    let policies = gtk::ListBox::new();
    policies.add_css_class("boxed-list");
    policies.set_selection_mode(gtk::SelectionMode::None);
    let radio = |name: &str, title: &str, subtitle: &str, group: Option<&gtk::CheckButton>| {
        let check = gtk::CheckButton::new();
        check.set_widget_name(name);
        check.set_group(group);
        check.set_valign(gtk::Align::Center);
        let row = plain_row(title, subtitle);
        row.add_prefix(&check);
        row.set_activatable_widget(Some(&check));
        (row, check)
    };
    let (furthest_row, furthest) = radio(
            "mirror-policy-furthest",
            &gettext("The furthest progress wins"),
            &gettext(
                "Watched beats a resume point, a later resume point beats an earlier one; a title marked unwatched or started again is respected. The usual choice.",
            ),
            None,
        );
    furthest.set_active(true);
    policies.append(&furthest_row);
    let (later_row, later) = radio(
        "mirror-policy-last-writer",
        &gettext("The later change wins"),
        &gettext("Whichever server changed the title last is kept."),
        Some(&furthest),
    );
    policies.append(&later_row);

    let mut members: Vec<(AccountId, gtk::CheckButton)> = Vec::new();
    let mut prefers: Vec<(AccountId, adw::ActionRow, gtk::CheckButton)> = Vec::new();
    for a in accounts {
        let check = gtk::CheckButton::new();
        check.set_widget_name(&format!("mirror-add-account-{}", a.account));
        check.set_valign(gtk::Align::Center);
        let row = plain_row(&a.server, &member_subtitle(a));
        row.add_prefix(&check);
        row.set_activatable_widget(Some(&check));
        accounts_list.append(&row);
        members.push((a.account, check));
        let (row, prefer) = radio(
            &format!("mirror-policy-prefer-{}", a.account),
            &tr("{server}'s change wins", &[("server", &a.server)]),
            &tr(
                "{user} on {server} (account {id}) decides every conflict.",
                &[
                    ("user", &a.user),
                    ("server", &a.server),
                    ("id", &a.account.to_string()),
                ],
            ),
            Some(&furthest),
        );
        row.set_sensitive(false);
        policies.append(&row);
        prefers.push((a.account, row, prefer));
    }
    content.append(&accounts_list);
    content.append(&policy_label);
    content.append(&policies);
    dialog.set_extra_child(Some(&content));

    let members = Rc::new(members);
    let prefers = Rc::new(prefers);
    // Add needs two accounts; an account's "wins" needs it in the group.
    for (_, check) in members.iter() {
        let (members, prefers, dialog, furthest) = (
            members.clone(),
            prefers.clone(),
            dialog.clone(),
            furthest.clone(),
        );
        check.connect_toggled(move |_| {
            let chosen: Vec<AccountId> = members
                .iter()
                .filter(|(_, c)| c.is_active())
                .map(|(a, _)| *a)
                .collect();
            dialog.set_response_enabled("add", chosen.len() >= 2);
            for (account, row, prefer) in prefers.iter() {
                let member = chosen.contains(account);
                row.set_sensitive(member);
                if !member && prefer.is_active() {
                    furthest.set_active(true);
                }
            }
        });
    }
    dialog.connect_response(None, move |dialog, response| {
        if response == "add" {
            let chosen: Vec<AccountId> = members
                .iter()
                .filter(|(_, c)| c.is_active())
                .map(|(a, _)| *a)
                .collect();
            let policy = if later.is_active() {
                MirrorPolicy::LastWriterWins
            } else {
                prefers
                    .iter()
                    .find(|(a, _, p)| p.is_active() && chosen.contains(a))
                    .map_or(MirrorPolicy::FurthestProgress, |(a, _, _)| {
                        MirrorPolicy::Prefer(*a)
                    })
            };
            if chosen.len() >= 2 {
                request(MirrorRequest::AddGroup {
                    members: chosen,
                    policy,
                });
            }
        }
        dialog.close();
    });
    dialog.present();
}

/// Removing a group forgets its agreed states and bases, which no Undo could bring back as
/// they were (a group made again starts with a first pass): so it is confirmed first.
pub(super) fn confirm_remove(page: &adw::PreferencesPage, id: i64, names: &str, request: Request) {
    let dialog = adw::MessageDialog::new(
        page.root().and_downcast_ref::<gtk::Window>(),
        Some(&tr("Remove Mirror Group {id}?", &[("id", &id.to_string())])),
        Some(&tr(
            "{servers} stop being mirrored. The servers keep what they hold now: nothing is written to them. Playmark forgets what they agreed on, so a group made again starts with a first pass.",
            &[("servers", names)],
        )),
    );
    dialog.set_widget_name("mirror-remove-dialog");
    dialog.add_responses(&[
        ("cancel", &gettext("_Cancel")),
        ("remove", &gettext("_Remove")),
    ]);
    dialog.set_response_appearance("remove", adw::ResponseAppearance::Destructive);
    dialog.set_default_response(Some("cancel"));
    dialog.set_close_response("cancel");
    dialog.connect_response(None, move |dialog, response| {
        if response == "remove" {
            request(MirrorRequest::RemoveGroup { id });
        }
        dialog.close();
    });
    dialog.present();
}

/// The first-pass choice of a group with titles that differ and have no agreed state: the
/// choices in words, none picked, and "Apply" (sensitive once one is).
pub(super) fn first_pass_rows(
    group: &adw::PreferencesGroup,
    g: &MirrorGroupView,
    request: Request,
    picked: Picked,
) {
    let expander = adw::ExpanderRow::new();
    expander.set_widget_name("mirror-first-pass");
    expander.set_title(&ntr(
        "{count} title differs and has no agreed state yet",
        "{count} titles differ and have no agreed state yet",
        usize::try_from(g.waiting).unwrap_or(usize::MAX),
        &[("count", &g.waiting.to_string())],
    ));
    expander.set_subtitle(&gettext(
        "Nothing is written to them until you choose how to start.",
    ));
    expander.set_expanded(true);
    let mut choices = vec![
        (
            FirstPass::AgreeOnly,
            "agree-only".to_string(),
            (String::new(), String::new()),
        ),
        (
            FirstPass::Furthest,
            "furthest".to_string(),
            (String::new(), String::new()),
        ),
    ];
    for m in &g.members {
        choices.push((
            FirstPass::From(m.account),
            format!("from-{}", m.account),
            (m.server.clone(), m.user.clone()),
        ));
    }
    let apply = gtk::Button::with_label(&gettext("Apply"));
    apply.set_widget_name("mirror-first-pass-apply");
    apply.set_valign(gtk::Align::Center);
    apply.add_css_class("suggested-action");
    apply.set_sensitive(false);
    let mut first: Option<gtk::CheckButton> = None;
    let mut checks = Vec::new();
    for (choice, name, (server, user)) in choices {
        let (title, subtitle) = first_pass_words(choice, &server, &user);
        let check = gtk::CheckButton::new();
        check.set_widget_name(&format!("mirror-first-pass-{name}"));
        check.set_valign(gtk::Align::Center);
        check.set_group(first.as_ref());
        let row = plain_row(&title, &subtitle);
        row.add_prefix(&check);
        row.set_activatable_widget(Some(&check));
        expander.add_row(&row);
        if picked.borrow().get(&g.id) == Some(&choice) {
            check.set_active(true);
            apply.set_sensitive(true);
        }
        let (apply, picked, id) = (apply.clone(), picked.clone(), g.id);
        check.connect_toggled(move |check| {
            if check.is_active() {
                picked.borrow_mut().insert(id, choice);
                apply.set_sensitive(true);
            }
        });
        first.get_or_insert_with(|| check.clone());
        checks.push((choice, check));
    }
    let apply_row = adw::ActionRow::new();
    apply_row.set_title(&gettext("Mirror these titles as chosen"));
    apply_row.add_suffix(&apply);
    expander.add_row(&apply_row);
    let id = g.id;
    apply.connect_clicked(move |button| {
        if let Some((choice, _)) = checks.iter().find(|(_, c)| c.is_active()) {
            button.set_sensitive(false);
            picked.borrow_mut().remove(&id);
            request(MirrorRequest::FirstPass {
                group: id,
                choice: *choice,
            });
        }
    });
    group.add(&expander);
}
