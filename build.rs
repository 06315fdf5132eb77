//! Compiles the GResource bundle (CSS, icons) for the app when the `gui` feature is on.

fn main() {
    #[cfg(feature = "gui")]
    glib_build_tools::compile_resources(
        &["resources"],
        "resources/resources.gresource.xml",
        "playmark.gresource",
    );
}
