//! Accessible labels on GTK 4.8.
//!
//! `gtk_accessible_update_property` is bound in gtk4-rs only from GTK 4.10 on, and calling the C
//! function would need unsafe code (forbidden in this crate). GtkBuilder can set accessible
//! properties on any GTK 4 version, but only on objects it creates itself (an `<object>` with the
//! id of an exposed object makes a new one). So a labelled widget is built by GtkBuilder, and the
//! badge swaps in a new container whenever its label changes (a rare event: a state change).

use relm4::gtk;

/// The builder definition of a horizontal box with id `badge` and the accessible label `label`
/// (escaped: the label may hold server text).
pub fn label_definition(label: &str) -> String {
    format!(
        "<interface><object class=\"GtkBox\" id=\"badge\"><accessibility><property name=\"label\">{}</property></accessibility></object></interface>",
        gtk::glib::markup_escape_text(label)
    )
}

/// A new horizontal box whose accessible label is `label`.
pub fn labelled_box(label: &str) -> Result<gtk::Box, gtk::glib::Error> {
    let builder = gtk::Builder::new();
    builder.add_from_string(&label_definition(label))?;
    builder
        .object::<gtk::Box>("badge")
        .ok_or_else(|| gtk::glib::Error::new(gtk::BuilderError::InvalidId, "no badge object built"))
}
