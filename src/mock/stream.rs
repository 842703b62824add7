//! Streamed answers: OpenAI's `text/event-stream` chunks, one word per content chunk.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use rand::rngs::SmallRng;

use super::reply::{Reply, Words};
use super::stats::InFlight;
use super::Latency;

/// What a streamed answer needs.
pub(crate) struct Plan {
    pub id: String,
    pub created: u64,
    pub model: String,
    pub reply: Reply,
    pub include_usage: bool,
    pub ttft: Latency,
    pub itl: Latency,
    pub rng: SmallRng,
    /// Cut the stream after this many content chunks (no finish, usage or `[DONE]`).
    pub truncate_after: Option<u32>,
    /// Keeps the request counted as in flight until the last chunk is sent (or the client
    /// goes away).
    pub guard: InFlight,
    pub request_id: HeaderValue,
}

/// Which delay comes before a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    None,
    Ttft,
    Itl,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Role,
    Content,
    Finish,
    Usage,
    Done,
    End,
}

/// The SSE events of one answer, in order.
struct Chunks {
    /// `{"id":..,..,"choices":[` shared by every chunk.
    prefix: String,
    /// `,"usage":null` when usage was asked for (as OpenAI sends it), else empty.
    usage_null: &'static str,
    reply: Reply,
    words: Words,
    sent_words: u32,
    truncate_after: Option<u32>,
    include_usage: bool,
    phase: Phase,
}

impl Chunks {
    fn new(plan: &Plan) -> Chunks {
        // A JSON string of a `String` cannot fail to serialize.
        let model = serde_json::to_string(&plan.model).unwrap_or_else(|_| "\"\"".to_owned());
        let prefix = format!(
            r#"{{"id":"{}","object":"chat.completion.chunk","created":{},"model":{},"system_fingerprint":"fp_mock","choices":["#,
            plan.id, plan.created, model
        );
        Chunks {
            prefix,
            usage_null: if plan.include_usage { r#","usage":null"# } else { "" },
            reply: plan.reply,
            words: plan.reply.words(),
            sent_words: 0,
            truncate_after: plan.truncate_after,
            include_usage: plan.include_usage,
            phase: Phase::Role,
        }
    }

    /// Appends one `data:` event with a single choice to `out`.
    fn push_choice(&self, out: &mut String, choice: std::fmt::Arguments<'_>) {
        out.push_str("data: ");
        out.push_str(&self.prefix);
        let _ = out.write_fmt(choice);
        out.push(']');
        out.push_str(self.usage_null);
        out.push_str("}\n\n");
    }

    /// Appends the next event to `out` and says what to wait before sending it;
    /// `None` when the stream is over.
    fn next_into(&mut self, out: &mut String) -> Option<Wait> {
        match self.phase {
            Phase::Role => {
                self.phase = Phase::Content;
                self.push_choice(
                    out,
                    format_args!(
                        r#"{{"index":0,"delta":{{"role":"assistant","content":""}},"logprobs":null,"finish_reason":null}}"#
                    ),
                );
                Some(Wait::None)
            }
            Phase::Content if self.truncate_after == Some(self.sent_words) => {
                self.phase = Phase::End;
                None
            }
            Phase::Content => match self.words.next() {
                Some(word) => {
                    let (wait, space) = if self.sent_words == 0 {
                        (Wait::Ttft, "")
                    } else {
                        (Wait::Itl, " ")
                    };
                    self.sent_words += 1;
                    self.push_choice(
                        out,
                        format_args!(
                            r#"{{"index":0,"delta":{{"content":"{space}{word}"}},"logprobs":null,"finish_reason":null}}"#
                        ),
                    );
                    Some(wait)
                }
                None => {
                    self.phase = Phase::Finish;
                    self.next_into(out)
                }
            },
            Phase::Finish => {
                self.phase = if self.include_usage { Phase::Usage } else { Phase::Done };
                let reason = self.reply.finish_reason;
                self.push_choice(
                    out,
                    format_args!(r#"{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":"{reason}"}}"#),
                );
                Some(Wait::None)
            }
            Phase::Usage => {
                self.phase = Phase::Done;
                // Plain numbers: serializing cannot fail.
                let usage = serde_json::to_string(&self.reply.usage()).unwrap_or_default();
                out.push_str("data: ");
                out.push_str(&self.prefix);
                let _ = write!(out, r#"],"usage":{usage}}}"#);
                out.push_str("\n\n");
                Some(Wait::None)
            }
            Phase::Done => {
                self.phase = Phase::End;
                out.push_str("data: [DONE]\n\n");
                Some(Wait::None)
            }
            Phase::End => None,
        }
    }
}

/// State of a stream that has delays to honour.
struct Live {
    chunks: Chunks,
    ttft: Latency,
    itl: Latency,
    rng: SmallRng,
    _guard: InFlight,
}

/// The streamed answer. Without delays the whole event stream goes out as one body; with them,
/// each event is sent after its delay (`ttft` before the first content chunk, `itl` between
/// content chunks).
pub(crate) fn response(plan: Plan) -> Response {
    let mut chunks = Chunks::new(&plan);
    let body = if plan.ttft.is_zero() && plan.itl.is_zero() {
        let mut all = String::with_capacity(256 * (plan.reply.completion_tokens as usize + 4));
        while chunks.next_into(&mut all).is_some() {}
        drop(plan.guard);
        Body::from(all)
    } else {
        let live = Live {
            chunks,
            ttft: plan.ttft,
            itl: plan.itl,
            rng: plan.rng,
            _guard: plan.guard,
        };
        Body::from_stream(futures::stream::unfold(live, |mut live| async move {
            let mut event = String::with_capacity(live.chunks.prefix.len() + 128);
            let wait = live.chunks.next_into(&mut event)?;
            let delay = match wait {
                Wait::None => Duration::ZERO,
                Wait::Ttft => live.ttft.sample(&mut live.rng),
                Wait::Itl => live.itl.sample(&mut live.rng),
            };
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Some((Ok::<Bytes, Infallible>(Bytes::from(event)), live))
        }))
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-request-id", plan.request_id);
    response
}
