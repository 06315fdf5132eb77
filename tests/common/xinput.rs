//! Real pointer clicks and key presses, as the X server delivers them (`xdotool`, XTEST), to
//! the app's windows under Xvfb: a click lands where the widget is drawn, so a hidden,
//! insensitive or covered widget does not get it.

use relm4::gtk;
use relm4::gtk::prelude::*;

use super::gtk::{pump, wait_for};

/// Run `xdotool args` while GTK keeps handling events (as it does while a person clicks);
/// returns its output.
pub fn xdotool(args: &[&str]) -> String {
    xdotool_try(args).unwrap_or_else(|| panic!("xdotool {args:?} failed"))
}

/// [`xdotool`], `None` when it fails (a search that found nothing).
pub fn xdotool_try(args: &[&str]) -> Option<String> {
    let child = std::process::Command::new("xdotool")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("xdotool runs (scripts/install-deps.sh installs it)");
    let child = std::sync::Arc::new(std::sync::Mutex::new(Some(child)));
    let mut output = None;
    wait_for(&format!("xdotool {args:?}"), || {
        let mut guard = child.lock().unwrap();
        let done = guard.as_mut().unwrap().try_wait().unwrap().is_some();
        if done {
            output = Some(guard.take().unwrap().wait_with_output().unwrap());
        }
        done
    });
    pump();
    let output = output.unwrap();
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The X window of a GTK toplevel, found by a title set for the test (there is no window
/// manager under Xvfb to ask).
pub fn x_window(window: &impl IsA<gtk::Window>, tag: &str) -> String {
    static SERIAL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Unique, so no other window still carries it.
    let title = format!("playmark-test-{tag}-{}-{serial}", std::process::id());
    let mut id = String::new();
    wait_for("the X window", || {
        // Set again each time: a dialog may set its own title meanwhile.
        window.as_ref().set_title(Some(&title));
        pump();
        id = xdotool_try(&["search", "--name", &format!("^{title}$")])
            .unwrap_or_default()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        !id.is_empty()
    });
    id
}

/// Where `widget`'s centre is on the screen (X root coordinates).
fn screen_point(widget: &gtk::Widget) -> (i32, i32) {
    let root = widget.root().expect("the widget is in a window");
    let window = root.downcast_ref::<gtk::Window>().expect("a GtkWindow");
    let native = widget.native().expect("the widget is shown");
    let centre =
        gtk::graphene::Point::new(widget.width() as f32 / 2.0, widget.height() as f32 / 2.0);
    let in_native = widget
        .compute_point(&native, &centre)
        .expect("the widget is in its native");
    let (sx, sy) = native.surface_transform();
    let id = x_window(window, "click");
    let geometry = xdotool(&["getwindowgeometry", "--shell", &id]);
    let field = |name: &str| -> i32 {
        geometry
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {geometry}"))
    };
    let (wx, wy) = (field("X"), field("Y"));
    // A popover is a surface of its own, placed relative to its window's surface.
    let (ox, oy) = match native
        .surface()
        .and_then(|s| s.downcast::<gtk::gdk::Popup>().ok())
    {
        Some(popup) => (popup.position_x(), popup.position_y()),
        None => (0, 0),
    };
    (
        wx + ox + (f64::from(in_native.x()) + sx).round() as i32,
        wy + oy + (f64::from(in_native.y()) + sy).round() as i32,
    )
}

/// Click `widget` with the first button, where it is drawn.
pub fn click(widget: &impl IsA<gtk::Widget>) {
    let widget = widget.as_ref();
    wait_for("the widget drawn", || {
        widget.is_mapped() && widget.width() > 0
    });
    // Where it is after the next layout: a state change just made (a header button shown or
    // hidden) moves it only at the next frame, and a click computed from the old layout lands
    // on its neighbour. Twice the same place 50 ms apart, as a person aims at a still target.
    let mut at = screen_point(widget);
    wait_for("the widget standing still", || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        pump();
        let now = screen_point(widget);
        std::mem::replace(&mut at, now) == now
    });
    let (x, y) = at;
    xdotool(&["mousemove", "--sync", &x.to_string(), &y.to_string()]);
    xdotool(&["click", "1"]);
}

/// Type `text` into the focused widget of `window` (50 ms between keys, a fast typist).
pub fn type_into(window: &impl IsA<gtk::Window>, text: &str) {
    let id = x_window(window, "keys");
    xdotool(&["windowfocus", "--sync", &id, "type", "--delay", "50", text]);
}

/// Press `keys` (xdotool's names: `Return`, `ctrl+a`) in `window`.
pub fn press(window: &impl IsA<gtk::Window>, keys: &str) {
    let id = x_window(window, "keys");
    xdotool(&["windowfocus", "--sync", &id, "key", keys]);
}
