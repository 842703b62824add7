//! Which charts a run's report shows, and the numbers each one is drawn from. Pure functions of
//! the [`Summary`]: the HdrHistograms and the timeline it carries.

use hdrhistogram::Histogram;

use super::charts::{self, Bin, Line, FAILURE, PALETTE};
use crate::stats::decode_histogram;
use crate::stats::summary::Summary;
use crate::stats::timeline::Timeline;

/// Bars of a latency histogram.
const BINS: usize = 40;
/// Percentiles drawn in a CDF: every percent, and the tail.
const TAIL: [f64; 4] = [99.5, 99.9, 99.99, 100.0];

/// One chart of the page.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Stable id, used as the HTML element id (`chart-<id>`) and by the page checks.
    pub id: &'static str,
    pub title: String,
    /// What the chart shows, in a sentence.
    pub caption: String,
    /// The `<svg>` element, or why it could not be drawn.
    pub svg: Result<String, String>,
}

/// The charts of a run, in page order. Charts without data (no success, nothing streamed) are
/// left out rather than drawn empty.
pub fn figures(s: &Summary) -> Vec<Figure> {
    let mut out = Vec::new();
    if s.latency_ms.count > 0 {
        distribution(
            &mut out,
            s,
            &s.histograms.latency_us,
            ["latency-histogram", "latency-cdf"],
            "Latency",
        );
    }
    if let Some(ttft) = &s.histograms.ttft_us {
        distribution(&mut out, s, ttft, ["ttft-histogram", "ttft-cdf"], "Time to first token");
    }
    if let Some(itl) = &s.histograms.itl_us {
        distribution(&mut out, s, itl, ["itl-histogram", "itl-cdf"], "Inter-token latency");
    }
    if !s.timeline.is_empty() {
        over_time(&mut out, &s.timeline);
    }
    let costs: Vec<(String, f64)> = s
        .targets
        .iter()
        .filter(|t| t.requests > 0)
        .filter_map(|t| t.cost_usd.map(|c| (t.name.clone(), c)))
        .collect();
    if costs.iter().any(|c| c.1 > 0.0) {
        let unpriced: Vec<&str> = s
            .targets
            .iter()
            .filter(|t| t.requests > 0 && t.cost_usd.is_none())
            .map(|t| t.name.as_str())
            .collect();
        let mut caption = "Cost of the requests each target answered, at its price in USD.".to_string();
        if !unpriced.is_empty() {
            caption.push_str(&format!(" Not shown (no price): {}.", unpriced.join(", ")));
        }
        out.push(Figure {
            id: "cost-by-target",
            title: "Cost by target".into(),
            caption,
            svg: charts::bars(&costs, "cost (USD)"),
        });
    }
    out
}

