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
    let bins = bins(&histogram, BINS);
    let items = if ids[0] == "latency-histogram" {
        "every succeeded item"
    } else {
        "every succeeded streamed item"
    };
    let ratio = bins.first().map_or(1.0, |b| b.hi / b.lo);
    let caption = format!(
        "{what} of {items}, from the fastest to the slowest in {BINS} bars on a logarithmic axis \
         (each bar {ratio:.2}× as wide as the one before), so a slow outlier adds a bar on the \
         right instead of squeezing the others into one."
    );
    out.push(Figure {
        id: ids[0],
        title: format!("{what}: histogram"),
        caption,
        svg: charts::histogram(&bins, &format!("{} (ms, log scale)", what.to_lowercase()), "items"),
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

/// The smallest lower edge of a histogram bar: 1 µs (a logarithmic axis cannot start at 0).
const MIN_MS: f64 = 0.001;

/// `n` bars of equal width on a logarithmic axis, from the minimum to the maximum, in
/// milliseconds: each bar spans the same ratio, so every value has its bar and one slow outlier
/// does not squeeze the others into one.
pub fn bins(h: &Histogram<u64>, n: usize) -> Vec<Bin> {
    let ms = |us: u64| us as f64 / 1000.0;
    let n = n.max(1);
    let lo = ms(h.min()).max(MIN_MS);
    let max = ms(h.highest_equivalent(h.max()));
    // Just above the largest value, so that it falls inside the last bar.
    let hi = (max * 1.000_001).max(lo * 2.0);
    let ratio = (hi / lo).powf(1.0 / n as f64);
    let mut bins: Vec<Bin> = (0..n)
        .map(|i| Bin {
            lo: lo * ratio.powi(i as i32),
            hi: lo * ratio.powi(i as i32 + 1),
            count: 0,
        })
        .collect();
    for v in h.iter_recorded() {
        let x = ms(h.highest_equivalent(v.value_iterated_to())).max(lo);
        let index = ((x / lo).ln() / ratio.ln()).floor().max(0.0) as usize;
        bins[index.min(n - 1)].count += v.count_at_value();
    }
    bins
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
    // Only when the rate controller changed the limit: a flat line says nothing.
    let limits = || timeline.max_concurrency_limit.iter().flatten();
    if limits().min() != limits().max() {
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
    fn bins_are_logarithmic_so_one_slow_outlier_leaves_the_others_their_bars() {
        let mut h = new_histogram();
        for i in 0..100u64 {
            record_us(&mut h, 10_000 + i * 100);
        }
        record_us(&mut h, 60_000_000);
        let bins = bins(&h, 40);
        assert_eq!(bins.len(), 40);
        assert_eq!(bins.iter().map(|b| b.count).sum::<u64>(), 101);
        // The 100 values of 10..20 ms fill several bars, not one; the minute has the last.
        let regular = bins.iter().filter(|b| b.hi <= 30.0 && b.count > 0).count();
        assert!(regular >= 3, "{bins:?}");
        assert_eq!(bins[39].count, 1);
        assert!((bins[0].lo - 10.0).abs() < 0.01 && bins[39].hi >= 60_000.0);
        let ratios: Vec<f64> = bins.iter().map(|b| b.hi / b.lo).collect();
        assert!(
            ratios.iter().all(|r| (r - ratios[0]).abs() < 1e-6),
            "equal width on a log axis"
        );
    }

    #[test]
    fn the_histogram_svg_has_a_log_axis_label_and_one_bar_per_non_empty_bin() {
        let mut h = new_histogram();
        for us in [1_000u64, 2_000, 4_000, 8_000, 9_000_000] {
            record_us(&mut h, us);
        }
        let bins = bins(&h, 40);
        let svg = charts::histogram(&bins, "latency (ms, log scale)", "items").unwrap();
        assert!(svg.contains("latency (ms, log scale)"));
        let bars = svg.matches("<rect").count();
        let non_empty = bins.iter().filter(|b| b.count > 0).count();
        assert_eq!(non_empty, 5);
        assert!(bars >= non_empty, "{bars} rects");
    }

    #[test]
    fn the_concurrency_limit_chart_is_shown_only_when_the_limit_changed() {
        let has_chart = |limits: Vec<Option<u32>>| {
            let mut s = fixture::summary();
            s.timeline.max_concurrency_limit = limits;
            figures(&s).iter().any(|f| f.id == "concurrency-limit")
        };
        assert!(!has_chart(vec![Some(16), Some(16), None, Some(16)]));
        assert!(!has_chart(vec![None, None]));
        assert!(has_chart(vec![Some(16), Some(8), Some(12)]));
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
