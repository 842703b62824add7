//! Currencies: what an amount in USD at list price costs in the currency a team pays in.
//!
//! Two things differ between providers: the exchange rate (`--currency CNY --fx 7.1`: 7.1 CNY per
//! USD) and how a provider bills. A gateway that charges ¥1 for each $1 of list price bills
//! `{ currency = "CNY", per_usd = 1.0 }`: its requests cost 1 CNY per USD, whatever the rate.

use serde::{Deserialize, Serialize};

/// The currency prices are written in.
pub const USD: &str = "USD";

/// How a provider bills: `per_usd` units of `currency` for each USD of list price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Billing {
    pub currency: String,
    pub per_usd: f64,
}

impl Billing {
    /// A billing rate from a job file; `currency` is upper-cased.
    pub fn new(currency: &str, per_usd: f64) -> Result<Billing, (&'static str, String)> {
        let currency = parse_code(currency).map_err(|m| ("currency", m))?;
        if !per_usd.is_finite() || per_usd <= 0.0 {
            return Err((
                "per_usd",
                format!("{per_usd}: must be a number > 0 ({currency} billed per 1 USD of list price)"),
            ));
        }
        Ok(Billing { currency, per_usd })
    }
}

/// A three-letter currency code (ISO 4217 style), upper case.
pub fn parse_code(code: &str) -> Result<String, String> {
    let code = code.trim();
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(code.to_ascii_uppercase())
    } else {
        Err(format!(
            "{code:?} is not a currency code: write three letters, e.g. USD, CNY, EUR"
        ))
    }
}

/// The currency amounts are reported in, and its rate to USD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Money {
    /// Upper-case code.
    pub currency: String,
    /// Units of `currency` per USD (1 for USD).
    pub fx: f64,
}

impl Default for Money {
    fn default() -> Self {
        Money {
            currency: USD.to_string(),
            fx: 1.0,
        }
    }
}

impl Money {
    /// `--currency CODE --fx RATE`: the rate is required for anything but USD.
    pub fn new(currency: Option<&str>, fx: Option<f64>) -> Result<Money, String> {
        let currency = match currency {
            Some(code) => parse_code(code).map_err(|e| format!("--currency: {e}"))?,
            None => USD.to_string(),
        };
        let fx = match (currency.as_str(), fx) {
            (USD, None) => 1.0,
            (USD, Some(1.0)) => 1.0,
            (USD, Some(_)) => return Err("--fx: amounts are in USD already; give --currency too".into()),
            (_, None) => {
                return Err(format!(
                    "--currency {currency} needs --fx RATE, the {currency} paid for 1 USD (e.g. --fx 7.1)"
                ))
            }
            (_, Some(rate)) if !rate.is_finite() || rate <= 0.0 => {
                return Err(format!("--fx: {rate} must be a number > 0 ({currency} per 1 USD)"))
            }
            (_, Some(rate)) => rate,
        };
        Ok(Money { currency, fx })
    }

    /// What 1 USD of list price costs in this currency, for a provider billed `billing`.
    /// `Err` names the currency that cannot be converted.
    pub fn factor(&self, billing: Option<&Billing>) -> Result<f64, String> {
        match billing {
            None => Ok(self.fx),
            Some(b) if b.currency == self.currency => Ok(b.per_usd),
            Some(b) if b.currency == USD => Ok(b.per_usd * self.fx),
            Some(b) => Err(format!(
                "bills in {} ({} {} per USD of list price): report in {} with --currency {} --fx RATE",
                b.currency, b.per_usd, b.currency, b.currency, b.currency
            )),
        }
    }

    /// An amount in this currency: `$0.01234`, `¥1.23`, `€3,890.80`, `12.50 CHF`: cents from 1
    /// unit up, four significant digits below.
    pub fn format(&self, amount: f64) -> String {
        if !amount.is_finite() {
            return "n/a".into();
        }
        let a = amount.abs();
        let number = if a == 0.0 || a >= 1.0 {
            // Whole units with separators and cents: 3,890.80.
            let text = format!("{amount:.2}");
            let (units, cents) = text.split_once('.').unwrap_or((&text, "00"));
            let (sign, digits) = units.strip_prefix('-').map_or(("", units), |d| ("-", d));
            let mut grouped = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i).is_multiple_of(3) {
                    grouped.push(',');
                }
                grouped.push(c);
            }
            format!("{sign}{grouped}.{cents}")
        } else {
            // Four significant digits: 0.004669.
            let decimals = ((-a.log10().floor()) as usize + 3).min(12);
            format!("{amount:.decimals$}")
        };
        match symbol(&self.currency) {
            Some(symbol) => format!("{symbol}{number}"),
            None => format!("{number} {}", self.currency),
        }
    }
}

fn symbol(code: &str) -> Option<&'static str> {
    match code {
        "USD" => Some("$"),
        "CNY" => Some("¥"),
        "EUR" => Some("€"),
        "GBP" => Some("£"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_needs_a_rate_unless_usd() {
        assert_eq!(Money::new(None, None).unwrap(), Money::default());
        let cny = Money::new(Some("cny"), Some(7.1)).unwrap();
        assert_eq!((cny.currency.as_str(), cny.fx), ("CNY", 7.1));
        assert!(Money::new(Some("CNY"), None).unwrap_err().contains("needs --fx"));
        assert!(Money::new(Some("CNY"), Some(0.0)).unwrap_err().contains("> 0"));
        assert!(Money::new(Some("yuan"), Some(7.1))
            .unwrap_err()
            .contains("not a currency code"));
        assert!(Money::new(None, Some(7.1)).unwrap_err().contains("give --currency"));
    }

    #[test]
    fn provider_billing_beats_the_exchange_rate() {
        let cny = Money::new(Some("CNY"), Some(7.1)).unwrap();
        let gateway = Billing::new("cny", 1.0).unwrap();
        assert_eq!(cny.factor(None), Ok(7.1));
        assert_eq!(cny.factor(Some(&gateway)), Ok(1.0));
        let markup = Billing::new("USD", 1.2).unwrap();
        assert!((cny.factor(Some(&markup)).unwrap() - 8.52).abs() < 1e-12);
        let usd = Money::default();
        assert_eq!(usd.factor(Some(&markup)), Ok(1.2));
        assert!(usd.factor(Some(&gateway)).unwrap_err().contains("--currency CNY"));
        assert!(Billing::new("CNY", -1.0).is_err());
    }

    #[test]
    fn amounts_get_their_symbol() {
        let cny = Money::new(Some("CNY"), Some(7.1)).unwrap();
        assert_eq!(cny.format(1.23456), "¥1.23");
        assert_eq!(cny.format(3890.8), "¥3,890.80");
        assert_eq!(cny.format(-1234567.891), "¥-1,234,567.89");
        assert_eq!(cny.format(0.0), "¥0.00");
        assert_eq!(Money::default().format(0.001234), "$0.001234");
        assert_eq!(Money::new(Some("CHF"), Some(0.9)).unwrap().format(150.0), "150.00 CHF");
    }
}