/// Histogram and CDF of one metric; the CDF has a line per target when there are several.
fn distribution(out: &mut Vec<Figure>, s: &Summary, encoded: &str, ids: [&'static str; 2], what: &str) {
    let histogram = match decode_histogram(encoded) {
        Ok(h) if !h.is_empty() => h,
        Ok(_) => return,
        Err(e) => {
            for id in ids {
                out.push(Figure {
                    id,
                    title: what.to_string(),
                    caption: String::new(),
                    svg: Err(format!("the histogram in summary.json cannot be read: {e}")),
                });
            }
            return;
        }
    };
    let (bins, cap) = bins(&histogram, BINS);
    let items = if ids[0] == "latency-histogram" {
        "every succeeded item"
    } else {
        "every succeeded streamed item"
    };
    let mut caption = format!("{what} of {items}, in {BINS} bars.");
    if let Some(cap) = cap {
        caption.push_str(&format!(
            " Values above p99.9 ({}) are counted in the last bar.",
            super::fmt::ms_short(cap)
        ));
    }
    out.push(Figure {
        id: ids[0],
        title: format!("{what}: histogram"),
        caption,
        svg: charts::histogram(&bins, &format!("{} (ms)", what.to_lowercase()), "items"),
    });

    let mut lines = vec![Line {
        name: "all".into(),
        color: PALETTE[0],
        points: cdf(&histogram),
        markers: false,
    }];
    // Per-target lines only for latency, the metric the summary keeps per target.
    if ids[0] == "latency-histogram" && s.histograms.targets.len() > 1 {
        for (i, t) in s.histograms.targets.iter().enumerate() {
            if let Ok(h) = decode_histogram(&t.latency_us) {
                if !h.is_empty() {
                    lines.push(Line {
                        name: t.target.clone(),
                        color: PALETTE[(i + 1) % PALETTE.len()],
                        points: cdf(&h),
                        markers: false,
                    });
                }
            }
        }
    }
    let per_target = if lines.len() > 1 {
        " One line for all items and one per target (every successful request at that target)."
    } else {
        ""
    };
    out.push(Figure {
        id: ids[1],
        title: format!("{what}: cumulative distribution"),
        caption: format!("Share of items with this {} or less.{per_target}", what.to_lowercase()),
        svg: charts::lines(
            &lines,
            &format!("{} (ms)", what.to_lowercase()),
            "% of items",
            Some(100.0),
        ),
    });
}

/// `n` equal bars from the minimum to p99.9 (larger values go in the last bar, and the cap is
/// returned); milliseconds.
pub fn bins(h: &Histogram<u64>, n: usize) -> (Vec<Bin>, Option<f64>) {
    let ms = |us: u64| us as f64 / 1000.0;
    let lo = ms(h.min());
    let p999 = ms(h.value_at_quantile(0.999));
    let max = ms(h.max());
    let hi = if p999 > lo { p999 } else { lo + 1.0 };
    let width = (hi - lo) / n as f64;
    let mut bins: Vec<Bin> = (0..n)
        .map(|i| Bin {
            lo: lo + i as f64 * width,
            hi: lo + (i + 1) as f64 * width,
            count: 0,
        })
        .collect();
    for v in h.iter_recorded() {
        let x = ms(h.highest_equivalent(v.value_iterated_to()));
        let index = (((x - lo) / width).floor().max(0.0) as usize).min(n - 1);
        bins[index].count += v.count_at_value();
    }
    (bins, (max > hi).then_some(hi))
}

/// `(value ms, percent)` at every percentile and the tail.
pub fn cdf(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    (0..100)
        .map(f64::from)
        .chain(TAIL)
        .map(|p| (h.value_at_quantile(p / 100.0) as f64 / 1000.0, p))
        .collect()
}

/// Requests answered and failed per second, and the concurrency limit when it was tracked.
fn over_time(out: &mut Vec<Figure>, timeline: &Timeline) {
    let width = timeline.width_s();
    let steps = |column: &[u64], scale: f64| -> Vec<(f64, f64)> {
        column
            .iter()
            .enumerate()
            .flat_map(|(i, &n)| {
                let v = n as f64 * scale;
                [(timeline.start_s(i), v), (timeline.start_s(i) + width, v)]
            })
            .collect()
    };
    let bucket = if timeline.bucket_ms < 1000 {
        format!("in {} ms buckets", timeline.bucket_ms)
    } else {
        format!("in {} s buckets", timeline.bucket_ms as f64 / 1000.0)
    };
    out.push(Figure {
        id: "throughput-over-time",
        title: "Throughput over time".into(),
        caption: format!("Requests answered per second, {bucket}, by the time each request ended."),
        svg: charts::lines(
            &[Line {
                name: "answered requests/s".into(),
                color: PALETTE[0],
                points: steps(&timeline.ok, 1.0 / width),
                markers: false,
            }],
            "time since start (s)",
            "answered requests/s",
            None,
        ),
    });
    out.push(Figure {
        id: "tokens-over-time",
        title: "Output tokens over time".into(),
        caption: format!("Output tokens received per second, {bucket}, by the time each answer ended."),
        svg: charts::lines(
            &[Line {
                name: "output tokens/s".into(),
                color: PALETTE[2],
                points: steps(&timeline.output_tokens, 1.0 / width),
                markers: false,
            }],
            "time since start (s)",
            "output tokens/s",
            None,
        ),
    });
    let failed: u64 = timeline.failed.iter().sum();
    out.push(Figure {
        id: "errors-over-time",
        title: "Errors over time".into(),
        caption: format!(
            "Failed requests per second ({failed} in all, retried ones included), {bucket}, by the time each request ended."
        ),
        svg: charts::lines(
            &[Line {
                name: "failed requests/s".into(),
                color: FAILURE,
                points: steps(&timeline.failed, 1.0 / width),
                markers: false,
            }],
            "time since start (s)",
            "failed requests/s",
            None,
        ),
    });
    if timeline.max_concurrency_limit.iter().any(Option::is_some) {
        let points = timeline
            .max_concurrency_limit
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.map(|l| (timeline.start_s(i) + width / 2.0, f64::from(l))))
            .collect();
        out.push(Figure {
            id: "concurrency-limit",
            title: "Concurrency limit over time".into(),
            caption: format!("The highest effective concurrency limit of a request sent in each bucket ({bucket})."),
            svg: charts::lines(
                &[Line {
                    name: "limit".into(),
                    color: PALETTE[3],
                    points,
                    markers: false,
                }],
                "time since start (s)",
                "requests in flight allowed",
                None,
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::fixture;
    use crate::stats::{new_histogram, record_us};

    #[test]
    fn bins_count_every_value_and_cap_the_tail() {
        let mut h = new_histogram();
        for ms in 1..=1000u64 {
            record_us(&mut h, ms * 1000);
        }
        record_us(&mut h, 60_000_000);
        let (bins, cap) = bins(&h, 10);
        assert_eq!(bins.len(), 10);
        assert_eq!(bins.iter().map(|b| b.count).sum::<u64>(), 1001);
        assert!(cap.is_some_and(|c| (999.0..=1001.0).contains(&c)), "{cap:?}");
        assert!(bins[9].count >= 2, "the one-minute outlier is in the last bar");
        assert!((bins[0].lo - 1.0).abs() < 0.01);
    }

    #[test]
    fn cdf_is_monotonic_and_ends_at_100() {
        let mut h = new_histogram();
        for us in [100u64, 200, 300, 5_000] {
            record_us(&mut h, us);
        }
        let points = cdf(&h);
        assert!(points.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 < w[1].1));
        assert_eq!(points.last().map(|p| p.1), Some(100.0));
    }

    #[test]
    fn the_sample_run_gets_every_chart_it_has_data_for() {
        let ids: Vec<&str> = figures(&fixture::summary()).iter().map(|f| f.id).collect();
        assert_eq!(
            ids,
            [
                "latency-histogram",
                "latency-cdf",
                "ttft-histogram",
                "ttft-cdf",
                "throughput-over-time",
                "tokens-over-time",
                "errors-over-time",
                "cost-by-target"
            ]
        );
        assert!(figures(&fixture::summary()).iter().all(|f| f.svg.is_ok()));
        assert!(figures(&fixture::empty_summary()).is_empty());
    }

    #[test]
    fn a_broken_histogram_is_reported_not_fatal() {
        let mut s = fixture::summary();
        s.histograms.latency_us = "not base64!".into();
        let figures = figures(&s);
        let latency = figures.iter().find(|f| f.id == "latency-histogram").unwrap();
        assert!(latency.svg.as_ref().unwrap_err().contains("cannot be read"));
        assert!(figures.iter().any(|f| f.id == "throughput-over-time" && f.svg.is_ok()));
    }
}
