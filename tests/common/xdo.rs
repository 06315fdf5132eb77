//! Real clicks and key presses, as the X server delivers them (`xdotool`, XTEST), for the GTK
//! tests under Xvfb (no window manager: a window is focused before its keys are sent). The one
//! set of them: every GUI test that clicks or types goes through this module.
//! `scripts/install-deps.sh` installs xdotool.

use relm4::gtk;
use relm4::gtk::prelude::*;

use super::gtk::{pump, wait_for};

/// Run xdotool with `args` while GTK keeps handling events (as it does while a person acts),
/// and return its stdout.
pub fn xdotool(args: &[&str]) -> String {
    let mut child = std::process::Command::new("xdotool")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("xdotool runs (scripts/install-deps.sh installs it)");
    let mut status = None;
    wait_for(&format!("xdotool {args:?}"), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let out = child.wait_with_output().unwrap();
    assert!(status.unwrap().success(), "xdotool {args:?}");
    pump();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The X window of the visible toplevel titled exactly `title`.
pub fn x_window(title: &str) -> String {
    let pattern = format!("^{}$", regex_escape(title));
    let mut window = String::new();
    wait_for(&format!("the X window {title:?}"), || {
        let out = std::process::Command::new("xdotool")
            .args(["search", "--onlyvisible", "--name", &pattern])
            .output()
            .expect("xdotool runs (scripts/install-deps.sh installs it)");
        window = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        !window.is_empty()
    });
    window
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// Focus the toplevel `window` (a GTK window) and press `keys` (xdotool's names: `Return`,
/// `Escape`, `ctrl+question`).
pub fn press(window: &impl IsA<gtk::Window>, keys: &str) {
    let id = x_window(&window_title(window));
    xdotool(&["windowfocus", "--sync", &id, "key", keys]);
}

/// Focus `window` and type `text` (30 ms between keys).
pub fn type_text(window: &impl IsA<gtk::Window>, text: &str) {
    let id = x_window(&window_title(window));
    xdotool(&["windowfocus", "--sync", &id, "type", "--delay", "30", text]);
}

/// The title to find `window` by: its own, or (a window without one) a unique one set now.
fn window_title(window: &impl IsA<gtk::Window>) -> String {
    static SERIAL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let window = window.as_ref();
    if let Some(title) = window.title().filter(|t| !t.is_empty()) {
        return title.to_string();
    }
    let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let title = format!("playmark-test-{}-{serial}", std::process::id());
    window.set_title(Some(&title));
    pump();
    title
}

/// Where the X window `id` is on the screen.
fn window_origin(id: &str) -> (f64, f64) {
    let geometry = xdotool(&["getwindowgeometry", "--shell", id]);
    let value = |key: &str| -> f64 {
        geometry
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{key} in {geometry}"))
    };
    (value("X="), value("Y="))
}

/// Scroll the scrolled window around `widget` until `widget` is in its view (as a person
/// scrolls before clicking).
pub fn scroll_into_view(widget: &impl IsA<gtk::Widget>) {
    let widget = widget.as_ref();
    let Some(scrolled) = widget
        .ancestor(gtk::ScrolledWindow::static_type())
        .and_then(|w| w.downcast::<gtk::ScrolledWindow>().ok())
    else {
        return;
    };
    wait_for("the widget in the scrolled view", || {
        let Some(p) = widget.compute_point(
            &scrolled,
            &gtk::graphene::Point::new(0.0, widget.height() as f32 / 2.0),
        ) else {
            return false;
        };
        let y = f64::from(p.y());
        let height = f64::from(scrolled.height());
        if (0.0..height).contains(&y) {
            return true;
        }
        let adj = scrolled.vadjustment();
        adj.set_value(adj.value() + y - height / 2.0);
        false
    });
}

/// Click (button 1) the middle of `widget`, which must be mapped: in a toplevel window, or in
/// a popover of one.
pub fn click(widget: &impl IsA<gtk::Widget>) {
    let widget = widget.as_ref();
    wait_for("the widget to click on screen", || {
        widget.is_mapped() && widget.width() > 0
    });
    // Where it is after the next layout: a state change just made (a header button shown or
    // hidden) moves it only at the next frame, and a click computed from the old layout lands
    // on its neighbour. Twice the same place 50 ms apart, as a person aims at a still target.
    // A widget laid out outside its window is moving (the next frame places it) or scrolled
    // out of view (a person scrolls to it first).
    let mut at = None;
    wait_for("the widget standing still in its window", || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        pump();
        let now = screen_point(widget);
        if now.is_none() {
            scroll_into_view(widget);
        }
        now.is_some() && std::mem::replace(&mut at, now) == now
    });
    let (px, py) = at.map(|(x, y)| (x.to_string(), y.to_string())).unwrap();
    if std::env::var_os("PLAYMARK_TEST_XDO_DEBUG").is_some() {
        eprintln!("click {:?} at ({px}, {py})", widget.type_());
        eprintln!("{}", xdotool(&["search", "--onlyvisible", "--name", "."]));
    }
    xdotool(&["mousemove", "--sync", &px, &py, "click", "1"]);
}

/// Where the middle of the mapped `widget` is on the screen (X root coordinates); `None` while
/// it lies outside its window.
fn screen_point(widget: &gtk::Widget) -> Option<(i64, i64)> {
    let native = widget.native().expect("a widget in a native");
    let native_widget = native.clone().upcast::<gtk::Widget>();
    let (x, y) = widget
        .compute_point(
            &native_widget,
            &gtk::graphene::Point::new(widget.width() as f32 / 2.0, widget.height() as f32 / 2.0),
        )
        .map(|p| (f64::from(p.x()), f64::from(p.y())))
        .expect("the widget's point in its window");
    let (native_width, native_height) = (native_widget.width(), native_widget.height());
    let inside =
        (0.0..f64::from(native_width)).contains(&x) && (0.0..f64::from(native_height)).contains(&y);
    if !inside {
        return None;
    }
    let (sx, sy) = native.surface_transform();
    let (mut screen_x, mut screen_y) = (x + sx, y + sy);
    // A popover's surface is placed relative to its parent's; walk up to the toplevel.
    let mut native = native;
    while let Some(popover) = native.downcast_ref::<gtk::Popover>() {
        let surface = popover.surface().expect("a mapped popover's surface");
        let popup = surface
            .downcast_ref::<gtk::gdk::Popup>()
            .expect("a popover's surface is a popup");
        screen_x += f64::from(popup.position_x());
        screen_y += f64::from(popup.position_y());
        native = popover
            .parent()
            .and_then(|p| p.native())
            .expect("a popover's parent in a native");
    }
    let toplevel = native
        .downcast_ref::<gtk::Window>()
        .expect("a toplevel window")
        .clone();
    let id = x_window(&window_title(&toplevel));
    let (ox, oy) = window_origin(&id);
    Some((
        (ox + screen_x).round() as i64,
        (oy + screen_y).round() as i64,
    ))
}
