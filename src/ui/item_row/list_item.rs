//! One entry of a virtualised list ([`ItemRow`]): its widgets are built once per on-screen
//! row and bound to items as the list scrolls.

use super::*;

/// One entry of a virtualised list: an item id and the store holding its data.
#[derive(Debug, Clone)]
pub struct ItemRow {
    /// The item.
    pub id: String,
    /// Show the series name (Home, search).
    pub context: bool,
    pub(super) store: Weak<RowStore>,
}

impl RelmListItem for ItemRow {
    type Root = gtk::Box;
    type Widgets = Rc<RowWidgets>;

    fn setup(_list_item: &gtk::ListItem) -> (gtk::Box, Rc<RowWidgets>) {
        let hbox = gtk::Box::new(gtk::Orientation::Horizontal, 12);
        hbox.add_css_class("item-row");
        hbox.set_margin_top(8);
        hbox.set_margin_bottom(8);
        hbox.set_margin_start(12);
        hbox.set_margin_end(12);
        let play = gtk::Button::from_icon_name("media-playback-start-symbolic");
        play.set_widget_name("play");
        play.add_css_class("flat");
        play.set_valign(gtk::Align::Center);
        let download = gtk::Button::from_icon_name("folder-download-symbolic");
        download.set_widget_name("download");
        download.add_css_class("flat");
        download.set_valign(gtk::Align::Center);
        download.set_tooltip_text(Some(&gettext("Download")));
        let download_slot = gtk::Stack::new();
        download_slot.set_widget_name("download-slot");
        download_slot.set_valign(gtk::Align::Center);
        download_slot.add_named(&download, Some("offer"));
        download_slot.add_named(
            &download_marker(
                "downloaded",
                "object-select-symbolic",
                &gettext("Downloaded: plays without a connection"),
            ),
            Some("downloaded"),
        );
        download_slot.add_named(
            &download_marker(
                "downloading",
                "folder-download-symbolic",
                &gettext("Downloading (see Downloads)"),
            ),
            Some("downloading"),
        );
        // The poster's place is one fixed size in every row, with or without its picture:
        // a placeholder card of 32 × 48 px is the overlay's main child (its only measured
        // one), and the picture covers it as an overlay, which is allocated that size and
        // never asked for its own (a 2:3 poster would widen a taller row, and a poster that
        // arrives would push the row's columns aside).
        let poster_frame = gtk::Overlay::new();
        poster_frame.set_widget_name("poster");
        poster_frame.set_valign(gtk::Align::Center);
        poster_frame.set_overflow(gtk::Overflow::Hidden);
        poster_frame.add_css_class("poster");
        let placeholder = gtk::Box::new(gtk::Orientation::Vertical, 0);
        placeholder.set_size_request(POSTER_WIDTH, POSTER_HEIGHT);
        poster_frame.set_child(Some(&placeholder));
        let poster = gtk::Picture::new();
        poster.set_widget_name("poster-image");
        poster.set_can_shrink(true);
        poster.set_content_fit(gtk::ContentFit::Cover);
        poster_frame.add_overlay(&poster);
        poster_frame.set_measure_overlay(&poster, false);
        poster_frame.set_clip_overlay(&poster, true);
        let number = gtk::Label::new(None);
        number.add_css_class("dim-label");
        number.add_css_class("episode-number");
        number.set_width_chars(7);
        let text = gtk::Box::new(gtk::Orientation::Vertical, 4);
        text.set_hexpand(true);
        text.set_valign(gtk::Align::Center);
        let title = gtk::Label::new(None);
        title.set_xalign(0.0);
        title.set_ellipsize(gtk::pango::EllipsizeMode::End);
        let context_label = gtk::Label::new(None);
        context_label.set_xalign(0.0);
        context_label.set_ellipsize(gtk::pango::EllipsizeMode::End);
        context_label.add_css_class("dim-label");
        context_label.add_css_class("caption");
        let resume = gtk::Label::new(None);
        resume.set_xalign(0.0);
        resume.add_css_class("dim-label");
        resume.add_css_class("caption");
        let progress = gtk::ProgressBar::new();
        let notice_box = gtk::Box::new(gtk::Orientation::Horizontal, 8);
        notice_box.set_widget_name("overridden");
        notice_box.set_visible(false);
        let notice = gtk::Label::new(None);
        notice.set_widget_name("overridden-notice");
        notice.set_use_markup(false);
        notice.set_xalign(0.0);
        notice.set_wrap(true);
        notice.set_hexpand(true);
        notice.add_css_class("caption");
        // The button's label is its accessible name.
        let use_mine = gtk::Button::with_label(&gettext("Use mine"));
        use_mine.set_widget_name("use-mine");
        use_mine.set_valign(gtk::Align::Center);
        use_mine.add_css_class("pill");
        notice_box.append(&notice);
        notice_box.append(&use_mine);
        text.append(&context_label);
        text.append(&title);
        text.append(&resume);
        text.append(&progress);
        text.append(&notice_box);
        let badge = BadgeView::new();
        let watched = gtk::CheckButton::with_label(&gettext("Watched"));
        watched.set_valign(gtk::Align::Center);
        let open = gtk::Image::from_icon_name("go-next-symbolic");
        open.set_valign(gtk::Align::Center);
        hbox.append(&poster_frame);
        hbox.append(&play);
        hbox.append(&download_slot);
        hbox.append(&number);
        hbox.append(&text);
        hbox.append(&badge.root);
        hbox.append(&watched);
        hbox.append(&open);
        let w = Rc::new(RowWidgets {
            play,
            download,
            download_slot,
            poster,
            number,
            title,
            context_label,
            resume,
            progress,
            notice_box,
            notice,
            use_mine,
            badge,
            watched,
            open,
            context: Cell::new(false),
            rendering: Cell::new(false),
            play_look: Cell::new(None),
            download_look: Cell::new(None),
            current: RefCell::new(None),
        });
        // Handlers look up the bound item when they fire (the widgets are reused).
        let weak = Rc::downgrade(&w);
        w.watched.connect_toggled(move |b| {
            let Some(w) = weak.upgrade() else { return };
            if w.rendering.get() {
                return;
            }
            if let Some((id, store)) = w.current() {
                store.toggled(&id, b.is_active());
            }
        });
        let weak = Rc::downgrade(&w);
        w.play.connect_clicked(move |_| {
            if let Some((item, store)) = weak.upgrade().and_then(|w| w.current()) {
                store.sender.emit(ItemRowOutput::Play { item });
            }
        });
        let weak = Rc::downgrade(&w);
        w.use_mine.connect_clicked(move |_| {
            if let Some((item, store)) = weak.upgrade().and_then(|w| w.current()) {
                store.use_mine(&item);
            }
        });
        let weak = Rc::downgrade(&w);
        w.download.connect_clicked(move |_| {
            if let Some((item, store)) = weak.upgrade().and_then(|w| w.current()) {
                store.sender.emit(ItemRowOutput::Download { item });
            }
        });
        (hbox, w)
    }

