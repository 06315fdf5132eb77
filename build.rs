//! With the `gui` feature: compiles the GResource bundle (CSS, icons) and the translations
//! (`po/*.po` → `$OUT_DIR/locale/<lang>/LC_MESSAGES/playmark.mo`, found by `ui::i18n`).

fn main() {
    #[cfg(feature = "gui")]
    {
        glib_build_tools::compile_resources(
            &["resources"],
            "resources/resources.gresource.xml",
            "playmark.gresource",
        );
        compile_translations();
    }
}

#[cfg(feature = "gui")]
fn compile_translations() {
    use std::path::PathBuf;
    println!("cargo:rerun-if-changed=po");
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    let Ok(linguas) = std::fs::read_to_string("po/LINGUAS") else {
        return;
    };
    for lang in linguas.split_whitespace().filter(|l| !l.starts_with('#')) {
        let dir = out.join("locale").join(lang).join("LC_MESSAGES");
        if let Err(e) = std::fs::create_dir_all(&dir) {
            println!("cargo:warning=cannot create {}: {e}", dir.display());
            continue;
        }
        let status = std::process::Command::new("msgfmt")
            .arg("-o")
            .arg(dir.join("playmark.mo"))
            .arg(format!("po/{lang}.po"))
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => println!("cargo:warning=msgfmt failed for {lang}: {s}"),
            // Without gettext's tools the app runs untranslated (install-deps.sh installs them).
            Err(e) => println!("cargo:warning=msgfmt not found ({e}); {lang} not compiled"),
        }
    }
}
