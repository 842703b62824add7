//! Whether a step saturated the server: more load bought no more throughput.
//!
//! Open loop: the requests that ended fall short of the rate offered (judged on `--duration`
//! steps only: with `--requests` the window ends with the last answer, so achieved req/s is
//! always below the rate). Requests take time: when the warm-up is shorter than the fastest
//! answer, the start of the window sees no answers yet, so the rate expected is scaled by the
//! share of the window in which answers could end. Closed loop: against the nearest lighter step, throughput grew by
//! less than half of what the extra concurrency offered while median latency grew (the server
//! queues instead of serving).

use super::summary::StepReport;
use crate::load::trim_float;

/// Open loop: achieved below this share of the offered rate is saturation.
const OPEN_LOOP_SHORTFALL: f64 = 0.9;
/// Closed loop: throughput must grow at least this share of the concurrency's growth.
const CLOSED_LOOP_GROWTH: f64 = 0.5;
/// Closed loop: median e2e latency grew by more than this share...
const LATENCY_GROWTH: f64 = 0.2;
/// ... and by more than this many milliseconds (noise on a fast server is not a queue).
const LATENCY_GROWTH_MIN_MS: f64 = 5.0;

/// Why `step` is saturated, or `None`. `lighter`: the heaviest step run before at a lower load,
/// if any; `warmup`: the warm-up in seconds when the step had a fixed `--duration` window.
pub fn saturated(step: &StepReport, lighter: Option<&StepReport>, warmup: Option<f64>) -> Option<String> {
    if let Some(rate) = step.load.rate {
        let warmup = warmup?;
        let fastest_s = step.summary.latency_ms.min / 1000.0;
        let window = step.window_s.max(f64::EPSILON);
        let answering = ((warmup + window - fastest_s) / window).clamp(0.0, 1.0);
        let shortfall = step.achieved_rps < OPEN_LOOP_SHORTFALL * rate * answering;
        return (shortfall && step.requests > 0).then(|| {
            format!(
                "saturated: achieved {} req/s of {} offered",
                trim_float(step.achieved_rps),
                trim_float(rate)
            )
        });
    }
    let (now, before) = (step.load.concurrency?, lighter?.load.concurrency?);
    let lighter = lighter?;
    if before >= now || lighter.achieved_rps <= 0.0 {
        return None;
    }
    let load_growth = now as f64 / before as f64 - 1.0;
    let rps_growth = step.achieved_rps / lighter.achieved_rps - 1.0;
    let (p50, p50_before) = (step.summary.latency_ms.p50, lighter.summary.latency_ms.p50);
    let latency_grew = p50 > p50_before * (1.0 + LATENCY_GROWTH) && p50 - p50_before > LATENCY_GROWTH_MIN_MS;
    (rps_growth < CLOSED_LOOP_GROWTH * load_growth && latency_grew).then(|| {
        format!(
            "saturated: concurrency {before} → {now} moved throughput {} → {} req/s while median latency rose {} → {} ms",
            trim_float(lighter.achieved_rps),
            trim_float(step.achieved_rps),
            trim_float(p50_before),
            trim_float(p50),
        )
    })
}
