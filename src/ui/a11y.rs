//! Accessible labels on GTK 4.8.
//!
//! `gtk_accessible_update_property` is bound in gtk4-rs only from GTK 4.10 on, and calling the C
//! function would need unsafe code (forbidden in this crate). GtkBuilder can set accessible
//! properties on any GTK 4 version, so the label is applied through a one-object builder
//! definition: a new invisible child carrying nothing but the label would not do (screen readers
//! read the focused widget), so the builder extends the existing widget by id.

use relm4::gtk;

/// The builder definition that gives the object `id` the accessible label `label`
/// (escaped: the label may hold server text).
pub fn label_definition(id: &str, label: &str) -> String {
    format!(
        "<interface><object class=\"GtkBox\" id=\"{}\"><accessibility><property name=\"label\">{}</property></accessibility></object></interface>",
        gtk::glib::markup_escape_text(id),
        gtk::glib::markup_escape_text(label)
    )
}

/// Set the accessible label of `widget`.
pub fn set_accessible_label(widget: &gtk::Box, label: &str) -> Result<(), gtk::glib::Error> {
    let builder = gtk::Builder::new();
    builder.expose_object("badge", widget);
    builder.add_from_string(&label_definition("badge", label))
}
