//! The two exposition formats: OpenMetrics (what `prometheus-client` writes) for a scraper that
//! asks for it, and Prometheus' classic text format 0.0.4 for every other client (older
//! Prometheus servers, promtool, curl, the Pushgateway), chosen by the `Accept` header.

/// Content type of OpenMetrics text.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the classic text format.
pub const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Which format to answer a request with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Classic,
}

impl Format {
    /// OpenMetrics when `accept` lists it (with a quality above 0), else the classic format.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else { return Format::Classic };
        let wanted = accept.split(',').any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f64>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
        });
        if wanted {
            Format::OpenMetrics
        } else {
            Format::Classic
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS,
            Format::Classic => CLASSIC,
        }
    }
}

/// OpenMetrics text → classic text: counters are named with their `_total` in HELP and TYPE,
/// `unknown` becomes `untyped`, `# UNIT` and `# EOF` go, and HELP keeps only the escapes the
/// classic format knows (`\\` and `\n`).
pub fn to_classic(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let rename = |name: &str| -> String {
        if counters.contains(&name) && !name.ends_with("_total") {
            format!("{name}_total")
        } else {
            name.to_string()
        }
    };
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push_str(&format!("# HELP {} {}\n", rename(name), help.replace("\\\"", "\"")));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let kind = match kind {
                "unknown" => "untyped",
                other => other,
            };
            out.push_str(&format!("# TYPE {} {kind}\n", rename(name)));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_gets_openmetrics_and_everyone_else_classic() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;\
                          q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("text/plain;version=0.0.4")), Format::Classic);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Classic);
        assert_eq!(Format::negotiate(None), Format::Classic);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0, text/plain")),
            Format::Classic
        );
    }

    #[test]
    fn counters_get_their_total_and_openmetrics_lines_go() {
        let text = "# HELP a_requests Requests \\\"sent\\\".\n# TYPE a_requests counter\n\
                    a_requests_total{target=\"x\"} 3\n# HELP a_seconds Latency.\n# TYPE a_seconds histogram\n\
                    # UNIT a_seconds seconds\na_seconds_sum 1.0\n# EOF\n";
        assert_eq!(
            to_classic(text),
            "# HELP a_requests_total Requests \"sent\".\n# TYPE a_requests_total counter\n\
             a_requests_total{target=\"x\"} 3\n# HELP a_seconds Latency.\n# TYPE a_seconds histogram\n\
             a_seconds_sum 1.0\n"
        );
    }
}
