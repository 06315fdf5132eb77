//! Jellyfin client (reqwest). Filled in by the Jellyfin-client work.
