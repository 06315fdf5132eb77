//! Exponential backoff with full jitter; `Retry-After` is a floor.

use rand::Rng;

/// Backoff parameters (milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Ceiling of the first retry's delay.
    pub base_ms: i64,
    /// No delay exceeds this (unless the server's `Retry-After` asks for longer).
    pub cap_ms: i64,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            base_ms: 1_000,
            cap_ms: 600_000,
        }
    }
}

impl Backoff {
    /// The upper bound of the delay after `attempt` failures (1 = first failure):
    /// `min(cap, base · 2^(attempt-1))`.
    pub fn ceiling(&self, attempt: u32) -> i64 {
        let exp = attempt.saturating_sub(1).min(40);
        self.base_ms.saturating_mul(1_i64 << exp).min(self.cap_ms)
    }

    /// Full jitter: uniform in `[0, ceiling]`, but never below `retry_after_ms`.
    pub fn next_delay(&self, attempt: u32, rng: &mut impl Rng, retry_after_ms: Option<i64>) -> i64 {
        let ceiling = self.ceiling(attempt).max(0);
        let jittered = rng.gen_range(0..=ceiling);
        jittered.max(retry_after_ms.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn delays_stay_within_exponential_bounds_and_cap() {
        let b = Backoff::default();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for attempt in 1..=30u32 {
            let ceiling = b.ceiling(attempt);
            assert!(ceiling <= b.cap_ms);
            if attempt <= 10 {
                assert_eq!(ceiling, 1_000 * (1 << (attempt - 1)));
            }
            for _ in 0..200 {
                let d = b.next_delay(attempt, &mut rng, None);
                assert!(
                    (0..=ceiling).contains(&d),
                    "attempt {attempt}: {d} > {ceiling}"
                );
            }
        }
        assert_eq!(b.ceiling(30), 600_000);
    }

    #[test]
    fn jitter_spreads_delays() {
        let b = Backoff::default();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let delays: Vec<i64> = (0..100).map(|_| b.next_delay(6, &mut rng, None)).collect();
        let min = *delays.iter().min().unwrap();
        let max = *delays.iter().max().unwrap();
        // 100 uniform draws in [0, 32 s] land far apart.
        assert!(max - min > 16_000, "min {min} max {max}");
        let mean = delays.iter().sum::<i64>() / 100;
        assert!((10_000..22_000).contains(&mean), "mean {mean}");
    }

    #[test]
    fn retry_after_is_a_floor() {
        let b = Backoff::default();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        for _ in 0..100 {
            assert!(b.next_delay(1, &mut rng, Some(7_000)) >= 7_000);
        }
    }
}
