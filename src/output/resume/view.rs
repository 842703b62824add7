//! One line of `results.jsonl` / `errors.jsonl` as the resume scan reads it: only the `sheepdog`
//! block and the error, never the response body, turned back into what the collector records.

use std::time::Duration;

use serde::Deserialize;

use crate::record::{Attempt, CacheHit, ErrorClass, ErrorInfo, Outcome, Rejected, Success, Usage};

#[derive(Debug, Deserialize)]
pub struct LineView {
    #[serde(default)]
    custom_id: Option<String>,
    /// On a sidecar line (`sheepdog.jsonl`): the file that holds the item's line.
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    error: Option<ErrorView>,
    pub sheepdog: BlockView,
}

#[derive(Debug, Deserialize)]
struct ErrorView {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct BlockView {
    pub line: u64,
    /// `"batch_api"` on items answered through a provider's Batch API.
    #[serde(default)]
    pub via: Option<String>,
    /// Present on every item line, absent on a rejected input line.
    #[serde(default)]
    fallbacks: Option<u32>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    latency_ms: Option<f64>,
    #[serde(default)]
    ttft_ms: Option<f64>,
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    cached_input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cost_usd: Option<f64>,
    #[serde(default)]
    pub error_class: Option<ErrorClass>,
    #[serde(default)]
    error_status: Option<u16>,
    #[serde(default)]
    attempt_log: Vec<AttemptView>,
    #[serde(default)]
    cache_hit: bool,
    #[serde(default)]
    saved_usd: Option<f64>,
    /// Written when a stop cut the item short: a resume sends it again.
    #[serde(default)]
    pub unfinished: bool,
}

#[derive(Debug, Deserialize)]
struct AttemptView {
    target: String,
    model: String,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    error_class: Option<ErrorClass>,
    #[serde(default)]
    latency_ms: f64,
    #[serde(default)]
    sent_ms: f64,
}

/// What a line stands for.
pub enum Recorded {
    Outcome(Box<Outcome>),
    Rejected(Rejected),
}

fn ms(value: f64) -> Duration {
    Duration::try_from_secs_f64(value / 1e3).unwrap_or_default()
}

impl LineView {
    pub fn parse(bytes: &[u8]) -> Option<LineView> {
        serde_json::from_slice(bytes).ok()
    }

    pub fn is_rejected_input(&self) -> bool {
        self.sheepdog.fallbacks.is_none() && self.sheepdog.error_class == Some(ErrorClass::InvalidInput)
    }

    pub fn into_recorded(self) -> Recorded {
        let block = self.sheepdog;
        let message = self.error.as_ref().and_then(|e| e.message.clone()).unwrap_or_default();
        if block.fallbacks.is_none() && self.error.is_some() {
            return Recorded::Rejected(Rejected {
                id: self.custom_id,
                line: block.line,
                reason: message,
            });
        }
        let mut numbers: Vec<(String, u32)> = Vec::new();
        let mut attempts: Vec<Attempt> = block
            .attempt_log
            .into_iter()
            .map(|a| {
                let number = match numbers.last_mut() {
                    Some((target, n)) if *target == a.target => {
                        *n += 1;
                        *n
                    }
                    _ => {
                        numbers.push((a.target.clone(), 1));
                        1
                    }
                };
                Attempt {
                    error: a.error_class.map(|class| ErrorInfo {
                        class,
                        status: a.status,
                        message: String::new(),
                        code: None,
                    }),
                    target: a.target,
                    model: a.model,
                    number,
                    sent_at: ms(a.sent_ms),
                    latency: ms(a.latency_ms),
                    ttft: None,
                    stream: None,
                    status: a.status,
                    usage: None,
                    cost_usd: None,
                    concurrency_limit: None,
                }
            })
            .collect();
        let result = match block.error_class {
            Some(class) => Err(ErrorInfo {
                class,
                status: block.error_status,
                message,
                code: self.error.and_then(|e| e.code),
            }),
            None => {
                let usage = Usage {
                    input_tokens: block.input_tokens.unwrap_or(0),
                    cached_input_tokens: block.cached_input_tokens.unwrap_or(0),
                    cache_write_tokens: 0,
                    output_tokens: block.output_tokens.unwrap_or(0),
                };
                let ttft = block.ttft_ms.map(ms);
                if let Some(last) = attempts.last_mut().filter(|a| a.error.is_none()) {
                    last.usage = Some(usage);
                    last.cost_usd = block.cost_usd;
                    last.ttft = ttft;
                }
                Ok(Success {
                    target: block.target.unwrap_or_default(),
                    model: block.model.unwrap_or_default(),
                    status: 200,
                    request_id: None,
                    body: crate::record::JsonText::null(),
                    usage,
                    latency: block.latency_ms.map(ms).unwrap_or_default(),
                    ttft,
                    stream: None,
                    cost_usd: block.cost_usd,
                    cache_hit: block.cache_hit.then_some(CacheHit {
                        saved_usd: block.saved_usd,
                    }),
                })
            }
        };
        Recorded::Outcome(Box::new(Outcome {
            id: self.custom_id.unwrap_or_default(),
            line: block.line,
            metadata: None,
            attempts,
            result,
        }))
    }
}
