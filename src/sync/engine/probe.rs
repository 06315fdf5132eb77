//! Reachability probes while the account is offline.

use super::*;

impl Engine {
    pub(super) fn wake_probe(&self, now: Millis) {
        let mut st = lock(&self.shared.status);
        if st.account == AccountState::Offline {
            st.next_probe_at = now;
        }
    }

    pub(super) fn probe_delay(&self, attempt: u32) -> i64 {
        let mut rng = lock(&self.shared.rng);
        // At least a quarter of the ceiling so probes never spin.
        let b = self.shared.config.probe_backoff;
        let d = b.next_delay(attempt, &mut *rng, None);
        d.max(b.ceiling(attempt) / 4)
    }

    /// Probe the server while offline; back online on any answer.
    pub(super) async fn probe(&self) {
        self.shared.stats.probes.fetch_add(1, Ordering::Relaxed);
        let result = self.shared.server.probe().await;
        match result {
            Err(e) if matches!(e.kind, ErrorKind::Offline | ErrorKind::Transient) => {
                let failed_probes = {
                    let mut st = lock(&self.shared.status);
                    st.probe_attempt = st.probe_attempt.saturating_add(1);
                    st.probe_attempt
                };
                // Delay 1 was used when the account went offline; each failed probe moves on one.
                let delay = self.probe_delay(failed_probes + 1);
                lock(&self.shared.status).next_probe_at = self.now() + delay;
                tracing::debug!(delay, "server still unreachable");
            }
            Ok(info) if self.server_changed(&info.server_id) => {
                self.set_account(AccountState::ServerChanged);
            }
            // Any answer, even an error status, means the server is reachable. (The probe count
            // restarts when the account next goes offline.)
            _ => self.set_account(AccountState::Online),
        }
    }

    /// True when the account expects a server id and `server_id` is another one.
    pub(super) fn server_changed(&self, server_id: &str) -> bool {
        self.shared
            .config
            .expected_server_id
            .as_deref()
            .is_some_and(|expected| expected != server_id)
    }
}
