//! The library's lists: filling the long ones in chunks, opening series and seasons, Home's
//! and search's answers.

use super::*;

impl Library {
    /// The item ids of each list.
    pub fn lists(&self) -> &ListIds {
        &self.lists
    }

    /// The virtualised lists.
    pub fn views(&self) -> &Views {
        &self.views
    }

    pub(super) fn title_of(&self, id: Option<&String>) -> String {
        id.and_then(|id| self.rows.item(id))
            .map(|i| i.name)
            .unwrap_or_default()
    }

    /// The title of the open season's page ("Series — Season 1").
    pub fn season_title(&self) -> String {
        let series = self.title_of(self.open_series.as_ref());
        let season = self.title_of(self.open_season.as_ref());
        tr(
            "{series} — {season}",
            &[("series", &series), ("season", &season)],
        )
    }

    /// Show the library's lists from `index` (built off the GTK thread by the worker, or by
    /// [`LibraryIndex::of`]).
    /// Lists that did not change (a pull that changed progress, not titles) are left alone:
    /// their rows were redrawn with the new data already.
    pub(super) fn rebuild(&mut self, index: LibraryIndex, sender: &ComponentSender<Self>) {
        self.children = index.children;
        if index.series != self.lists.series {
            self.lists.series = index.series;
            self.fill_long(LongList::Series, sender);
        }
        if index.movies != self.lists.movies {
            self.lists.movies = index.movies;
            self.fill_long(LongList::Movies, sender);
        }
        // Keep the open series and season when they still exist.
        if self
            .open_series
            .as_ref()
            .and_then(|s| self.rows.item(s))
            .is_none()
        {
            self.open_series = None;
            self.open_season = None;
        }
        if self
            .open_season
            .as_ref()
            .and_then(|s| self.rows.item(s))
            .is_none()
        {
            self.open_season = None;
        }
        self.fill_seasons();
        self.fill_episodes();
    }

    /// Ask for the next part of load `load` once the main loop has nothing more urgent
    /// (below redraw priority: a frame due, such as Home's first, is drawn before it).
    pub(super) fn schedule_load_more(&self, load: u64, sender: &ComponentSender<Self>) {
        let input = sender.input_sender().clone();
        self.when_idle(move || input.emit(LibraryInput::LoadMore { load }));
    }

    /// Run `f` once the main loop has nothing more urgent (below redraw priority: a frame
    /// that is due is drawn before it). One part of a long job each time.
    pub(super) fn when_idle(&self, f: impl FnOnce() + 'static) {
        let f = std::cell::Cell::new(Some(f));
        gtk::glib::idle_add_local_full(gtk::glib::Priority::LOW, move || {
            if let Some(f) = f.take() {
                f();
            }
            gtk::glib::ControlFlow::Break
        });
    }

    pub(super) fn load_more(&mut self, load: u64, sender: &ComponentSender<Self>) {
        let Some(pending) = self.pending.as_mut().filter(|p| p.load == load) else {
            return;
        };
        self.rows
            .load_part(load, pending.items.by_ref().take(LOAD_CHUNK));
        if pending.items.len() > 0 {
            self.schedule_load_more(load, sender);
            return;
        }
        if let Some(done) = self.pending.take() {
            self.rows.finish_load(load);
            self.rebuild(done.index, sender);
            let _ = sender.output(LibraryOutput::RefreshHome);
        }
    }

    /// Start filling a long list from its ids: the first part now, the rest when the main
    /// loop is idle (frames are drawn in between).
    pub(super) fn fill_long(&mut self, list: LongList, sender: &ComponentSender<Self>) {
        let slot = &mut self.fills[list as usize];
        *slot += 1;
        let generation = *slot;
        match list {
            LongList::Series => self.views.series.clear(),
            LongList::Movies => self.views.movies.clear(),
        }
        self.fill_more(list, generation, 0, sender);
    }

