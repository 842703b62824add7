//! What the controller remembers of a target's recent answers: counts over the last second
//! (two one-second buckets, the older one fading out), and whether each of the last answers
//! was a 429.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Events per second over the last second, from two one-second buckets.
#[derive(Debug, Default)]
pub(super) struct Sliding {
    start: Option<Instant>,
    current: u64,
    previous: u64,
}

impl Sliding {
    /// Rolls the buckets forward; returns how far into the current bucket `now` is (0..1).
    fn roll(&mut self, now: Instant) -> f64 {
        let start = *self.start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start).as_secs_f64();
        if elapsed >= 2.0 {
            self.previous = 0;
            self.current = 0;
            self.start = Some(now);
            0.0
        } else if elapsed >= 1.0 {
            self.previous = self.current;
            self.current = 0;
            self.start = Some(start + Duration::from_secs(1));
            elapsed - 1.0
        } else {
            elapsed
        }
    }

    pub fn add(&mut self, now: Instant) {
        self.roll(now);
        self.current += 1;
    }

    /// Events in the last second (the older bucket counted for the part still inside it).
    pub fn per_second(&mut self, now: Instant) -> f64 {
        let into = self.roll(now);
        self.previous as f64 * (1.0 - into) + self.current as f64
    }
}

/// Whether each of the last `capacity` answers was a 429.
#[derive(Debug)]
pub(super) struct Recent {
    answers: VecDeque<bool>,
    limited: usize,
    capacity: usize,
}

impl Recent {
    pub fn new(capacity: usize) -> Recent {
        Recent {
            answers: VecDeque::with_capacity(capacity),
            limited: 0,
            capacity,
        }
    }

    pub fn push(&mut self, limited: bool) {
        self.answers.push_back(limited);
        self.limited += usize::from(limited);
        if self.answers.len() > self.capacity && self.answers.pop_front() == Some(true) {
            self.limited -= 1;
        }
    }

    pub fn len(&self) -> usize {
        self.answers.len()
    }

    pub fn limited(&self) -> usize {
        self.limited
    }

    pub fn share(&self) -> f64 {
        self.limited as f64 / self.answers.len().max(1) as f64
    }

    pub fn clear(&mut self) {
        self.answers.clear();
        self.limited = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn sliding_counts_fade_over_one_second() {
        let mut rate = Sliding::default();
        let start = Instant::now();
        for i in 0..10 {
            rate.add(start + Duration::from_millis(i * 100));
        }
        let at = start + Duration::from_millis(1000);
        assert!((rate.per_second(at) - 10.0).abs() < 0.01, "{}", rate.per_second(at));
        let half = start + Duration::from_millis(1500);
        assert!((rate.per_second(half) - 5.0).abs() < 0.01);
        assert_eq!(rate.per_second(start + Duration::from_secs(5)), 0.0);
    }

    #[test]
    fn recent_keeps_the_last_answers() {
        let mut recent = Recent::new(4);
        for limited in [true, true, false, false, false] {
            recent.push(limited);
        }
        assert_eq!((recent.len(), recent.limited()), (4, 1));
        assert!((recent.share() - 0.25).abs() < 1e-9);
        recent.clear();
        assert_eq!(recent.share(), 0.0);
    }
}
