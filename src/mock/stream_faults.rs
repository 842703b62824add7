//! Stream faults the mock injects: how a streamed answer breaks, parsed from
//! `--stream-fault truncate=P,disconnect=P,stall=P,malformed=P,error=P`.

use super::faults::{parse_probability, SUM_SLACK};

/// How an injected stream fault breaks a streamed answer (after a random number of content
/// chunks, fewer than the reply has).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamFaultKind {
    /// The body ends cleanly, without `finish_reason`, usage chunk or `[DONE]`.
    Truncate,
    /// The connection is dropped in the middle of the body.
    Disconnect,
    /// Nothing is sent for `MockConfig::stream_stall`, then the stream goes on.
    Stall,
    /// One `data:` line is not JSON; the stream then goes on normally.
    Malformed,
    /// An OpenAI-shaped `{"error": ...}` event, then the body ends.
    Error,
}

impl StreamFaultKind {
    pub const ALL: [StreamFaultKind; 5] = [
        StreamFaultKind::Truncate,
        StreamFaultKind::Disconnect,
        StreamFaultKind::Stall,
        StreamFaultKind::Malformed,
        StreamFaultKind::Error,
    ];

    /// The name used by `--stream-fault`.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamFaultKind::Truncate => "truncate",
            StreamFaultKind::Disconnect => "disconnect",
            StreamFaultKind::Stall => "stall",
            StreamFaultKind::Malformed => "malformed",
            StreamFaultKind::Error => "error",
        }
    }
}

/// Parses the CLI form of stream faults, `truncate=0.05,disconnect=0.01,stall=0.01,
/// malformed=0.01,error=0.01` (probabilities 0..=1 or percentages, each kind once, sum <= 1).
/// An empty string means none.
pub fn parse_stream_faults(s: &str) -> Result<Vec<(StreamFaultKind, f64)>, String> {
    let mut faults = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (kind, probability) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}` is not KIND=PROBABILITY (e.g. truncate=0.05)"))?;
        let kind = StreamFaultKind::ALL
            .into_iter()
            .find(|k| k.as_str() == kind.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = StreamFaultKind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown stream fault `{}`: the kinds are {}",
                    kind.trim(),
                    names.join(", ")
                )
            })?;
        faults.push((kind, parse_probability(probability.trim(), part)?));
    }
    validate_stream_faults(&faults)?;
    Ok(faults)
}

/// Checks a stream fault list: each kind once, probabilities 0..=1 adding up to <= 1.
pub(crate) fn validate_stream_faults(faults: &[(StreamFaultKind, f64)]) -> Result<(), String> {
    let mut sum = 0.0;
    for (i, &(kind, probability)) in faults.iter().enumerate() {
        if !(probability.is_finite() && (0.0..=1.0).contains(&probability)) {
            return Err(format!(
                "stream fault probability {probability} for {} is not in 0..=1",
                kind.as_str()
            ));
        }
        if faults[..i].iter().any(|&(earlier, _)| earlier == kind) {
            return Err(format!("stream fault {} is listed twice", kind.as_str()));
        }
        sum += probability;
    }
    if sum > 1.0 + SUM_SLACK {
        return Err(format!("stream fault probabilities add up to {sum}, more than 1"));
    }
    Ok(())
}

/// Which stream fault (if any) to inject, given a uniform draw `r` in [0, 1).
pub(crate) fn draw_stream_fault(faults: &[(StreamFaultKind, f64)], r: f64) -> Option<StreamFaultKind> {
    let mut upto = 0.0;
    for &(kind, probability) in faults {
        upto += probability;
        if r < upto {
            return Some(kind);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_stream_faults_reads_every_kind() {
        assert_eq!(
            parse_stream_faults("truncate=0.05"),
            Ok(vec![(StreamFaultKind::Truncate, 0.05)])
        );
        assert_eq!(
            parse_stream_faults("truncate = 5%, disconnect=0.1,stall=0.1,malformed=0.1,error=0.1"),
            Ok(vec![
                (StreamFaultKind::Truncate, 0.05),
                (StreamFaultKind::Disconnect, 0.1),
                (StreamFaultKind::Stall, 0.1),
                (StreamFaultKind::Malformed, 0.1),
                (StreamFaultKind::Error, 0.1),
            ])
        );
        assert_eq!(parse_stream_faults(""), Ok(vec![]));
        let unknown = parse_stream_faults("hiccup=0.1").unwrap_err();
        assert!(unknown.contains("unknown stream fault `hiccup`"), "{unknown}");
        assert!(
            unknown.contains("truncate, disconnect, stall, malformed, error"),
            "{unknown}"
        );
        let bad = parse_stream_faults("truncate=2").unwrap_err();
        assert!(bad.contains("`2` in `truncate=2` is not a probability"), "{bad}");
        let err = |s: &str| parse_stream_faults(s).unwrap_err();
        assert!(err("truncate").contains("KIND=PROBABILITY"));
        assert!(err("stall=0.1,stall=0.2").contains("listed twice"));
        assert!(err("stall=0.6,error=0.6").contains("add up to 1.2"));
    }

    #[test]
    fn stream_fault_draw_is_cumulative() {
        let faults = [(StreamFaultKind::Stall, 0.25), (StreamFaultKind::Error, 0.25)];
        assert_eq!(draw_stream_fault(&faults, 0.1), Some(StreamFaultKind::Stall));
        assert_eq!(draw_stream_fault(&faults, 0.4), Some(StreamFaultKind::Error));
        assert_eq!(draw_stream_fault(&faults, 0.6), None);
    }
}
