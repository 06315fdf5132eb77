//! The worker's posters: a row that stays on screen asks for its item's poster
//! ([`SyncQueueInput::Poster`]); the worker takes it from the disk cache or the server
//! ([`crate::posters::PosterCache::fetch`]) and decodes it on its tokio runtime (GDK's
//! texture loading is thread-safe), so the GTK thread only sets the ready texture
//! ([`SyncQueueOutput::Poster`]). At most four posters are fetched at once; a poster asked
//! for again while it is on its way is not fetched twice. An item without a poster, or a server
//! that fails, leaves the row's placeholder (logged, not shown: a missing picture is not
//! something the person has to act on).
//!
//! The cache lives in `<data dir>/posters` (200 MiB at most, least recently used first out),
//! next to the account it belongs to; deleting it loses nothing.

use std::collections::HashSet;

use super::*;
use crate::backend::MediaServer;
use crate::posters::{PosterCache, DEFAULT_CAP_BYTES, ROW_HEIGHT};
use relm4::gtk;

/// Posters fetched at once.
const AT_ONCE: usize = 4;

/// The running account's posters.
pub(super) struct Posters {
    cache: PosterCache,
    server: Arc<dyn MediaServer>,
    account: crate::model::AccountId,
    in_flight: Arc<Mutex<HashSet<String>>>,
    limit: Arc<tokio::sync::Semaphore>,
}

impl Posters {
    /// The posters of `engine`'s account, cached under `data_dir`.
    pub(super) fn of(
        runtime: &tokio::runtime::Runtime,
        engine: &Engine,
        data_dir: &Path,
    ) -> Result<Posters, String> {
        let store = Store::open(&database_path(data_dir)).map_err(|e| e.to_string())?;
        let account = store
            .account_by_id(engine.account())
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "no account".to_string())?;
        let server = runtime
            .block_on(crate::account::session::account_client(
                data_dir,
                &account,
                ClientOptions::default(),
            ))
            .map_err(|e| format!("{e:?}"))?;
        Ok(Posters {
            cache: PosterCache::new(data_dir.join("posters"), DEFAULT_CAP_BYTES),
            server,
            account: account.id,
            in_flight: Arc::default(),
            limit: Arc::new(tokio::sync::Semaphore::new(AT_ONCE)),
        })
    }

    /// Fetch (or read) `item`'s poster and send it to the UI.
    pub(super) fn request(
        &self,
        runtime: &tokio::runtime::Handle,
        item: String,
        out: &relm4::Sender<SyncQueueOutput>,
    ) {
        let fresh = self
            .in_flight
            .lock()
            .map(|mut f| f.insert(item.clone()))
            .unwrap_or(false);
        if !fresh {
            return;
        }
        let (cache, server, account) = (self.cache.clone(), self.server.clone(), self.account);
        let (in_flight, limit, out) = (self.in_flight.clone(), self.limit.clone(), out.clone());
        runtime.spawn(async move {
            let permit = limit.acquire_owned().await;
            let fetched = cache
                .fetch(server.as_ref(), account, &item, ROW_HEIGHT)
                .await;
            drop(permit);
            if let Ok(mut f) = in_flight.lock() {
                f.remove(&item);
            }
            let bytes = match fetched {
                Ok(bytes) => bytes,
                Err(e) => {
                    tracing::debug!(item = %item, error = %e, "no poster");
                    return;
                }
            };
            match gtk::gdk::Texture::from_bytes(&gtk::glib::Bytes::from_owned(bytes)) {
                Ok(texture) => {
                    let _ = out.send(SyncQueueOutput::Poster { item, texture });
                }
                Err(e) => tracing::debug!(item = %item, error = %e, "poster not decoded"),
            }
        });
    }
}
