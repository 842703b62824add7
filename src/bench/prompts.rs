//! The prompts a bench sends: the valid lines of an input file (or the conversations of a
//! ShareGPT file), cycled, or generated prompts of lengths drawn from `--synthetic`. Every
//! request gets its own serial number; synthetic prompts start with it (after the shared
//! prefix, for the requests that have it), so that no two share more than that prefix.

use std::path::Path;
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

use super::lines::{no_valid_request, Lines};
use super::spec::PromptSource;
use super::synthetic::{Synthetic, MIN_SYNTHETIC_INPUT};
use crate::input::{Entry, LineFormat, Reader, WorkItem};
use crate::job::JobError;
use crate::provider::ApiEndpoint;
use crate::tokens::estimate_prompt_tokens;

/// Words drawn once; each synthetic prompt is a run of them from a random place.
const CORPUS: usize = 8192;

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

/// A prompt file up to this size is held in memory; a longer one is read as the requests go
/// ([`Lines`]). Held, a file is read and parsed once however often a bench cycles through it;
/// read as it goes, a long file costs memory only for the prompts in flight.
const HELD_AT_MOST: u64 = 32 * 1024 * 1024;

/// Hands out the next prompt of a bench, for ever (unless its file fails).
pub(crate) struct Prompts {
    kind: Kind,
    /// Requests handed out so far.
    sent: u64,
    /// The model the first prompt names, if any.
    first_model: Option<String>,
}

enum Kind {
    /// A JSONL file longer than [`HELD_AT_MOST`], read as the requests go ([`Lines`]).
    File(Lines),
    /// Prompts held in memory: a shorter file's, a ShareGPT file's conversations, or lines
    /// that cannot be read twice (standard input, a pipe).
    Held(Vec<WorkItem>),
    Synthetic(Box<Generator>),
}

/// Draws each synthetic request: its length, its words, whether it has the shared prefix,
/// its `max_tokens`. Seeded: the same seed gives the same requests.
struct Generator {
    spec: Synthetic,
    /// The endpoint the requests are shaped for.
    endpoint: ApiEndpoint,
    corpus: Vec<&'static str>,
    /// The shared prefix and the newline after it (empty without one).
    prefix: String,
    /// Prompt tokens of the request around the text (framing, role, serial number).
    overhead: u64,
    rng: SmallRng,
}

impl Generator {
    fn new(spec: Synthetic, model: &str, seed: u64, endpoint: ApiEndpoint) -> Generator {
        let mut rng = SmallRng::seed_from_u64(seed);
        let corpus: Vec<&str> = (0..CORPUS).map(|_| WORDS[rng.random_range(0..WORDS.len())]).collect();
        let prefix = if spec.prefix > 0 {
            let start = rng.random_range(0..CORPUS);
            format!("{}\n", words(&corpus, start, u64::from(spec.prefix)))
        } else {
            String::new()
        };
        Generator {
            spec,
            endpoint,
            overhead: estimate_prompt_tokens(model, &user_body("0000 x")) - 1,
            corpus,
            prefix,
            rng,
        }
    }

    /// The body of request `n`.
    fn body(&mut self, n: u64) -> Map<String, Value> {
        let tokens = u64::from(self.spec.input.sample(&mut self.rng, MIN_SYNTHETIC_INPUT));
        let max_tokens = self.spec.output.sample(&mut self.rng, 1);
        let shared = self.spec.prefix > 0 && self.rng.random_bool(self.spec.prefix_share.clamp(0.0, 1.0));
        let start = self.rng.random_range(0..CORPUS);
        let text = words(&self.corpus, start, tokens.saturating_sub(self.overhead).max(1));
        let prefix = if shared { self.prefix.as_str() } else { "" };
        self.endpoint
            .synthetic_body(&format!("{prefix}{n:04} {text}"), max_tokens)
    }
}

/// `count` words of the corpus from `start` on (wrapping), one token each.
fn words(corpus: &[&str], start: usize, count: u64) -> String {
    let mut text = String::with_capacity(count as usize * 7);
    for i in 0..count as usize {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(corpus[(start + i) % corpus.len()]);
    }
    text
}

