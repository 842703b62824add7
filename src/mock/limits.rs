//! Per-minute limits like a provider's (requests and tokens), lock-free: the generic cell rate
//! algorithm on one atomic per limit. Each key gets its own limits, as at a real provider.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MINUTE_NS: u64 = 60_000_000_000;

/// What a limit has left after admitting a request (for `x-ratelimit-*` headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Allowance {
    pub limit: u64,
    pub remaining: u64,
    /// Time until the limit is back to its full allowance.
    pub reset: Duration,
}

/// Admits at most `per_minute` units in any minute, and at most `burst` worth of them at
/// once: providers enforce per-minute limits over shorter windows, so an idle key does not
/// bank a whole minute. One unit "costs" 60 s / per_minute of the allowance. The rate may
/// follow a schedule (the limit changes during the run).
#[derive(Debug)]
pub(crate) struct Gcra {
    /// `(from, per_minute)` in ns since server start, sorted; the first starts at 0.
    schedule: Vec<(u64, u64)>,
    /// The most allowance that accumulates, in ns of the sustained rate.
    burst_ns: u64,
    /// Theoretical arrival time of the next unit, ns since server start.
    tat_ns: AtomicU64,
}

impl Gcra {
    /// A whole minute's allowance at `per_minute` (0 is treated as 1).
    #[cfg(test)]
    pub fn per_minute(per_minute: u64) -> Self {
        Gcra::scheduled(&[(Duration::ZERO, per_minute)], Duration::from_secs(60))
    }

    /// A limit that changes at the given times, with at most `burst` worth of allowance.
    pub fn scheduled(schedule: &[(Duration, u64)], burst: Duration) -> Self {
        let mut steps: Vec<(u64, u64)> = schedule
            .iter()
            .map(|(at, n)| (u64::try_from(at.as_nanos()).unwrap_or(u64::MAX), (*n).max(1)))
            .collect();
        steps.sort_by_key(|s| s.0);
        if steps.first().is_none_or(|s| s.0 > 0) {
            let first = steps.first().map_or(1, |s| s.1);
            steps.insert(0, (0, first));
        }
        Gcra {
            schedule: steps,
            burst_ns: u64::try_from(burst.as_nanos()).unwrap_or(u64::MAX).max(1),
            tat_ns: AtomicU64::new(0),
        }
    }

    /// The limit per minute in force at `now_ns`.
    pub fn limit_at(&self, now_ns: u64) -> u64 {
        self.schedule
            .iter()
            .rev()
            .find(|(from, _)| *from <= now_ns)
            .map_or(1, |s| s.1)
    }

    /// Takes `cost` units at `now_ns`, or says how long to wait before they would be admitted.
    /// A cost larger than the burst allowance is admitted when the allowance is full.
    pub fn take(&self, cost: u64, now_ns: u64) -> Result<Allowance, Duration> {
        let per_minute = self.limit_at(now_ns);
        let interval_ns = (MINUTE_NS / per_minute).max(1);
        let span = cost.max(1).saturating_mul(interval_ns);
        let mut tat = self.tat_ns.load(Ordering::Relaxed);
        loop {
            let start = tat.max(now_ns);
            let end = start.saturating_add(span);
            let ahead = end - now_ns;
            if ahead > self.burst_ns && start > now_ns {
                return Err(Duration::from_nanos((ahead - self.burst_ns).min(start - now_ns)));
            }
            match self
                .tat_ns
                .compare_exchange_weak(tat, end, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    let remaining = self.burst_ns.saturating_sub(ahead) / interval_ns;
                    let reset = Duration::from_nanos(ahead);
                    return Ok(Allowance {
                        limit: per_minute,
                        remaining,
                        reset,
                    });
                }
                Err(current) => tat = current,
            }
        }
    }
}

/// Parses `--rpm-schedule`: `0s=1200,20s=300` (from 20 s on, 300 requests per minute).
pub fn parse_rpm_schedule(text: &str) -> Result<Vec<(Duration, u32)>, String> {
    let mut steps = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (at, rpm) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?}: write TIME=RPM, e.g. 0s=1200,20s=300"))?;
        let at = humantime::parse_duration(at.trim()).map_err(|e| format!("{part:?}: {e}"))?;
        let rpm: u32 = rpm
            .trim()
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("{part:?}: the rate must be a whole number of at least 1"))?;
        if steps.last().is_some_and(|(last, _)| *last >= at) {
            return Err(format!("{part:?}: times must increase"));
        }
        steps.push((at, rpm));
    }
    match steps.first() {
        None => Err("empty schedule: write TIME=RPM,..., e.g. 0s=1200,20s=300".into()),
        Some((at, _)) if !at.is_zero() => Err("the schedule must start at 0s".into()),
        Some(_) => Ok(steps),
    }
}

/// The request and token limits of one API key.
#[derive(Debug)]
pub(crate) struct KeyLimits {
    pub requests: Option<Gcra>,
    pub tokens: Option<Gcra>,
}

/// How the mock's limits are set: per-minute rates, the burst allowance, a schedule.
#[derive(Debug, Clone, Default)]
pub(crate) struct LimitSettings {
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub burst: Duration,
    pub rpm_schedule: Vec<(Duration, u32)>,
}

/// Limits per key (requests without a key share one set).
#[derive(Debug)]
pub(crate) struct Limits {
    settings: LimitSettings,
    keys: Mutex<HashMap<Option<u32>, Arc<KeyLimits>>>,
}

