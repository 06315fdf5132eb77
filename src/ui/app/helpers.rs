//! The app's own steps: notices, toasts, sign-in, the failure page (what `update` calls).

use super::*;

impl App {
    /// The notice shown now.
    pub fn notice(&self) -> Notice {
        if self.store_trouble.is_some() {
            Notice::Store
        } else if self.account == AccountState::Offline {
            Notice::Offline
        } else if matches!(self.source, Some(LibrarySource::Demo { .. })) {
            Notice::Demo
        } else {
            Notice::None
        }
    }

    pub(super) fn demo_notice_text(&self) -> String {
        match &self.source {
            Some(LibrarySource::Demo { url }) => tr(
                "Demo library: a test server running on this computer ({url}). Changes go to it, not to your media server. Use the sync button's developer controls to simulate trouble.",
                &[("url", url)],
            ),
            _ => String::new(),
        }
    }

    /// The window is hidden and the app held open while downloads go on.
    pub fn held(&self) -> bool {
        self.hold.is_some()
    }

    /// Show what only a running engine has (the sync button, the library's views), or hide it
    /// while there is none (no database, a start-up failure).
    pub(super) fn show_engine_state(&self, running: bool) {
        self.status.widget().set_visible(running);
        self.library
            .model()
            .switcher_title
            .set_view_switcher_enabled(running);
    }

    /// Open the sign-in dialog: for the signed-in account when it needs a new sign-in (its
    /// address and user filled in), else empty; and ask the worker where the token would be
    /// kept (the dialog says it).
    pub(super) fn show_sign_in(&self) {
        self.queue.emit(SyncQueueInput::TokenStorage);
        match &self.source {
            Some(LibrarySource::Account { again, .. }) if needs_sign_in(self.account) => {
                self.sign_in.emit(SignInInput::ShowFor {
                    kind: match again.kind {
                        ServerKind::Plex => SignInKind::Plex,
                        ServerKind::Jellyfin | ServerKind::Demo => SignInKind::Jellyfin,
                    },
                    url: again.url.clone(),
                    user: again.user.clone(),
                })
            }
            _ => self.sign_in.emit(SignInInput::Show),
        }
    }

    pub(super) fn subtitle(&self) -> String {
        match &self.source {
            Some(LibrarySource::Demo { .. }) => gettext("Demo library"),
            Some(LibrarySource::Account { server_name, .. }) => server_name.clone(),
            None => gettext("Loading…"),
        }
    }

    pub(super) fn show_failure_toast(
        &mut self,
        error: crate::backend::SyncError,
        new_items: Vec<String>,
        pending: usize,
        server: &str,
        sender: &ComponentSender<Self>,
    ) {
        let kind = error.kind;
        let mut items = self
            .toasts
            .get(kind.as_str())
            .map(|t| t.items.clone())
            .unwrap_or_default();
        items.extend(new_items);
        let count = items.len();
        let (title, action) = format::failure_toast(&error, server, count, pending);
        // Plain text in the toast's own label (server text is never markup).
        if let Some(active) = self.toasts.get_mut(kind.as_str()) {
            crate::ui::toast::set_text(&active.toast, &title);
            active.items = items;
            active.count = count;
            active.error = error;
            active.server = server.to_string();
            active.pending = pending;
            return;
        }
        let toast = crate::ui::toast::new(&title);
        toast.set_timeout(8);
        if let Some(label) = format::action_label(action) {
            toast.set_button_label(Some(&label));
            let s = sender.input_sender().clone();
            toast.connect_button_clicked(move |_| {
                s.emit(AppInput::ToastAction { kind });
            });
        }
        let s = sender.input_sender().clone();
        toast.connect_dismissed(move |_| {
            s.emit(AppInput::ToastDismissed { kind });
        });
        self.toast_overlay.add_toast(toast.clone());
        self.toasts_shown += 1;
        self.toasts.insert(
            kind.as_str(),
            ActiveToast {
                toast,
                items,
                count,
                action,
                error,
                server: server.to_string(),
                pending,
            },
        );
    }

    /// `item`'s change is settled (delivered or discarded): no failure toast counts it any
    /// more; one that counted nothing else goes away.
    /// An item's badge changed: the rows show it, a change that no longer needs attention
    /// leaves the list, one synced or discarded leaves the failure toasts.
    pub(super) fn item_state(&mut self, item: String, state: ItemSyncState) {
        if matches!(state, ItemSyncState::Synced | ItemSyncState::Discarded) {
            self.settle_in_toasts(&item);
        }
        if !matches!(state, ItemSyncState::NeedsAttention { .. }) && self.attention.remove(&item) {
            self.status
                .emit(SyncStatusInput::AttentionRemoved { item: item.clone() });
        }
        self.library.emit(LibraryInput::ItemState { item, state });
    }

