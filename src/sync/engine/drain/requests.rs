//! The drain loop's request tasks, on tokio: the batched read of a claim and a planned write.
use super::*;

impl Engine {
    /// The batched read of a claim, on tokio.
    pub(super) fn spawn_read(&self, claims: Vec<Claim>) -> tokio::task::JoinHandle<Done> {
        self.shared.stats.reads.fetch_add(1, Ordering::Relaxed);
        let server = self.shared.server.clone();
        let check_identity = self.shared.config.expected_server_id.is_some();
        let epoch = self.epoch();
        tokio::spawn(async move {
            let mut read = ServerRead::default();
            let mut result = Ok(());
            // A group's read is the listing of its parent's children (invariant 9): what it
            // lists is what a call on the parent would touch, and it reads the members too.
            let mut listed: HashMap<String, HashSet<String>> = HashMap::new();
            for claim in &claims {
                let Claim::Group {
                    group_key,
                    parent_id,
                    ..
                } = claim
                else {
                    continue;
                };
                match server.read_children(parent_id).await {
                    Ok(Some(part)) => {
                        read.server_id = read.server_id.or(part.server_id);
                        read.date = read.date.or(part.date);
                        listed.insert(
                            group_key.clone(),
                            part.items.iter().map(|(id, _)| id.clone()).collect(),
                        );
                        read.items.extend(part.items);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            let ids: Vec<String> = claims
                .iter()
                .flat_map(|c| {
                    let known = match c {
                        Claim::Group { group_key, .. } => listed.get(group_key),
                        Claim::Item(_) => None,
                    };
                    c.rows()
                        .iter()
                        .filter(move |r| known.is_none_or(|k| !k.contains(&r.item_id)))
                        .map(|r| r.item_id.clone())
                })
                .collect();
            let chunks = if result.is_ok() { ids.len() } else { 0 };
            for chunk in ids[..chunks].chunks(MAX_READ_IDS) {
                match server.read_user_data(chunk).await {
                    Ok(part) => {
                        read.server_id = read.server_id.or(part.server_id);
                        // The earliest answer's time: the claim's read is as old as that.
                        read.date = read.date.or(part.date);
                        read.items.extend(part.items);
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            // A server whose answers name no server id (Plex) is asked who it is before any
            // write, when the account must be checked.
            if result.is_ok() && check_identity && read.server_id.is_none() {
                match server.probe().await {
                    Ok(info) => read.server_id = Some(info.server_id),
                    Err(e) => result = Err(e),
                }
            }
            Done::Read {
                claims,
                epoch,
                result: result.map(|()| (read, listed)),
            }
        })
    }

    /// One planned write, on tokio. A group write is followed by a read of its members, so
    /// the base holds what the server set (its own dates and counts), not our guess.
    pub(super) fn spawn_write(&self, write: PlannedWrite) -> tokio::task::JoinHandle<Done> {
        self.shared.stats.requests.fetch_add(1, Ordering::Relaxed);
        let shared = self.shared.clone();
        let epoch = self.epoch();
        let started = self.now();
        // The item's length as the library listed it (a Plex position write needs it).
        let runtime_ms = match &write {
            PlannedWrite::Item { row, .. } => self
                .with_store(|s| s.item(self.shared.account, &row.item_id))
                .ok()
                .flatten()
                .and_then(|i| i.runtime_ms),
            PlannedWrite::Group { .. } => None,
        };
        tokio::spawn(async move {
            let server = &shared.server;
            let result = match &write {
                PlannedWrite::Item {
                    row,
                    current: Some(current),
                } => server
                    .write_item(&row.item_id, &row.desired, current, runtime_ms)
                    .await
                    .map(|after| {
                        after
                            .map(|a| vec![(row.item_id.clone(), a)])
                            .unwrap_or_default()
                    }),
                PlannedWrite::Item { row, current: None } => server
                    .push_item(&row.item_id, &row.desired)
                    .await
                    .map(|after| {
                        after
                            .map(|a| vec![(row.item_id.clone(), a)])
                            .unwrap_or_default()
                    }),
                PlannedWrite::Group {
                    parent_id,
                    played,
                    rows,
                    current,
                    ..
                } => {
                    let written = if current.is_empty() {
                        server.push_group(parent_id, *played).await
                    } else {
                        server.write_group(parent_id, *played, current).await
                    };
                    match written {
                        Ok(()) if shared.config.read_before_write => {
                            shared.stats.reads.fetch_add(1, Ordering::Relaxed);
                            let ids: Vec<String> = rows.iter().map(|r| r.item_id.clone()).collect();
                            let mut after = Vec::new();
                            for chunk in ids.chunks(MAX_READ_IDS) {
                                match server.read_user_data(chunk).await {
                                    Ok(read) => after.extend(read.items),
                                    // The write is done; without the read the base is what
                                    // we sent.
                                    Err(e) => {
                                        tracing::debug!(detail = %e.detail, "read after a group write failed");
                                        break;
                                    }
                                }
                            }
                            Ok(after)
                        }
                        Ok(()) => Ok(Vec::new()),
                        Err(e) => Err(e),
                    }
                }
            };
            Done::Write {
                write,
                epoch,
                started,
                result,
            }
        })
    }
}