/// One prompt's tokens by the tokenizer, the report's stand-in for a bench that got no answer:
/// the answers' `usage` says how long the prompts were, in the server's own tokens.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptSize {
    /// Counted when the prompts were generated (the tokenizer sizes synthetic prompts).
    Counted(u64),
    /// A file's first prompt and the model whose tokenizer would count it. Counted only when
    /// asked: loading a tokenizer's tables costs about a tenth of a CPU-second, which a short
    /// bench of long prompts would otherwise pay on top of its requests.
    First {
        model: String,
        body: Arc<Map<String, Value>>,
    },
}

impl PromptSize {
    /// Prompt tokens of the first prompt, as the tokenizer of its model counts them.
    pub fn count(&self) -> u64 {
        match self {
            PromptSize::Counted(tokens) => *tokens,
            PromptSize::First { model, body } => estimate_prompt_tokens(model, &**body),
        }
    }
}

impl Prompts {
    /// Loads or generates the prompts; `model` picks the tokenizer that sizes synthetic ones.
    /// `endpoint` is where synthetic prompts and short lines go.
    pub fn load(
        source: &PromptSource,
        model: &str,
        seed: u64,
        endpoint: ApiEndpoint,
    ) -> Result<(Prompts, PromptSize), JobError> {
        match source {
            PromptSource::File(path) => Self::from_file(path, model, endpoint),
            PromptSource::Synthetic(synthetic) => Ok(Self::synthetic(*synthetic, model, seed, endpoint)),
        }
    }

    fn from_file(path: &Path, model: &str, endpoint: ApiEndpoint) -> Result<(Prompts, PromptSize), JobError> {
        Self::from_file_holding(path, model, endpoint, HELD_AT_MOST)
    }

    /// A file's prompts; a JSONL file longer than `held_at_most` bytes is read as they go.
    fn from_file_holding(
        path: &Path,
        model: &str,
        endpoint: ApiEndpoint,
        held_at_most: u64,
    ) -> Result<(Prompts, PromptSize), JobError> {
        let (kind, first) = if super::sharegpt::detect(path)? {
            let loaded = super::sharegpt::load(path, model)?;
            Self::held(path, loaded.items, loaded.skipped)?
        } else if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > held_at_most) {
            let (lines, first) = Lines::open(path, endpoint)?;
            (Kind::File(lines), first)
        } else {
            let mut items = Vec::new();
            let mut rejected = 0;
            for entry in Reader::open(path)?.with_endpoint(endpoint) {
                match entry? {
                    Entry::Item(item) => items.push(item),
                    Entry::Rejected(_) => rejected += 1,
                }
            }
            Self::held(path, items, rejected)?
        };
        let size = PromptSize::First {
            model: model.to_string(),
            body: first.body.clone(),
        };
        let prompts = Prompts {
            kind,
            sent: 0,
            first_model: first.model().map(str::to_string),
        };
        Ok((prompts, size))
    }

    /// Prompts kept in memory, and the first of them; `rejected`: the lines left out.
    fn held(path: &Path, items: Vec<WorkItem>, rejected: u64) -> Result<(Kind, WorkItem), JobError> {
        let Some(first) = items.first().cloned() else {
            return Err(no_valid_request(path, rejected));
        };
        Ok((Kind::Held(items), first))
    }

    fn synthetic(synthetic: Synthetic, model: &str, seed: u64, endpoint: ApiEndpoint) -> (Prompts, PromptSize) {
        // The first request's size, from a generator of its own: the same seed, the same requests.
        let first = Generator::new(synthetic, model, seed, endpoint).body(1);
        let size = PromptSize::Counted(estimate_prompt_tokens(model, &Value::Object(first)));
        let prompts = Prompts {
            kind: Kind::Synthetic(Box::new(Generator::new(synthetic, model, seed, endpoint))),
            sent: 0,
            first_model: None,
        };
        (prompts, size)
    }

    /// The model the first prompt names, if any (synthetic prompts name none).
    pub fn first_model(&self) -> Option<&str> {
        self.first_model.as_deref()
    }

    /// The next request, `None` once a file's prompts have ended ([`Prompts::failure`] says
    /// why). Its `line` is its serial number (1-based) within the bench.
    pub async fn next(&mut self) -> Option<WorkItem> {
        let n = self.sent + 1;
        let numbered = |mut item: WorkItem| {
            item.id = format!("{}#{n}", item.id);
            item.line = n;
            item
        };
        let item = match &mut self.kind {
            Kind::File(lines) => numbered(lines.next().await?),
            Kind::Held(items) => numbered(items[(n - 1) as usize % items.len()].clone()),
            Kind::Synthetic(generator) => {
                let body = generator.body(n);
                let endpoint = &generator.endpoint;
                WorkItem {
                    id: format!("synthetic-{n}"),
                    line: n,
                    format: LineFormat::Short,
                    endpoint: *endpoint,
                    body: body.into(),
                    metadata: None,
                }
            }
        };
        self.sent = n;
        Some(item)
    }

    /// Why a file's prompts ended, if they have: the file could not be read again, or no
    /// longer has a valid line.
    pub fn failure(&self) -> Option<&str> {
        match &self.kind {
            Kind::File(lines) => lines.failure(),
            Kind::Held(_) | Kind::Synthetic(_) => None,
        }
    }
}

