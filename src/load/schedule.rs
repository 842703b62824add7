//! Open-loop send times: evenly spaced, or a seeded Poisson process.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::Arrivals;

/// Mixed into `--seed`, so that the default seed 0 is not a degenerate generator state.
const SEED_SALT: u64 = 0x9e37_79b9_7f4a_7c15;

/// The send times of an open-loop step, as offsets from its start.
#[derive(Debug)]
pub struct Schedule {
    rate: f64,
    /// Set for Poisson arrivals.
    rng: Option<SmallRng>,
    /// Requests scheduled so far.
    count: u64,
    /// Offset of the last Poisson arrival, in seconds.
    at: f64,
}

impl Schedule {
    /// `rate` requests per second (above 0).
    pub fn new(rate: f64, arrivals: Arrivals) -> Schedule {
        Schedule {
            rate,
            rng: match arrivals {
                Arrivals::Even => None,
                // Spread the user's small seeds (0, 1, 2...) over the whole state space.
                Arrivals::Poisson { seed } => Some(SmallRng::seed_from_u64(seed ^ SEED_SALT)),
            },
            count: 0,
            at: 0.0,
        }
    }

    /// When the next request is due: `k / rate` for the k-th (from 0) with even spacing; the
    /// previous arrival plus an exponential gap of mean `1 / rate` with Poisson arrivals.
    pub fn next_offset(&mut self) -> Duration {
        let seconds = match &mut self.rng {
            None => self.count as f64 / self.rate,
            Some(rng) => {
                // Inverse transform sampling; `1 - u` is in (0, 1], so the logarithm is finite.
                let u: f64 = rng.random();
                self.at += -(1.0 - u).ln() / self.rate;
                self.at
            }
        };
        self.count += 1;
        Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
    }
}
