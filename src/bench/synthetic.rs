//! `--synthetic`: the lengths of generated prompts and answers, fixed or drawn from a
//! distribution, and a prefix shared by a share of the requests (to measure a prompt cache).
//!
//! `in=512,out=128` · `in=normal:512:128,out=uniform:64:256` · `prefix=2000,prefix-share=0.8`

use std::str::FromStr;

use rand::Rng;

/// Shortest synthetic prompt: the chat framing alone takes about 8 tokens.
pub const MIN_SYNTHETIC_INPUT: u32 = 16;

/// A number of tokens: fixed, or drawn for each request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Length {
    Fixed(u32),
    /// Rounded, and at least the smallest length allowed.
    Normal {
        mean: f64,
        std: f64,
    },
    /// Every whole number from `min` to `max` equally likely.
    Uniform {
        min: u32,
        max: u32,
    },
}

impl Length {
    /// The mean of the lengths drawn (before the lower bound).
    pub fn mean(&self) -> f64 {
        match *self {
            Length::Fixed(n) => f64::from(n),
            Length::Normal { mean, .. } => mean,
            Length::Uniform { min, max } => (f64::from(min) + f64::from(max)) / 2.0,
        }
    }

    /// One length, at least `floor`.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R, floor: u32) -> u32 {
        let n = match *self {
            Length::Fixed(n) => n,
            Length::Normal { mean, std } => {
                // Box-Muller; `1 - u` keeps ln's argument above 0.
                let (u1, u2): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random());
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (mean + z * std).round().clamp(0.0, f64::from(u32::MAX)) as u32
            }
            Length::Uniform { min, max } => rng.random_range(min..=max),
        };
        n.max(floor)
    }

    /// `512`, `normal:512:128`, `uniform:64:256`.
    pub fn label(&self) -> String {
        match *self {
            Length::Fixed(n) => n.to_string(),
            Length::Normal { mean, std } => format!("normal:{mean}:{std}"),
            Length::Uniform { min, max } => format!("uniform:{min}:{max}"),
        }
    }

    /// `N`, `fixed:N`, `normal:MEAN:STD` or `uniform:MIN:MAX`; `min`: the least length allowed.
    fn parse(text: &str, min: u32) -> Result<Length, String> {
        let parts: Vec<&str> = text.split(':').map(str::trim).collect();
        let tokens = |t: &str| {
            t.parse::<u32>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("`{t}` is not a number of tokens (1 or more)"))
        };
        let number = |t: &str| {
            t.parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n >= 0.0)
                .ok_or_else(|| format!("`{t}` is not a number of tokens"))
        };
        let length = match parts.as_slice() {
            [n] | ["fixed", n] => Length::Fixed(tokens(n)?),
            ["normal", mean, std] => Length::Normal {
                mean: number(mean)?,
                std: number(std)?,
            },
            ["uniform", lo, hi] => {
                let (min, max) = (tokens(lo)?, tokens(hi)?);
                if min > max {
                    return Err(format!("uniform:{min}:{max}: the least length comes first"));
                }
                Length::Uniform { min, max }
            }
            _ => {
                return Err(format!(
                    "`{text}` is not a length: write N, normal:MEAN:STD or uniform:MIN:MAX"
                ))
            }
        };
        let least = match length {
            Length::Fixed(n) => f64::from(n),
            Length::Normal { mean, .. } => mean,
            Length::Uniform { min, .. } => f64::from(min),
        };
        if least < f64::from(min) {
            return Err(format!(
                "{} is too short: a prompt takes at least {min} tokens with its framing",
                length.label()
            ));
        }
        Ok(length)
    }
}

/// `--synthetic`: generated prompts of about `input` tokens, `max_tokens` drawn from `output`,
/// and the first `prefix` tokens shared by `prefix_share` of the requests (on top of `input`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Synthetic {
    pub input: Length,
    pub output: Length,
    /// Tokens of the shared prefix (0: none).
    pub prefix: u32,
    /// Share of the requests that start with it.
    pub prefix_share: f64,
}

impl Default for Synthetic {
    fn default() -> Self {
        Synthetic {
            input: Length::Fixed(512),
            output: Length::Fixed(128),
            prefix: 0,
            prefix_share: 0.0,
        }
    }
}

impl Synthetic {
    /// `in=512,out=128`, with the prefix when there is one.
    pub fn label(&self) -> String {
        let mut label = format!("in={},out={}", self.input.label(), self.output.label());
        if self.prefix > 0 {
            label.push_str(&format!(",prefix={},prefix-share={}", self.prefix, self.prefix_share));
        }
        label
    }
}

impl FromStr for Synthetic {
    type Err = String;