fn user_body(content: &str) -> Value {
    json!({"messages": [{"role": "user", "content": content}]})
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;

    fn next(prompts: &mut Prompts) -> WorkItem {
        block_on(prompts.next()).expect("a prompt")
    }

    use super::super::synthetic::Length;

    fn synthetic(text: &str, seed: u64) -> (Prompts, PromptSize) {
        let spec: Synthetic = text.parse().unwrap();
        Prompts::load(&PromptSource::Synthetic(spec), "gpt-4.1-mini", seed, ApiEndpoint::Chat).unwrap()
    }

    fn content(item: &WorkItem) -> String {
        item.body["messages"][0]["content"].as_str().unwrap().to_string()
    }

    fn tokens(item: &WorkItem) -> u64 {
        estimate_prompt_tokens("gpt-4.1-mini", &*item.body)
    }

    #[test]
    fn synthetic_prompts_have_about_the_asked_tokens_and_differ() {
        let (mut prompts, info) = synthetic("in=512,out=64", 1);
        let reported = info.count();
        assert!((500..=524).contains(&reported), "{reported} tokens");
        let a = next(&mut prompts);
        let b = next(&mut prompts);
        assert_ne!(a.body["messages"], b.body["messages"]);
        assert_eq!(a.body["max_tokens"], 64);
        assert_eq!((a.line, b.line), (1, 2));
        assert_eq!(tokens(&a), reported, "the first request is the one reported");
        for _ in 0..100 {
            let item = next(&mut prompts);
            assert!((500..=524).contains(&tokens(&item)), "{} tokens", tokens(&item));
            assert!(content(&item).starts_with(&format!("{:04} ", item.line)));
        }
    }

    #[test]
    fn drawn_lengths_reach_the_requests_with_their_means() {
        let (mut prompts, _) = synthetic("in=normal:512:128,out=uniform:64:256", 3);
        let n = 2000;
        let items: Vec<WorkItem> = (0..n).map(|_| next(&mut prompts)).collect();
        let mean_in = items.iter().map(|i| tokens(i) as f64).sum::<f64>() / n as f64;
        let max_tokens: Vec<u64> = items.iter().map(|i| i.body["max_tokens"].as_u64().unwrap()).collect();
        let mean_out = max_tokens.iter().sum::<u64>() as f64 / n as f64;
        assert!((mean_in - 512.0).abs() < 512.0 * 0.03, "mean prompt {mean_in} tokens");
        assert!((mean_out - 160.0).abs() < 160.0 * 0.03, "mean max_tokens {mean_out}");
        assert!(max_tokens.iter().all(|m| (64..=256).contains(m)));
        let spread = items.iter().map(tokens).max().unwrap() - items.iter().map(tokens).min().unwrap();
        assert!(spread > 400, "lengths vary: {spread}");
        assert_eq!(
            prompts_spec(&prompts).input,
            Length::Normal {
                mean: 512.0,
                std: 128.0
            }
        );
    }

    fn prompts_spec(prompts: &Prompts) -> Synthetic {
        match &prompts.kind {
            Kind::Synthetic(generator) => generator.spec,
            Kind::File(_) | Kind::Held(_) => panic!("synthetic prompts expected"),
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_requests() {
        let spec = "in=normal:256:64,out=uniform:8:64,prefix=300,prefix-share=0.5";
        let run = |seed| {
            let (mut prompts, _) = synthetic(spec, seed);
            (0..50).map(|_| next(&mut prompts).body).collect::<Vec<_>>()
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9), run(10));
    }

    #[test]
    fn a_share_of_the_requests_starts_with_the_same_prefix() {
        let (mut prompts, _) = synthetic("in=64,out=8,prefix=2000,prefix-share=0.8", 5);
        let items: Vec<WorkItem> = (0..1000).map(|_| next(&mut prompts)).collect();
        let prefix = match &prompts.kind {
            Kind::Synthetic(generator) => generator.prefix.clone(),
            Kind::File(_) | Kind::Held(_) => unreachable!(),
        };
        let words = prefix.split_whitespace().count();
        assert_eq!(words, 2000, "the prefix has 2000 one-token words");
        let shared = items.iter().filter(|i| content(i).starts_with(&prefix)).count();
        assert!((760..=840).contains(&shared), "{shared} of 1000 have the prefix");
        let with = items.iter().find(|i| content(i).starts_with(&prefix)).unwrap();
        assert!((2040..=2090).contains(&tokens(with)), "{} tokens", tokens(with));
        let without = items.iter().find(|i| !content(i).starts_with(&prefix)).unwrap();
        assert!((60..=70).contains(&tokens(without)), "{} tokens", tokens(without));
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
        for held_at_most in [HELD_AT_MOST, 0] {
            let (mut prompts, info) =
                Prompts::from_file_holding(&path, "gpt-4.1", ApiEndpoint::Chat, held_at_most).unwrap();
            let read_as_it_goes = matches!(prompts.kind, Kind::File(_));
            assert_eq!(read_as_it_goes, held_at_most == 0, "a short file is held");
            match &info {
                PromptSize::First { model, .. } => assert_eq!(model, "gpt-4.1"),
                counted => panic!("a file's prompt is counted only when asked: {counted:?}"),
            }
            let one = json!({"messages": [{"role": "user", "content": "one"}]});
            assert_eq!(info.count(), estimate_prompt_tokens("gpt-4.1", &one));
            let ids: Vec<String> = (0..5).map(|_| next(&mut prompts).id).collect();
            assert_eq!(
                ids,
                ["a#1", "b#2", "a#3", "b#4", "a#5"],
                "read as it goes: {read_as_it_goes}"
            );
        }

        std::fs::write(&path, "not json\n").unwrap();
        for held_at_most in [HELD_AT_MOST, 0] {
            let err = Prompts::from_file_holding(&path, "gpt-4.1", ApiEndpoint::Chat, held_at_most)
                .err()
                .unwrap();
            assert!(err.to_string().contains("no valid request"), "{err}");
            assert!(err.to_string().contains("(1 invalid lines;"), "{err}");
            assert_eq!(err.exit(), crate::Exit::Usage);
        }
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

    #[test]
    fn a_file_that_loses_its_valid_lines_during_the_bench_ends_its_prompts_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.jsonl");
        std::fs::write(&path, "{\"id\":\"a\",\"prompt\":\"one\"}\n").unwrap();
        let (mut prompts, _) = Prompts::from_file_holding(&path, "m", ApiEndpoint::Chat, 0).unwrap();
        assert!(
            matches!(prompts.kind, Kind::File(_)),
            "a file is read as the requests go"
        );
        assert_eq!(next(&mut prompts).id, "a#1");
        assert_eq!(prompts.failure(), None);
        std::fs::write(&path, "not json\n").unwrap();
        // What was read ahead still comes; then the file, read again, has no valid line.
        let sent = (0..1000).take_while(|_| block_on(prompts.next()).is_some()).count();
        assert!(sent < 1000, "the prompts never ended");
        let failure = prompts.failure().unwrap();
        assert!(
            failure.contains("no valid request left") && failure.contains("p.jsonl"),
            "{failure}"
        );
        assert!(block_on(prompts.next()).is_none(), "ended for good");
    }
}
