//! The budget as the user writes it (`--max-cost 25`, `--max-cost 180CNY`, `[run] max_cost`)
//! and the rate from a target's prices (USD list prices, or its provider's billing) to it.

use crate::pricing::currency::{parse_code, Billing, Money, USD};

/// `--max-cost`: an amount in a currency, with the rate to USD when one is needed.
#[derive(Debug, Clone, PartialEq)]
pub struct MaxCost {
    pub amount: f64,
    /// Upper-case code.
    pub currency: String,
    /// `--fx` / `run.fx`: units of `currency` per USD, for prices in USD.
    pub fx: Option<f64>,
    /// Where it was set (`--max-cost` or `run.max_cost`), for messages.
    pub key: String,
}

impl MaxCost {
    /// `25`, `25.50`, `$25`, `25USD`, `180CNY`, `180 cny`.
    pub fn parse(text: &str) -> Result<(f64, String), String> {
        let trimmed = text.trim();
        let (number, currency) = match trimmed.strip_prefix('$') {
            Some(rest) => (rest.trim(), USD),
            None => {
                let split = trimmed
                    .char_indices()
                    .rev()
                    .take_while(|(_, c)| c.is_ascii_alphabetic())
                    .last()
                    .map_or(trimmed.len(), |(i, _)| i);
                let (number, code) = trimmed.split_at(split);
                (number.trim(), code)
            }
        };
        let amount = number
            .parse::<f64>()
            .ok()
            .filter(|a| a.is_finite() && *a > 0.0)
            .ok_or_else(|| format!("{text:?} is not a budget: write an amount > 0, e.g. 25 (USD) or 180CNY"))?;
        let currency = if currency.is_empty() {
            USD.to_string()
        } else {
            parse_code(currency)?
        };
        Ok((amount, currency))
    }

    /// The currency amounts are shown in.
    pub fn money(&self) -> Money {
        Money {
            currency: self.currency.clone(),
            fx: self.fx.unwrap_or(1.0),
        }
    }
}

/// Units of the budget's currency per USD of list price at a provider billed `billing`
/// (`None`: at list price, in USD). `Err` says what is missing.
pub fn factor(max: &MaxCost, billing: Option<&Billing>) -> Result<f64, String> {
    let currency = max.currency.as_str();
    let fx = || {
        max.fx.ok_or_else(|| {
            format!("prices are in USD: give --fx RATE (the {currency} paid for 1 USD) to budget in {currency}")
        })
    };
    match billing {
        None if currency == USD => Ok(1.0),
        None => fx(),
        Some(b) if b.currency == currency => Ok(b.per_usd),
        Some(b) if b.currency == USD => Ok(b.per_usd * if currency == USD { 1.0 } else { fx()? }),
        Some(b) => Err(format!(
            "its provider bills in {}: give the budget in {} (e.g. --max-cost 100{})",
            b.currency, b.currency, b.currency
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max(currency: &str, fx: Option<f64>) -> MaxCost {
        MaxCost {
            amount: 10.0,
            currency: currency.into(),
            fx,
            key: "--max-cost".into(),
        }
    }

    #[test]
    fn amounts_with_and_without_a_currency() {
        assert_eq!(MaxCost::parse("25").unwrap(), (25.0, "USD".into()));
        assert_eq!(MaxCost::parse("$25.5").unwrap(), (25.5, "USD".into()));
        assert_eq!(MaxCost::parse("180CNY").unwrap(), (180.0, "CNY".into()));
        assert_eq!(MaxCost::parse(" 180 cny ").unwrap(), (180.0, "CNY".into()));
        assert!(MaxCost::parse("0").unwrap_err().contains("amount > 0"));
        assert!(MaxCost::parse("-3").is_err());
        assert!(MaxCost::parse("lots").is_err());
        assert!(MaxCost::parse("NaN").is_err());
        assert!(MaxCost::parse("25yuan").unwrap_err().contains("not a currency code"));
    }

    #[test]
    fn factors_follow_billing_and_the_rate() {
        assert_eq!(factor(&max("USD", None), None), Ok(1.0));
        assert!(factor(&max("CNY", None), None).unwrap_err().contains("--fx"));
        assert_eq!(factor(&max("CNY", Some(7.1)), None), Ok(7.1));
        let gateway = Billing::new("CNY", 1.0).unwrap();
        assert_eq!(factor(&max("CNY", None), Some(&gateway)), Ok(1.0));
        assert!(factor(&max("USD", None), Some(&gateway))
            .unwrap_err()
            .contains("bills in CNY"));
        let markup = Billing::new("USD", 1.2).unwrap();
        assert_eq!(factor(&max("USD", None), Some(&markup)), Ok(1.2));
        assert!((factor(&max("CNY", Some(7.0)), Some(&markup)).unwrap() - 8.4).abs() < 1e-12);
    }
}
