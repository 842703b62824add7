//! The mock's prompt cache, like OpenAI's automatic one: a prompt of at least
//! [`MIN_PROMPT_TOKENS`] tokens is cut into blocks of [`BLOCK_CHARS`] characters (128 tokens as
//! the mock counts them), each named by a hash chained over the blocks before it; the leading
//! blocks seen before are reported in `usage.prompt_tokens_details.cached_tokens`. Shorter
//! prompts are never cached, so short test prompts report 0 as before.

use std::collections::HashSet;
use std::sync::Mutex;

use serde_json::Value;

use super::reply::Fnv;

/// Characters per cache block (128 tokens as the mock counts them).
pub(crate) const BLOCK_CHARS: usize = 512;
/// Prompts shorter than this are not cached.
pub(crate) const MIN_PROMPT_TOKENS: u32 = 1024;
/// Blocks remembered at most; the cache is emptied when it is full.
const CAPACITY: usize = 1 << 20;

/// The chained hashes of the whole blocks of `messages` (roles and text contents, in order).
pub(crate) fn blocks(messages: &[Value]) -> Vec<u64> {
    let mut text = String::new();
    for message in messages {
        if let Some(role) = message.get("role").and_then(Value::as_str) {
            text.push_str(role);
            text.push('\n');
        }
        match message.get("content") {
            Some(Value::String(content)) => text.push_str(content),
            Some(Value::Array(parts)) => {
                for part in parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)) {
                    text.push_str(part);
                }
            }
            _ => {}
        }
        text.push('\n');
    }
    let chars: Vec<char> = text.chars().collect();
    let mut previous = 0u64;
    chars
        .chunks_exact(BLOCK_CHARS)
        .map(|block| {
            let mut hash = Fnv::new();
            hash.write(&previous.to_le_bytes());
            let mut buffer = [0u8; 4];
            for c in block {
                hash.write(c.encode_utf8(&mut buffer).as_bytes());
            }
            previous = hash.finish();
            previous
        })
        .collect()
}

#[derive(Debug, Default)]
pub(crate) struct PrefixCache {
    seen: Mutex<HashSet<u64>>,
}

impl PrefixCache {
    /// Tokens of the leading blocks already seen (at most `prompt_tokens`); remembers them all.
    pub fn lookup(&self, blocks: &[u64], prompt_tokens: u32) -> u32 {
        if blocks.is_empty() || prompt_tokens < MIN_PROMPT_TOKENS {
            return 0;
        }
        let Ok(mut seen) = self.seen.lock() else {
            return 0;
        };
        let hits = blocks.iter().take_while(|b| seen.contains(b)).count();
        if seen.len() + blocks.len() > CAPACITY {
            seen.clear();
        }
        seen.extend(blocks.iter().copied());
        let tokens = (hits * BLOCK_CHARS / 4) as u64;
        u32::try_from(tokens).unwrap_or(u32::MAX).min(prompt_tokens)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_repeated_prefix_is_reported_cached_and_a_new_prompt_is_not() {
        let cache = PrefixCache::default();
        let prefix = "shared context ".repeat(400);
        let first = [json!({"role": "user", "content": format!("{prefix} question one")})];
        let second = [json!({"role": "user", "content": format!("{prefix} question two")})];
        assert_eq!(cache.lookup(&blocks(&first), 2000), 0, "nothing seen yet");
        let cached = cache.lookup(&blocks(&second), 2000);
        // The prefix is 6,005 characters with the role: 11 whole blocks of 512 are shared.
        assert_eq!(cached, 11 * BLOCK_CHARS as u32 / 4);
        let other = [json!({"role": "user", "content": "other ".repeat(1000)})];
        assert_eq!(cache.lookup(&blocks(&other), 1500), 0);
        assert_eq!(cache.lookup(&blocks(&second), 1100), 1100, "never more than the prompt");
        assert_eq!(cache.lookup(&blocks(&second), 1000), 0, "a short prompt is not cached");
    }
}