    /// The engine's snapshot of every queued change: the rows take it (see
    /// [`crate::ui::library::apply_snapshot`]); a change no longer queued leaves the failure
    /// toasts. (The needs-attention list came whole just before.)
    pub(super) fn snapshot(&mut self, states: Vec<(String, ItemSyncState)>) {
        let queued: HashSet<&str> = states.iter().map(|(id, _)| id.as_str()).collect();
        let settled: Vec<String> = self
            .toasts
            .values()
            .flat_map(|t| t.items.iter())
            .filter(|id| !queued.contains(id.as_str()))
            .cloned()
            .collect();
        for item in settled {
            self.settle_in_toasts(&item);
        }
        self.library.emit(LibraryInput::Snapshot { states });
    }

    pub(super) fn settle_in_toasts(&mut self, item: &str) {
        let mut gone = Vec::new();
        for (kind, active) in self.toasts.iter_mut() {
            if !active.items.remove(item) {
                continue;
            }
            active.count = active.items.len();
            if active.items.is_empty() {
                gone.push(*kind);
                continue;
            }
            let (title, _) =
                format::failure_toast(&active.error, &active.server, active.count, active.pending);
            crate::ui::toast::set_text(&active.toast, &title);
        }
        for kind in gone {
            if let Some(active) = self.toasts.remove(kind) {
                active.toast.dismiss();
            }
        }
    }
}

impl App {
    /// A bulk change is held: offer its Undo (see `undo_toast`). An Undo toast still up goes
    /// first (its change is sent).
    pub(super) fn show_undo_toast(
        &mut self,
        batch: u64,
        toast: adw::Toast,
        sender: &ComponentSender<Self>,
    ) {
        self.dismiss_undo_toast();
        let s = sender.input_sender().clone();
        toast.connect_button_clicked(move |_| s.emit(AppInput::Undo { batch }));
        let s = sender.input_sender().clone();
        toast.connect_dismissed(move |_| s.emit(AppInput::UndoDismissed { batch }));
        self.toast_overlay.add_toast(toast.clone());
        self.toasts_shown += 1;
        self.undo_toast = Some((batch, toast));
    }

    /// Take the Undo toast away (its dismissed handler ends the hold).
    pub(super) fn dismiss_undo_toast(&mut self) {
        if let Some((_, toast)) = self.undo_toast.take() {
            toast.dismiss();
        }
        self.set_held(0);
    }

    /// The sync button counts `rows` pending rows as held for the Undo on screen, not as
    /// waiting to be sent (only one Undo toast is up at a time: a newer one releases the
    /// older batch).
    pub(super) fn set_held(&self, rows: usize) {
        self.status.emit(SyncStatusInput::Held { rows });
    }

    /// New override notices: the rows show them all; the new ones are announced by the
    /// override toast (see [`OverriddenToast`]).
    pub(super) fn show_overridden(
        &mut self,
        items: Vec<OverriddenItem>,
        new: Vec<String>,
        sender: &ComponentSender<Self>,
    ) {
        self.library.emit(LibraryInput::Overridden {
            items: items.clone(),
        });
        self.overridden = items;
        let present = |id: &String| self.overridden.iter().any(|o| &o.item_id == id);
        let mut counted: Vec<String> = self
            .overridden_toast
            .as_ref()
            .map(|t| t.items.iter().filter(|id| present(id)).cloned().collect())
            .unwrap_or_default();
        for id in new {
            if present(&id) && !counted.contains(&id) {
                counted.push(id);
            }
        }
        if counted.is_empty() {
            if let Some(t) = self.overridden_toast.take() {
                t.toast.dismiss();
            }
            return;
        }
        let notice = (counted.len() == 1)
            .then(|| self.overridden.iter().find(|o| o.item_id == counted[0]))
            .flatten()
            .map(|o| {
                (
                    o.title.clone(),
                    format::overridden_notice(o.kept, o.yours, o.after_unknown_outcome),
                )
            });
        let title = format::overridden_toast(
            notice.as_ref().map(|(t, n)| (t.as_str(), n.as_str())),
            counted.len(),
        );
        // Plain text in the toast's own label: the item's title is server text, never markup.
        let label = format::overridden_toast_action(counted.len());
        if let Some(active) = &mut self.overridden_toast {
            crate::ui::toast::set_text(&active.toast, &title);
            active.toast.set_button_label(Some(&label));
            active.items = counted;
            return;
        }
        let toast = crate::ui::toast::new(&title);
        toast.set_timeout(10);
        toast.set_button_label(Some(&label));
        let s = sender.input_sender().clone();
        toast.connect_button_clicked(move |_| s.emit(AppInput::OverriddenToastAction));
        let serial = self.toasts_shown;
        let s = sender.input_sender().clone();
        toast.connect_dismissed(move |_| s.emit(AppInput::OverriddenToastDismissed { serial }));
        self.toast_overlay.add_toast(toast.clone());
        self.toasts_shown += 1;
        self.overridden_toast = Some(OverriddenToast {
            toast,
            items: counted,
            serial,
        });
    }
}