    fn bind(&mut self, widgets: &mut Rc<RowWidgets>, root: &mut gtk::Box) {
        // Tests and screenshots find a row by its item id.
        root.set_widget_name(&self.id);
        widgets.context.set(self.context);
        *widgets.current.borrow_mut() = Some((self.id.clone(), self.store.clone()));
        if let Some(store) = self.store.upgrade() {
            store.bind(&self.id, widgets);
        }
    }

    fn unbind(&mut self, widgets: &mut Rc<RowWidgets>, root: &mut gtk::Box) {
        root.set_widget_name("");
        *widgets.current.borrow_mut() = None;
        if let Some(store) = self.store.upgrade() {
            store.unbind(&self.id, widgets);
        }
    }
}

/// The marker in place of the download button: a dim icon named `name` whose tooltip and
/// accessible label are `text`.
fn download_marker(name: &str, icon: &str, text: &str) -> gtk::Box {
    let marker = crate::ui::a11y::labelled_box(text).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "marker without an accessible label");
        gtk::Box::new(gtk::Orientation::Horizontal, 0)
    });
    marker.set_widget_name(name);
    marker.set_tooltip_text(Some(text));
    marker.set_halign(gtk::Align::Center);
    marker.set_valign(gtk::Align::Center);
    let image = gtk::Image::from_icon_name(icon);
    image.add_css_class("dim-label");
    marker.append(&image);
    marker
}