    /// `in=512,out=128,prefix=2000,prefix-share=0.8`; a key left out keeps its default (512
    /// in, 128 out, no prefix; a prefix is shared by every request unless `prefix-share` says).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut synthetic = Synthetic::default();
        let mut share = None;
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not KEY=VALUE: write e.g. in=512,out=128"))?;
            let value = value.trim();
            let in_part = |e: String| format!("{e} (in `{part}`)");
            match key.trim() {
                "in" | "input" => synthetic.input = Length::parse(value, MIN_SYNTHETIC_INPUT).map_err(in_part)?,
                "out" | "output" => synthetic.output = Length::parse(value, 1).map_err(in_part)?,
                "prefix" => {
                    synthetic.prefix = value
                        .parse::<u32>()
                        .map_err(|_| in_part(format!("`{value}` is not a number of tokens")))?
                }
                "prefix-share" | "prefix_share" => {
                    share = Some(crate::config::file::parse_share(value).map_err(in_part)?);
                }
                other => {
                    return Err(format!(
                        "unknown key `{other}` in `{part}`: the keys are in, out, prefix and prefix-share"
                    ))
                }
            }
        }
        match (synthetic.prefix, share) {
            (0, Some(_)) => return Err("prefix-share needs prefix=TOKENS, the length of the shared prefix".into()),
            (0, None) => {}
            (_, share) => synthetic.prefix_share = share.unwrap_or(1.0),
        }
        Ok(synthetic)
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn reads_fixed_lengths_distributions_and_a_prefix() {
        let s: Synthetic = "in=512,out=128".parse().unwrap();
        assert_eq!(
            (s.input, s.output, s.prefix),
            (Length::Fixed(512), Length::Fixed(128), 0)
        );
        assert_eq!(s.label(), "in=512,out=128");
        let s: Synthetic = "out=16".parse().unwrap();
        assert_eq!((s.input, s.output), (Length::Fixed(512), Length::Fixed(16)));
        let s: Synthetic = "in=normal:512:128,out=uniform:64:256,prefix=2000,prefix-share=80%"
            .parse()
            .unwrap();
        assert_eq!(
            s.input,
            Length::Normal {
                mean: 512.0,
                std: 128.0
            }
        );
        assert_eq!(s.output, Length::Uniform { min: 64, max: 256 });
        assert_eq!((s.prefix, s.prefix_share), (2000, 0.8));
        assert_eq!(
            s.label(),
            "in=normal:512:128,out=uniform:64:256,prefix=2000,prefix-share=0.8"
        );
        let s: Synthetic = "prefix=100".parse().unwrap();
        assert_eq!(s.prefix_share, 1.0);
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let err = |t: &str| t.parse::<Synthetic>().unwrap_err();
        assert!(err("in=x").contains("`x` is not a number of tokens"), "{}", err("in=x"));
        assert!(err("in=0").contains("1 or more"));
        assert!(err("size=5").contains("unknown key `size`"));
        assert!(err("512").contains("is not KEY=VALUE"));
        assert!(err("in=4").contains("too short"));
        assert!(err("in=normal:8:2").contains("too short"));
        assert!(err("out=uniform:9:3").contains("least length comes first"));
        assert!(err("out=poisson:3").contains("normal:MEAN:STD"));
        assert!(err("out=normal:64:-1").contains("not a number"));
        assert!(err("prefix-share=0.5").contains("needs prefix"));
        assert!(err("prefix=10,prefix-share=2").contains("not a share"));
    }

    #[test]
    fn drawn_lengths_have_the_asked_mean_and_spread() {
        let mut rng = SmallRng::seed_from_u64(7);
        let n = 20_000;
        let normal = Length::Normal {
            mean: 512.0,
            std: 128.0,
        };
        let draws: Vec<f64> = (0..n).map(|_| f64::from(normal.sample(&mut rng, 1))).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let std = (draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        assert!((mean - 512.0).abs() < 512.0 * 0.02, "mean {mean}");
        assert!((std - 128.0).abs() < 128.0 * 0.05, "std {std}");
        let uniform = Length::Uniform { min: 64, max: 256 };
        let draws: Vec<u32> = (0..n).map(|_| uniform.sample(&mut rng, 1)).collect();
        let mean = draws.iter().map(|&d| f64::from(d)).sum::<f64>() / n as f64;
        assert!((mean - 160.0).abs() < 160.0 * 0.02, "mean {mean}");
        assert!(draws.iter().all(|d| (64..=256).contains(d)));
        assert!(draws.contains(&64) && draws.contains(&256), "both ends drawn");
        let floor = Length::Normal { mean: 20.0, std: 50.0 };
        assert!((0..1000).all(|_| floor.sample(&mut rng, 16) >= 16));
    }
}
