//! The prompts a bench sends: the valid lines of an input file, cycled, or generated prompts
//! of about a given number of tokens. Every request gets its own serial number; synthetic
//! prompts start with it, so that no two share a prefix a provider could cache.

use std::path::Path;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::spec::{PromptSource, Synthetic};
use crate::input::{Entry, LineFormat, Reader, WorkItem};
use crate::job::JobError;
use crate::provider::ApiEndpoint;
use crate::tokens::{count_text, encoding_for_model, estimate_prompt_tokens, Encoding};

/// Distinct synthetic prompt texts; requests cycle through them.
const POOL: usize = 32;

/// Common English words, each one token (with its leading space) in cl100k and o200k.
const WORDS: &[&str] = &[
    "the", "time", "people", "water", "world", "house", "light", "place", "story", "river", "music", "garden", "city",
    "market", "school", "street", "window", "morning", "evening", "winter", "summer", "field", "road", "table",
    "paper", "letter", "friend", "family", "answer", "question", "number", "system", "problem", "power", "money",
    "company", "group", "country", "service", "point", "line", "game", "night", "week", "year", "study", "book",
    "word", "work", "plan", "team", "state", "case", "hand", "part", "child", "eye", "fact", "life", "day", "way",
    "thing", "man", "woman", "idea", "body", "face", "door", "car", "dog", "food", "tree", "sun", "rain", "bird",
    "fire", "stone",
];

/// Hands out the next prompt of a bench, for ever.
pub(crate) struct Prompts {
    kind: Kind,
    /// Requests handed out so far.
    sent: u64,
}

enum Kind {
    File(Vec<WorkItem>),
    Synthetic {
        texts: Vec<String>,
        max_tokens: u32,
        endpoint: ApiEndpoint,
    },
}

/// What loading the prompts found out, for the summary and the notices.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PromptInfo {
    /// Valid prompts (file) or distinct generated texts.
    pub distinct: usize,
    /// Input lines that were not valid requests (not sent).
    pub rejected: u64,
    /// Prompt tokens of the first prompt, as the tokenizer of `model` counts them.
    pub input_tokens: u64,
}

impl Prompts {
    /// Loads or generates the prompts; `model` picks the tokenizer that sizes synthetic ones.
    /// `endpoint` is where synthetic prompts and short lines go.
    pub fn load(
        source: &PromptSource,
        model: &str,
        seed: u64,
        endpoint: ApiEndpoint,
    ) -> Result<(Prompts, PromptInfo), JobError> {
        match source {
            PromptSource::File(path) => Self::from_file(path, model, endpoint),
            PromptSource::Synthetic(synthetic) => Ok(Self::synthetic(*synthetic, model, seed, endpoint)),
        }
    }

    fn from_file(path: &Path, model: &str, endpoint: ApiEndpoint) -> Result<(Prompts, PromptInfo), JobError> {
        let mut items = Vec::new();
        let mut rejected = 0;
        for entry in Reader::open(path)?.with_endpoint(endpoint) {
            match entry? {
                Entry::Item(item) => items.push(item),
                Entry::Rejected(_) => rejected += 1,
            }
        }
        let Some(first) = items.first() else {
            return Err(JobError::Setup(format!(
                "{}: no valid request in the file ({rejected} invalid lines; `sheepdog run {} --dry-run` says why)",
                path.display(),
                path.display()
            )));
        };
        let input_tokens = estimate_prompt_tokens(model, &Value::Object(first.body.clone()));
        let info = PromptInfo {
            distinct: items.len(),
            rejected,
            input_tokens,
        };
        Ok((
            Prompts {
                kind: Kind::File(items),
                sent: 0,
            },
            info,
        ))
    }

    fn synthetic(synthetic: Synthetic, model: &str, seed: u64, endpoint: ApiEndpoint) -> (Prompts, PromptInfo) {
        let (encoding, _) = encoding_for_model(model);
        // The request around the text: framing, role and reply priming, plus the serial number.
        let overhead = estimate_prompt_tokens(model, &user_body("0000 x")) - 1;
        let target = u64::from(synthetic.input_tokens).saturating_sub(overhead).max(1);
        let mut rng = SmallRng::seed_from_u64(seed);
        let texts: Vec<String> = (0..POOL).map(|_| text_of(target, encoding, &mut rng)).collect();
        let input_tokens = estimate_prompt_tokens(model, &user_body(&format!("0000 {}", texts[0])));
        let info = PromptInfo {
            distinct: texts.len(),
            rejected: 0,
            input_tokens,
        };
        let kind = Kind::Synthetic {
            texts,
            max_tokens: synthetic.output_tokens,
            endpoint,
        };
        (Prompts { kind, sent: 0 }, info)
    }

