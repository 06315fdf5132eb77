//! Time and randomness, injected so the engine can be tested without sleeping.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::model::Millis;

/// A boxed future, as returned by [`Clock::sleep_until`].
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Wall-clock time as seen by the engine.
pub trait Clock: Send + Sync + 'static {
    /// Now, in epoch milliseconds.
    fn now(&self) -> Millis;
    /// A future that completes once `now() >= deadline`.
    fn sleep_until(&self, deadline: Millis) -> BoxFuture;
}

/// The real clock: system time, tokio timers.
#[derive(Debug, Clone, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        chrono::Utc::now().timestamp_millis()
    }

    fn sleep_until(&self, deadline: Millis) -> BoxFuture {
        let wait = (deadline - self.now()).max(0);
        Box::pin(tokio::time::sleep(std::time::Duration::from_millis(
            wait as u64,
        )))
    }
}

/// A clock that only moves when a test says so. Sleepers wake when [`FakeClock::advance`]
/// passes their deadline.
#[derive(Debug, Clone)]
pub struct FakeClock {
    inner: Arc<FakeInner>,
}

#[derive(Debug)]
struct FakeInner {
    now: Mutex<Millis>,
    tick: tokio::sync::watch::Sender<Millis>,
    /// Deadlines that sleepers are currently waiting for (for tests that want to know the
    /// engine's next wake-up).
    sleepers: Mutex<Vec<Millis>>,
}

impl FakeClock {
    pub fn new(start: Millis) -> FakeClock {
        let (tick, _) = tokio::sync::watch::channel(start);
        FakeClock {
            inner: Arc::new(FakeInner {
                now: Mutex::new(start),
                tick,
                sleepers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Move time forward by `ms` and wake every sleeper whose deadline has passed.
    pub fn advance(&self, ms: i64) {
        let now = {
            let mut guard = self.inner.now.lock().unwrap_or_else(|p| p.into_inner());
            *guard += ms;
            *guard
        };
        self.inner.tick.send_replace(now);
    }

    /// The earliest deadline a sleeper currently waits for.
    pub fn next_sleeper(&self) -> Option<Millis> {
        let guard = self
            .inner
            .sleepers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        guard.iter().copied().min()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Millis {
        *self.inner.now.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sleep_until(&self, deadline: Millis) -> BoxFuture {
        let mut rx = self.inner.tick.subscribe();
        let inner = self.inner.clone();
        Box::pin(async move {
            inner
                .sleepers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(deadline);
            let _guard = SleeperGuard {
                inner: inner.clone(),
                deadline,
            };
            loop {
                if *rx.borrow_and_update() >= deadline {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
    }
}

struct SleeperGuard {
    inner: Arc<FakeInner>,
    deadline: Millis,
}

impl Drop for SleeperGuard {
    fn drop(&mut self) {
        let mut guard = self
            .inner
            .sleepers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(pos) = guard.iter().position(|d| *d == self.deadline) {
            guard.swap_remove(pos);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fake_sleep_wakes_only_after_advance() {
        let clock = FakeClock::new(1_000);
        let mut sleep = clock.sleep_until(1_500);
        let polled = futures::poll!(&mut sleep);
        assert!(polled.is_pending());
        clock.advance(400);
        assert!(futures::poll!(&mut sleep).is_pending());
        clock.advance(100);
        tokio::time::timeout(std::time::Duration::from_secs(1), sleep)
            .await
            .expect("woke");
        assert_eq!(clock.now(), 1_500);
    }
}
