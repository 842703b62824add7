//! `sheepdog models`: the route's targets with the price each is charged at, and every price in
//! effect grouped by where it was loaded from.

use std::fmt::Write as _;

use crate::config::Config;
use crate::pricing::Price;

/// The whole `models` listing.
pub fn render(config: &Config) -> String {
    let mut out = String::from("Targets (route order):\n");
    for &t in &config.route {
        let target = &config.targets[t];
        let provider = config.provider_of(target);
        let model = target.model.as_deref().unwrap_or("(per line)");
        let price = target
            .model
            .as_deref()
            .and_then(|m| config.prices.get(m))
            .map(|p| {
                format!(
                    "${} / ${} / ${} per 1M (in / cached / out), {} {} [{}]",
                    p.input,
                    p.cached_input.unwrap_or(p.input),
                    p.output,
                    p.source,
                    p.date,
                    origin_of(config, p)
                )
            })
            .unwrap_or_else(|| "no price".into());
        let _ = writeln!(out, "  {} = {} on {}: {}", target.name, model, provider.name, price);
    }
    out.push_str(&prices_in_effect(config));
    out
}

/// Where a price was loaded from.
pub fn origin_of(config: &Config, price: &Price) -> String {
    if price.is_builtin() {
        "built-in table".to_string()
    } else if config
        .source
        .as_ref()
        .is_some_and(|s| s.display().to_string() == price.origin)
    {
        format!("job file {}", price.origin)
    } else if price.origin.is_empty() {
        "job config".to_string()
    } else {
        format!("--prices {}", price.origin)
    }
}

/// Every price in effect, grouped by where it was loaded from (built-in table first).
pub fn prices_in_effect(config: &Config) -> String {
    let mut groups: Vec<(String, Vec<(&str, &Price)>)> = Vec::new();
    for (model, price) in config.prices.iter() {
        let origin = origin_of(config, price);
        match groups.iter_mut().find(|g| g.0 == origin) {
            Some(group) => group.1.push((model, price)),
            None => groups.push((origin, vec![(model, price)])),
        }
    }
    groups.sort_by_key(|g| !g.0.starts_with("built-in"));
    let number = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    let mut out = String::from("\nPrices in effect (USD per 1M tokens)\n");
    for (origin, prices) in groups {
        let _ = writeln!(out, "\nfrom the {origin}:");
        let _ = writeln!(
            out,
            "  {:<32} {:>8} {:>8} {:>8} {:>10} {:>10}  source (date)",
            "model", "input", "cached", "output", "batch in", "batch out"
        );
        for (model, p) in prices {
            let date = if p.date.is_empty() {
                String::new()
            } else {
                format!(" ({})", p.date)
            };
            let _ = writeln!(
                out,
                "  {model:<32} {:>8} {:>8} {:>8} {:>10} {:>10}  {}{date}",
                p.input,
                p.cached_input.unwrap_or(p.input),
                p.output,
                number(p.batch_input),
                number(p.batch_output),
                p.source
            );
        }
    }
    out
}
