//! Deterministic replies: the same messages always give the same text and token counts,
//! whatever the seed or the order requests arrive in.

use serde::Serialize;
use serde_json::Value;

/// Words replies are made of; one word is one completion token.
const VOCABULARY: &[&str] = &[
    "the", "flock", "moves", "across", "green", "hills", "while", "a", "patient", "dog", "keeps", "every", "sheep",
    "together", "under", "quiet", "morning", "light", "and", "wind", "carries", "distant", "bells", "through",
    "valley", "where", "shepherd", "counts", "each", "lamb", "near", "stone", "walls", "gate", "opens", "slowly", "as",
    "clouds", "drift", "over", "meadow", "grass", "bends", "soft", "rain", "falls", "on", "fields", "river", "runs",
    "past", "old", "barn", "evening", "comes", "home", "safe", "warm", "fold", "rest", "night", "stars", "watch",
    "sleeping",
];

/// Shortest and longest reply when the length is derived from the prompt.
const MIN_WORDS: u64 = 16;
const MAX_WORDS: u64 = 64;

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// The splitmix64 finalizer: a fast, stable 64-bit mixer.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a over bytes, stable across platforms and Rust versions (unlike `DefaultHasher`).
#[derive(Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Fnv {
    pub fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub fn finish(self) -> u64 {
        mix(self.0)
    }
}

impl std::io::Write for Fnv {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Fnv::write(self, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A short, non-reversible fingerprint of an API key (32 bits: many keys share each value).
pub(crate) fn key_fingerprint(key: &str) -> u32 {
    let mut h = Fnv::new();
    h.write(b"sheepdog-mock-key:");
    h.write(key.as_bytes());
    (h.finish() >> 32) as u32
}

/// What the reply depends on: the messages' fingerprint and their approximate token count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Prompt {
    pub hash: u64,
    pub tokens: u32,
}

impl Prompt {
    /// Fingerprints `messages` and approximates their tokens: per message ceil(chars / 4) of
    /// its text content + 4, plus 3 for the reply's priming.
    pub fn of(messages: &[Value]) -> Prompt {
        let mut hash = Fnv::new();
        // Serializing a `Value` into a hasher cannot fail; a failure would only change the hash.
        let _ = serde_json::to_writer(&mut hash, messages);
        let mut tokens: u64 = 3;
        for message in messages {
            let chars = match message.get("content") {
                Some(Value::String(text)) => text.chars().count(),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|part| part.get("text").and_then(Value::as_str))
                    .map(|text| text.chars().count())
                    .sum(),
                _ => 0,
            };
            tokens += 4 + (chars as u64).div_ceil(4);
        }
        Prompt {
            hash: hash.finish(),
            tokens: u32::try_from(tokens).unwrap_or(u32::MAX),
        }
    }
}

/// The reply to one prompt: how many words, and why it stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub hash: u64,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub finish_reason: &'static str,
    /// Prompt tokens served from the mock's prefix cache.
    pub cached_tokens: u32,
}

impl Reply {
    /// `fixed` is the configured length (else 16..=64 from the hash); `cap` the request's
    /// `max_tokens` / `max_completion_tokens`, which cuts the reply with `finish_reason: length`.
    pub fn new(prompt: Prompt, fixed: Option<u32>, cap: Option<u32>) -> Reply {
        let full = fixed.unwrap_or_else(|| {
            let span = MAX_WORDS - MIN_WORDS + 1;
            (MIN_WORDS + mix(prompt.hash ^ GOLDEN) % span) as u32
        });
        let (completion_tokens, finish_reason) = match cap {
            Some(cap) if cap < full => (cap, "length"),
            _ => (full, "stop"),
        };
        Reply {
            hash: prompt.hash,
            prompt_tokens: prompt.tokens,
            completion_tokens,
            finish_reason,
            cached_tokens: 0,
        }
    }

    /// The reply's words, one per completion token.
    pub fn words(&self) -> Words {
        Words {
            state: self.hash,
            remaining: self.completion_tokens,
        }
    }

    /// The whole reply text: the words joined by single spaces.
    pub fn text(&self) -> String {
        let mut text = String::with_capacity(self.completion_tokens as usize * 8);
        for (i, word) in self.words().enumerate() {
            if i > 0 {
                text.push(' ');
            }
            text.push_str(word);
        }
        text
    }

    pub fn usage(&self) -> UsageBody {
        UsageBody {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            total_tokens: u64::from(self.prompt_tokens) + u64::from(self.completion_tokens),
            prompt_tokens_details: PromptDetails {
                cached_tokens: self.cached_tokens,
            },
            completion_tokens_details: CompletionDetails { reasoning_tokens: 0 },
        }
    }
}

