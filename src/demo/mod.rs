//! Bundled Jellyfin-compatible demo and test server. Filled in by the demo-server work.
