//! The remembered window size: a tiny text file "WIDTH HEIGHT MAXIMIZED" in the data directory.
//! (GSettings would need a schema installed system-wide, which `cargo run` cannot do.)

use std::path::Path;

/// Size and maximized flag of the main window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowState {
    /// Width in pixels.
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
    /// Maximized.
    pub maximized: bool,
}

impl Default for WindowState {
    fn default() -> WindowState {
        WindowState {
            width: 960,
            height: 640,
            maximized: false,
        }
    }
}

impl WindowState {
    /// Parse the file's text; anything unexpected gives the default.
    pub fn parse(text: &str) -> WindowState {
        let mut parts = text.split_whitespace();
        let mut number = || parts.next().and_then(|p| p.parse::<i32>().ok());
        match (number(), number(), number()) {
            (Some(w), Some(h), m) if (200..=20_000).contains(&w) && (200..=20_000).contains(&h) => {
                WindowState {
                    width: w,
                    height: h,
                    maximized: m == Some(1),
                }
            }
            _ => WindowState::default(),
        }
    }

    /// Read from `path` (default when missing or damaged).
    pub fn load(path: &Path) -> WindowState {
        std::fs::read_to_string(path)
            .map(|t| WindowState::parse(&t))
            .unwrap_or_default()
    }

    /// Write to `path`.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(
            path,
            format!(
                "{} {} {}\n",
                self.width,
                self.height,
                u8::from(self.maximized)
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("window");
        let s = WindowState {
            width: 1200,
            height: 800,
            maximized: true,
        };
        s.save(&path).unwrap();
        assert_eq!(WindowState::load(&path), s);
        assert_eq!(WindowState::parse("abc"), WindowState::default());
        assert_eq!(WindowState::parse("5 5 0"), WindowState::default());
        assert_eq!(
            WindowState::load(&dir.path().join("missing")),
            WindowState::default()
        );
    }
}