impl Limits {
    pub fn new(settings: LimitSettings) -> Option<Limits> {
        let any = settings.rpm.is_some() || settings.tpm.is_some() || !settings.rpm_schedule.is_empty();
        any.then(|| Limits {
            settings,
            keys: Mutex::new(HashMap::new()),
        })
    }

    /// The limits of a key (by its fingerprint).
    pub fn of(&self, key_id: Option<u32>) -> Arc<KeyLimits> {
        let mut keys = match self.keys.lock() {
            Ok(keys) => keys,
            Err(poisoned) => poisoned.into_inner(),
        };
        let s = &self.settings;
        keys.entry(key_id)
            .or_insert_with(|| {
                let schedule: Vec<(Duration, u64)> = if s.rpm_schedule.is_empty() {
                    s.rpm
                        .map(|rpm| vec![(Duration::ZERO, u64::from(rpm))])
                        .unwrap_or_default()
                } else {
                    s.rpm_schedule.iter().map(|(at, n)| (*at, u64::from(*n))).collect()
                };
                Arc::new(KeyLimits {
                    requests: (!schedule.is_empty()).then(|| Gcra::scheduled(&schedule, s.burst)),
                    tokens: s.tpm.map(|tpm| Gcra::scheduled(&[(Duration::ZERO, tpm)], s.burst)),
                })
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_a_minute_of_requests_then_asks_to_wait() {
        let limit = Gcra::per_minute(60);
        for i in 0..60 {
            let allowance = limit.take(1, 0).map_err(|e| format!("request {i}: {e:?}"));
            assert_eq!(allowance.map(|a| a.remaining), Ok(59 - i));
        }
        // The 61st must wait until one second's worth of allowance is back.
        assert_eq!(limit.take(1, 0), Err(Duration::from_secs(1)));
        assert_eq!(limit.take(1, 400_000_000), Err(Duration::from_millis(600)));
        assert!(limit.take(1, 1_000_000_000).is_ok());
        assert!(limit.take(1, 1_000_000_000).is_err());
    }

    #[test]
    fn tokens_cost_their_count_and_reset_says_when_the_allowance_is_full() {
        let limit = Gcra::per_minute(6_000); // 100 tokens per second
        let first = limit.take(1_000, 0);
        assert_eq!(
            first,
            Ok(Allowance {
                limit: 6_000,
                remaining: 5_000,
                reset: Duration::from_secs(10)
            })
        );
        assert!(limit.take(5_000, 0).is_ok());
        assert_eq!(limit.take(200, 0), Err(Duration::from_secs(2)));
        // A request larger than the whole minute goes once the allowance is full again.
        assert!(limit.take(10_000, 60_000_000_000).is_ok());
    }

    #[test]
    fn each_key_has_its_own_allowance() {
        let settings = LimitSettings {
            rpm: Some(1),
            burst: Duration::from_secs(60),
            ..LimitSettings::default()
        };
        let limits = Limits::new(settings).map(|l| (l.of(Some(1)), l.of(Some(2)), l.of(Some(1))));
        let Some((a, b, a_again)) = limits else {
            panic!("limits expected")
        };
        let take = |k: &KeyLimits| k.requests.as_ref().map(|r| r.take(1, 0).is_ok());
        assert_eq!(take(&a), Some(true));
        assert_eq!(take(&b), Some(true));
        assert_eq!(take(&a_again), Some(false));
    }

    #[test]
    fn a_short_burst_keeps_only_that_much_allowance() {
        // 3,000 per minute with a one-second burst: 50 at once, then one per 20 ms.
        let limit = Gcra::scheduled(&[(Duration::ZERO, 3000)], Duration::from_secs(1));
        let idle = 30_000_000_000; // 30 s idle banks only one second's worth
        for i in 0..50 {
            let allowance = limit.take(1, idle).map_err(|e| format!("request {i}: {e:?}"));
            assert_eq!(allowance.map(|a| (a.limit, a.remaining)), Ok((3000, 49 - i)));
        }
        assert_eq!(limit.take(1, idle), Err(Duration::from_millis(20)));
        assert!(limit.take(1, idle + 20_000_000).is_ok());
    }

    #[test]
    fn a_schedule_changes_the_limit_during_the_run() {
        let schedule = [(Duration::ZERO, 1200), (Duration::from_secs(20), 300)];
        let limit = Gcra::scheduled(&schedule, Duration::from_secs(1));
        assert_eq!(limit.limit_at(0), 1200);
        assert_eq!(limit.limit_at(19_999_999_999), 1200);
        assert_eq!(limit.limit_at(20_000_000_000), 300);
        let at = 25_000_000_000;
        for _ in 0..5 {
            assert!(limit.take(1, at).is_ok(), "a second of 300/min is 5 requests");
        }
        assert_eq!(limit.take(1, at), Err(Duration::from_millis(200)));
    }

    #[test]
    fn rpm_schedules_parse_or_say_what_is_wrong() {
        assert_eq!(
            parse_rpm_schedule("0s=1200, 20s=300"),
            Ok(vec![(Duration::ZERO, 1200), (Duration::from_secs(20), 300)])
        );
        for bad in ["", "20s=300", "0s=0", "0s=1200,0s=300", "0s", "x=1"] {
            assert!(parse_rpm_schedule(bad).is_err(), "{bad:?}");
        }
    }
}