    pub(super) fn fill_more(
        &mut self,
        list: LongList,
        generation: u64,
        from: usize,
        sender: &ComponentSender<Self>,
    ) {
        if self.fills[list as usize] != generation {
            return;
        }
        let (view, ids) = match list {
            LongList::Series => (&mut self.views.series, &self.lists.series),
            LongList::Movies => (&mut self.views.movies, &self.lists.movies),
        };
        // The first rows of a list make GTK build a row's widgets each (it keeps up to ~200
        // rows bound, on screen or not): a few at a time; after them, rows are data only.
        let chunk = if from < FIRST_ROWS {
            FIRST_CHUNK
        } else {
            FILL_CHUNK
        };
        let to = (from + chunk).min(ids.len());
        view.extend_from_iter(
            ids[from.min(to)..to]
                .iter()
                .map(|id| self.rows.row(id, false)),
        );
        if to < ids.len() {
            let input = sender.input_sender().clone();
            self.when_idle(move || {
                input.emit(LibraryInput::FillMore {
                    list,
                    generation,
                    from: to,
                });
            });
        }
    }

    pub(super) fn fill_seasons(&mut self) {
        let seasons = self
            .open_series
            .as_ref()
            .and_then(|s| self.children.get(s))
            .cloned()
            .unwrap_or_default();
        if seasons == self.lists.seasons && self.views.seasons.len() as usize == seasons.len() {
            return;
        }
        self.lists.seasons = seasons;
        set_list(
            &mut self.views.seasons,
            &self.lists.seasons,
            &self.rows,
            false,
        );
    }

    pub(super) fn fill_episodes(&mut self) {
        let episodes = self
            .open_season
            .as_ref()
            .and_then(|s| self.children.get(s))
            .cloned()
            .unwrap_or_default();
        if episodes == self.lists.episodes && self.views.episodes.len() as usize == episodes.len() {
            return;
        }
        self.lists.episodes = episodes;
        set_list(
            &mut self.views.episodes,
            &self.lists.episodes,
            &self.rows,
            false,
        );
    }

    pub(super) fn show_page(&mut self, page: ShowsPage) {
        self.page = page;
        self.leaflet.set_visible_child_name(page.name());
    }

    pub(super) fn open_series(&mut self, id: String) {
        self.open_series = Some(id);
        self.open_season = None;
        self.fill_seasons();
        self.fill_episodes();
        self.stack.set_visible_child_name("shows");
        self.show_page(ShowsPage::Seasons);
        self.views.seasons.view.grab_focus();
    }

    pub(super) fn open_season(&mut self, id: String) {
        if self.open_series.is_none() {
            self.open_series = self
                .rows
                .item(&id)
                .and_then(|s| s.parent_id.or(s.series_id));
            self.fill_seasons();
        }
        self.open_season = Some(id);
        self.fill_episodes();
        self.stack.set_visible_child_name("shows");
        self.show_page(ShowsPage::Episodes);
        self.views.episodes.view.grab_focus();
    }

    pub(super) fn schedule_home(&mut self, sender: &ComponentSender<Self>) {
        if self.home_pending {
            return;
        }
        self.home_pending = true;
        // Changes come in bursts (a bulk action, a pull): ask once for all of them.
        let input = sender.input_sender().clone();
        gtk::glib::timeout_add_local_once(std::time::Duration::from_millis(250), move || {
            input.emit(LibraryInput::HomeDue);
        });
    }

    pub(super) fn mark_all(
        &mut self,
        parent: String,
        played: bool,
        sender: &ComponentSender<Self>,
    ) {
        // Optimistic: every playable item under it shows the new state at once.
        let mut ids = Vec::new();
        let mut stack = vec![parent.clone()];
        while let Some(p) = stack.pop() {
            for c in self.children.get(&p).into_iter().flatten() {
                ids.push(c.clone());
                stack.push(c.clone());
            }
        }
        for id in ids {
            self.rows.update_item(&id, |i| {
                if i.kind.is_playable() {
                    i.played = played;
                    i.position_ms = 0;
                }
            });
        }
        let _ = sender.output(LibraryOutput::EnqueueBulk { parent, played });
    }

    /// Someone downloads items (the download buttons show).
    pub(super) fn rows_download(&self) -> bool {
        self.rows.actions().download
    }
}