/// The configured reply length for a prompt: `mean`, or with `std > 0` a normal draw around it
/// (at least 1), seeded by the prompt so that the same messages always get the same length.
/// `None` when no length is configured (it is then derived from the prompt).
pub(crate) fn reply_length(prompt: &Prompt, mean: Option<u32>, std: f64, seed: u64) -> Option<u32> {
    let mean = mean?;
    if std <= 0.0 || !std.is_finite() {
        return Some(mean);
    }
    // Box-Muller on two draws from the prompt's own generator; `1 - u` keeps ln's argument > 0.
    let mut state = mix(prompt.hash ^ seed ^ GOLDEN);
    let mut uniform = || {
        state = mix(state.wrapping_add(GOLDEN));
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let (u1, u2) = (1.0 - uniform(), uniform());
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    Some((f64::from(mean) + z * std).round().clamp(1.0, f64::from(u32::MAX)) as u32)
}

/// The words of a reply, generated on the fly (splitmix64 seeded with the prompt hash).
pub(crate) struct Words {
    state: u64,
    remaining: u32,
}

impl Iterator for Words {
    type Item = &'static str;

    fn next(&mut self) -> Option<&'static str> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        self.state = self.state.wrapping_add(GOLDEN);
        let index = (mix(self.state) % VOCABULARY.len() as u64) as usize;
        VOCABULARY.get(index).copied()
    }
}

/// `usage` as OpenAI sends it.
#[derive(Serialize, Clone, Copy, Debug)]
pub(crate) struct UsageBody {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u64,
    pub prompt_tokens_details: PromptDetails,
    pub completion_tokens_details: CompletionDetails,
}

#[derive(Serialize, Clone, Copy, Debug)]
pub(crate) struct PromptDetails {
    pub cached_tokens: u32,
}

#[derive(Serialize, Clone, Copy, Debug)]
pub(crate) struct CompletionDetails {
    pub reasoning_tokens: u32,
}

/// A non-streamed chat completion body.
#[derive(Serialize)]
pub(crate) struct Completion<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub system_fingerprint: &'static str,
    pub choices: [Choice<'a>; 1],
    pub usage: UsageBody,
}

#[derive(Serialize)]
pub(crate) struct Choice<'a> {
    pub index: u32,
    pub message: Message<'a>,
    pub logprobs: Option<()>,
    pub finish_reason: &'static str,
}

#[derive(Serialize)]
pub(crate) struct Message<'a> {
    pub role: &'static str,
    pub content: &'a str,
}

/// Renders the non-streamed answer.
pub(crate) fn completion_json(reply: &Reply, id: &str, created: u64, model: &str) -> String {
    let text = reply.text();
    let body = Completion {
        id,
        object: "chat.completion",
        created,
        model,
        system_fingerprint: "fp_mock",
        choices: [Choice {
            index: 0,
            message: Message {
                role: "assistant",
                content: &text,
            },
            logprobs: None,
            finish_reason: reply.finish_reason,
        }],
        usage: reply.usage(),
    };
    // Serializing these plain structs cannot fail.
    serde_json::to_string(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prompt_tokens_count_strings_and_text_parts() {
        let messages = [
            json!({"role": "system", "content": "abcdefgh"}), // 2 + 4
            json!({"role": "user", "content": [{"type": "text", "text": "abcde"},
                                               {"type": "image_url", "image_url": {"url": "x"}}]}), // 2 + 4
            json!({"role": "assistant", "content": null}),    // 0 + 4
        ];
        assert_eq!(Prompt::of(&messages).tokens, 2 + 4 + 2 + 4 + 4 + 3);
    }

    #[test]
    fn reply_length_spreads_around_the_mean_but_is_stable_per_prompt() {
        let prompts: Vec<Prompt> = (0..2000)
            .map(|i| Prompt::of(&[json!({"role": "user", "content": format!("prompt {i}")})]))
            .collect();
        assert_eq!(reply_length(&prompts[0], None, 5.0, 1), None);
        assert_eq!(reply_length(&prompts[0], Some(50), 0.0, 1), Some(50));
        let lengths: Vec<f64> = prompts
            .iter()
            .map(|p| f64::from(reply_length(p, Some(100), 10.0, 7).unwrap()))
            .collect();
        let mean = lengths.iter().sum::<f64>() / lengths.len() as f64;
        let var = lengths.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / lengths.len() as f64;
        assert!((mean - 100.0).abs() < 1.5, "mean {mean}");
        assert!((var.sqrt() - 10.0).abs() < 1.0, "std {}", var.sqrt());
        assert_eq!(
            reply_length(&prompts[3], Some(100), 10.0, 7),
            reply_length(&prompts[3], Some(100), 10.0, 7)
        );
    }

    #[test]
    fn reply_length_is_capped_and_reported() {
        let prompt = Prompt::of(&[json!({"role": "user", "content": "hi"})]);
        let full = Reply::new(prompt, None, None);
        assert!((16..=64).contains(&full.completion_tokens));
        assert_eq!(full.finish_reason, "stop");
        assert_eq!(full.words().count() as u32, full.completion_tokens);
        let capped = Reply::new(prompt, None, Some(5));
        assert_eq!((capped.completion_tokens, capped.finish_reason), (5, "length"));
        assert!(full.text().starts_with(&capped.text()));
        let fixed = Reply::new(prompt, Some(3), Some(10));
        assert_eq!((fixed.completion_tokens, fixed.finish_reason), (3, "stop"));
    }
}
