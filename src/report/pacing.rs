//! "Why the run took the time it took", per target: what the rate controller judged and
//! learned, and what requests waited for. Shared by the Markdown, HTML and terminal reports;
//! shown only when some target has something to say (a run that never met a limit shows
//! nothing).

use crate::stats::summary::{Summary, TargetPacing, TargetSummary};

use super::fmt;

/// Column titles of [`rows`].
pub const HEADERS: [&str; 7] = [
    "target",
    "learned limit",
    "waited for it",
    "waited for Retry-After",
    "waited for breaker",
    "429s at the limit",
    "429s noise",
];

/// One row per target with something to say.
pub fn rows(s: &Summary) -> Vec<[String; 7]> {
    s.targets
        .iter()
        .filter(|t| t.pacing != TargetPacing::default())
        .map(|t| {
            let p = &t.pacing;
            [
                t.name.clone(),
                p.learned_rpm
                    .map(|rpm| format!("{}/min", fmt::int(rpm.round() as u64)))
                    .unwrap_or_else(|| "none".into()),
                seconds(p.learned_wait_s),
                seconds(p.retry_after_wait_s),
                seconds(p.breaker_wait_s),
                fmt::int(p.rate_limited_at_limit),
                fmt::int(p.rate_limited_noise),
            ]
        })
        .collect()
}

/// Sentences under the table: the changes of the learned limits and the Retry-After caps.
pub fn notes(s: &Summary) -> Vec<String> {
    let mut notes = Vec::new();
    for t in &s.targets {
        notes.extend(changes(t));
        let p = &t.pacing;
        if p.retry_after_capped > 0 {
            let cap = p.max_retry_after_s.map(seconds).unwrap_or_else(|| "the cap".into());
            notes.push(format!(
                "{}: {} Retry-After value(s) longer than retry.max_retry_after were cut to {cap}.",
                t.name,
                fmt::int(p.retry_after_capped)
            ));
        }
    }
    notes
}

/// What the wait columns mean, for the reports that explain their figures.
pub const EXPLANATION: &str = "Waits are summed over requests (two requests waiting 1 s count 2 s). \
    The controller cuts a target's rate only when 429s stand out and fall when it sends slower \
    (\"at the limit\"); 429s at a steady share are noise and only delay the item that got them.";

fn changes(t: &TargetSummary) -> Option<String> {
    let changes = &t.pacing.learned_changes;
    if changes.is_empty() {
        return None;
    }
    const SHOWN: usize = 8;
    let mut parts: Vec<String> = changes
        .iter()
        .take(SHOWN)
        .map(|c| {
            let rpm = c.rpm.map_or("not paced".to_string(), |r| {
                format!("{}/min", fmt::int(r.round() as u64))
            });
            format!("{:.1} s {rpm} ({})", c.at_s, c.why)
        })
        .collect();
    if changes.len() > SHOWN {
        parts.push(format!("and {} more", changes.len() - SHOWN));
    }
    Some(format!("{}: learned limit changed at {}.", t.name, parts.join("; ")))
}

fn seconds(s: f64) -> String {
    if s <= 0.0 || !s.is_finite() {
        "0 s".into()
    } else if s < 10.0 {
        format!("{s:.1} s")
    } else {
        format!("{} s", fmt::int(s.round() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::fixture;
    use crate::stats::summary::LearnedChange;

    #[test]
    fn only_targets_with_something_to_say_are_shown() {
        let mut s = fixture::summary();
        assert!(rows(&s).is_empty() && notes(&s).is_empty());
        s.targets[0].pacing = TargetPacing {
            rate_limited_at_limit: 12,
            rate_limited_noise: 3,
            learned_rpm: Some(2910.4),
            learned_changes: vec![LearnedChange {
                at_s: 1.25,
                rpm: Some(2910.4),
                why: "x-ratelimit headers".into(),
            }],
            learned_wait_s: 42.0,
            retry_after_wait_s: 1.5,
            breaker_wait_s: 0.0,
            retry_after_capped: 2,
            max_retry_after_s: Some(600.0),
        };
        let rows = rows(&s);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][1], "2,910/min");
        assert_eq!(&rows[0][2..], ["42 s", "1.5 s", "0 s", "12", "3"]);
        let notes = notes(&s);
        assert!(notes[0].contains("1.2 s 2,910/min (x-ratelimit headers)"), "{notes:?}");
        assert!(
            notes[1].contains("2 Retry-After value(s)") && notes[1].contains("600 s"),
            "{notes:?}"
        );
    }
}