    /// The model the first prompt names, if any (synthetic prompts name none).
    pub fn first_model(&self) -> Option<&str> {
        match &self.kind {
            Kind::File(items) => items.first().and_then(WorkItem::model),
            Kind::Synthetic { .. } => None,
        }
    }

    /// The next request. Its `line` is its serial number (1-based) within the bench.
    pub fn next(&mut self) -> WorkItem {
        self.sent += 1;
        let n = self.sent;
        match &self.kind {
            Kind::File(items) => {
                let mut item = items[(n - 1) as usize % items.len()].clone();
                item.id = format!("{}#{n}", item.id);
                item.line = n;
                item
            }
            Kind::Synthetic {
                texts,
                max_tokens,
                endpoint,
            } => {
                let text = &texts[(n - 1) as usize % texts.len()];
                let body = endpoint.synthetic_body(&format!("{n:04} {text}"), *max_tokens);
                WorkItem {
                    id: format!("synthetic-{n}"),
                    line: n,
                    format: LineFormat::Short,
                    endpoint: *endpoint,
                    body,
                    metadata: None,
                }
            }
        }
    }
}

fn user_body(content: &str) -> Value {
    json!({"messages": [{"role": "user", "content": content}]})
}

/// Random words adding up to `target` tokens (a few more or less after the corrections).
fn text_of(target: u64, encoding: Encoding, rng: &mut SmallRng) -> String {
    let mut words: Vec<&str> = (0..target).map(|_| WORDS[rng.random_range(0..WORDS.len())]).collect();
    for _ in 0..4 {
        let count = count_text(encoding, &words.join(" "));
        if count == target {
            break;
        }
        if count > target {
            let excess = (count - target) as usize;
            words.truncate(words.len().saturating_sub(excess).max(1));
        } else {
            words.extend((count..target).map(|_| WORDS[rng.random_range(0..WORDS.len())]));
        }
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_prompts_have_about_the_asked_tokens_and_differ() {
        let spec = Synthetic {
            input_tokens: 512,
            output_tokens: 64,
        };
        let (mut prompts, info) =
            Prompts::load(&PromptSource::Synthetic(spec), "gpt-4.1-mini", 1, ApiEndpoint::Chat).unwrap();
        assert_eq!(info.distinct, POOL);
        assert!((500..=524).contains(&info.input_tokens), "{} tokens", info.input_tokens);
        let a = prompts.next();
        let b = prompts.next();
        assert_ne!(a.body["messages"], b.body["messages"]);
        assert_eq!(a.body["max_tokens"], 64);
        assert_eq!((a.line, b.line), (1, 2));
        let tokens = estimate_prompt_tokens("gpt-4.1-mini", &Value::Object(b.body.clone()));
        assert!((500..=524).contains(&tokens), "{tokens} tokens");
        for _ in 0..POOL {
            prompts.next();
        }
        let again = prompts.next();
        let text = |item: &WorkItem| item.body["messages"][0]["content"].as_str().unwrap().to_string();
        assert!(text(&again).starts_with(&format!("{:04} ", again.line)));
    }

    #[test]
    fn file_prompts_cycle_and_bad_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.jsonl");
        std::fs::write(
            &path,
            "{\"id\":\"a\",\"prompt\":\"one\"}\nnot json\n{\"id\":\"b\",\"prompt\":\"two\"}\n",
        )
        .unwrap();
        let (mut prompts, info) =
            Prompts::load(&PromptSource::File(path.clone()), "gpt-4.1", 0, ApiEndpoint::Chat).unwrap();
        assert_eq!((info.distinct, info.rejected), (2, 1));
        let ids: Vec<String> = (0..3).map(|_| prompts.next().id).collect();
        assert_eq!(ids, ["a#1", "b#2", "a#3"]);

        std::fs::write(&path, "not json\n").unwrap();
        let err = Prompts::load(&PromptSource::File(path.clone()), "gpt-4.1", 0, ApiEndpoint::Chat)
            .err()
            .unwrap();
        assert!(err.to_string().contains("no valid request"), "{err}");
        assert_eq!(err.exit(), crate::Exit::Usage);
        let missing = Prompts::load(
            &PromptSource::File(dir.path().join("nope.jsonl")),
            "m",
            0,
            ApiEndpoint::Chat,
        )
        .err()
        .unwrap();
        assert!(missing.to_string().contains("nope.jsonl"), "{missing}");
    }
}
