//! `sheepdog models`: the route's targets with the price each is charged at, a count of prices
//! per source, or (`--all`) every price in effect grouped by source.

use std::fmt::Write as _;

use crate::config::Config;
use crate::pricing::{Price, PriceOrigin};

/// The whole `models` listing; `all`: every price, else a count per source.
pub fn render(config: &Config, all: bool) -> String {
    let mut out = String::from("Targets (route order):\n");
    for &t in &config.route {
        let target = &config.targets[t];
        let provider = config.provider_of(target);
        let model = target.model.as_deref().unwrap_or("(per line)");
        let price = match target.model.as_deref() {
            Some(m) => match config.prices.get(m) {
                Some(p) => describe_price(p),
                None => config.prices.missing_hint(m),
            },
            None => "priced per line's model".into(),
        };
        let _ = writeln!(out, "  {} = {} on {}: {}", target.name, model, provider.name, price);
    }
    if all {
        out.push_str(&prices_in_effect(config));
    } else {
        out.push_str(&prices_per_source(config));
    }
    out
}

/// Where a price was loaded from, for `sheepdog models`.
pub fn origin_of(origin: &PriceOrigin) -> String {
    match origin {
        PriceOrigin::BuiltIn => "built-in table".to_string(),
        PriceOrigin::JobFile(Some(path)) => format!("job file {path}"),
        PriceOrigin::JobFile(None) => "job config".to_string(),
        PriceOrigin::LiteLlm(path) | PriceOrigin::PriceFile(path) => format!("--prices {path}"),
    }
}

/// One price on one line: base prices, cache write, batch and size tiers, and where it is from.
pub fn describe_price(p: &Price) -> String {
    let mut text = format!(
        "${} / ${} / ${} per 1M (in / cached / out)",
        p.input,
        p.cached_input.unwrap_or(p.input),
        p.output
    );
    if let Some(write) = p.cache_write {
        text.push_str(&format!(", cache write ${write}"));
    }
    if let (Some(i), Some(o)) = (p.batch_input, p.batch_output) {
        text.push_str(&format!(", batch ${i} / ${o}"));
    }
    if !p.tiers.is_empty() {
        text.push_str(&format!(", {}", tiers_text(p)));
    }
    let date = if p.date.is_empty() {
        String::new()
    } else {
        format!(" {}", p.date)
    };
    text.push_str(&format!(", {}{date} [{}]", p.source, origin_of(&p.origin)));
    text
}

/// `above 200k: $2.5 / $15` for each size tier.
fn tiers_text(p: &Price) -> String {
    let tiers: Vec<String> = p
        .tiers
        .iter()
        .map(|t| {
            let rates = p.rates(t.above_tokens + 1);
            format!("above {}k: ${} / ${}", t.above_tokens / 1000, rates.input, rates.output)
        })
        .collect();
    tiers.join(", ")
}

/// How many prices each source gives, and what a price file import skipped.
pub fn prices_per_source(config: &Config) -> String {
    let mut counts: Vec<(&PriceOrigin, usize)> = Vec::new();
    for (_, price) in config.prices.iter() {
        match counts.iter_mut().find(|c| *c.0 == price.origin) {
            Some(count) => count.1 += 1,
            None => counts.push((&price.origin, 1)),
        }
    }
    // The built-in table first, the others in the order met.
    counts.sort_by_key(|c| *c.0 != PriceOrigin::BuiltIn);
    let mut out = format!("\nPrices in effect: {}\n", config.prices.len());
    for (origin, count) in counts {
        let origin = origin_of(origin);
        let _ = writeln!(out, "  {count:>6} from the {origin}");
    }
    for notice in config.notices.iter().filter(|n| n.starts_with("--prices ")) {
        let _ = writeln!(out, "  {notice}");
    }
    out.push_str("`sheepdog models --all` lists every price.\n");
    out
}

/// Every price in effect, grouped by where it was loaded from (built-in table first), the
/// source and date said once per group.
pub fn prices_in_effect(config: &Config) -> String {
    type Group<'a> = ((&'a PriceOrigin, &'a str), Vec<(&'a str, &'a Price)>);
    let mut groups: Vec<Group<'_>> = Vec::new();
    for (model, price) in config.prices.iter() {
        let key = (&price.origin, price.source.as_str());
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(group) => group.1.push((model, price)),
            None => groups.push((key, vec![(model, price)])),
        }
    }
    // The built-in table first, then by what the listing says.
    groups.sort_by_cached_key(|((origin, source), _)| {
        (**origin != PriceOrigin::BuiltIn, origin_of(origin), source.to_string())
    });
    let number = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    let mut out = String::from("\nPrices in effect (USD per 1M tokens)\n");
    for ((origin, source), prices) in groups {
        let _ = writeln!(out, "\nfrom the {}, source {source}:", origin_of(origin));
        let _ = writeln!(
            out,
            "  {:<40} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9}  {:<10}  tiers",
            "model", "input", "cached", "write", "output", "batch in", "batch out", "date"
        );
        for (model, p) in prices {
            let line = format!(
                "  {model:<40} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9}  {:<10}  {}",
                p.input,
                p.cached_input.unwrap_or(p.input),
                p.cache_write.unwrap_or(p.input),
                p.output,
                number(p.batch_input),
                number(p.batch_output),
                p.date,
                tiers_text(p)
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    out
}
