//! Streamed answers: OpenAI's `text/event-stream` chunks, one word per content chunk, with
//! the injected stream faults of [`StreamFaultKind`]. Chat and legacy completions send
//! chunks up to `[DONE]`; the Responses API sends typed events (see [`super::api::responses`]).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use rand::rngs::SmallRng;

use super::api::responses::Events;
use super::queue::Held;
use super::reply::{Reply, UsageBody, Words};
use super::stats::InFlight;
use super::stream_faults::StreamFaultKind;
use super::structured::StreamEvent;
use super::Latency;
use crate::provider::ApiEndpoint;

/// Pause before a `disconnect` fault drops the connection, so the events before it leave.
const DISCONNECT_FLUSH: Duration = Duration::from_millis(10);

/// What a streamed answer needs.
pub(crate) struct Plan {
    /// Chat, completions or responses.
    pub api: ApiEndpoint,
    /// The Responses API's events (`api` is responses).
    pub events: Option<Events>,
    pub id: String,
    pub created: u64,
    pub model: String,
    pub reply: Reply,
    pub include_usage: bool,
    /// Structured outputs, tool calls or several choices: the events, made in advance.
    pub planned: Option<Planned>,
    pub ttft: Latency,
    pub itl: Latency,
    pub rng: SmallRng,
    /// The fault to inject after this many content chunks.
    pub fault: Option<(StreamFaultKind, u32)>,
    /// How long a `stall` fault sends nothing.
    pub stall: Duration,
    /// Keeps the request counted as in flight until the last chunk is sent (or the client
    /// goes away).
    pub guard: InFlight,
    /// Keeps the request's slot of `max_concurrency` until the stream ends.
    pub held: Held,
    pub request_id: HeaderValue,
}

/// The choice events of a structured answer and its usage over every choice.
pub(crate) struct Planned {
    pub events: VecDeque<StreamEvent>,
    pub usage: UsageBody,
}

/// Which delay comes before a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    None,
    Ttft,
    Itl,
    /// The `stall` fault: `MockConfig::stream_stall` before the event.
    Stall,
    /// The `disconnect` fault: drop the connection instead of sending anything.
    Disconnect,
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
    /// A content event without its text: the part before it and the part after it, made once
    /// per answer so that each word is only spliced in.
    content: (String, String),
    reply: Reply,
    words: Words,
    sent_words: u32,
    fault: Option<(StreamFaultKind, u32)>,
    include_usage: bool,
    planned: Option<VecDeque<StreamEvent>>,
    usage: UsageBody,
    phase: Phase,
    /// Legacy completions: `choices[].text` instead of `choices[].delta`.
    legacy: bool,
    events: Option<Events>,
}

impl Chunks {
    fn new(plan: &mut Plan) -> Chunks {
        // A JSON string of a `String` cannot fail to serialize.
        let model = serde_json::to_string(&plan.model).unwrap_or_else(|_| "\"\"".to_owned());
        let legacy = plan.api == ApiEndpoint::Completions;
        let object = if legacy {
            "text_completion"
        } else {
            "chat.completion.chunk"
        };
        let prefix = format!(
            r#"{{"id":"{}","object":"{object}","created":{},"model":{},"system_fingerprint":"fp_mock","choices":["#,
            plan.id, plan.created, model
        );
        let usage_null = if plan.include_usage { r#","usage":null"# } else { "" };
        let content = if legacy {
            (
                format!(r#"data: {prefix}{{"text":""#),
                format!(r#"","index":0,"logprobs":null,"finish_reason":null}}]{usage_null}}}"#) + "\n\n",
            )
        } else {
            (
                format!(r#"data: {prefix}{{"index":0,"delta":{{"content":""#),
                format!(r#""}},"logprobs":null,"finish_reason":null}}]{usage_null}}}"#) + "\n\n",
            )
        };
        Chunks {
            prefix,
            usage_null,
            content,
            reply: plan.reply,
            words: plan.reply.words(),
            sent_words: 0,
            fault: plan.fault,
            include_usage: plan.include_usage,
            planned: plan.planned.as_ref().map(|p| p.events.clone()),
            usage: plan.planned.as_ref().map_or_else(|| plan.reply.usage(), |p| p.usage),
            phase: if plan.planned.is_some() || legacy {
                Phase::Content
            } else {
                Phase::Role
            },
            legacy,
            events: plan.events.take(),
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
            Phase::Role if self.events.is_some() => {
                self.phase = Phase::Content;
                self.events.as_mut()?.opening(out);
                Some(Wait::None)
            }
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
            Phase::Content if self.fault.is_some_and(|(_, at)| at == self.sent_words) => {
                let kind = self.fault.take().map(|(kind, _)| kind)?;
                self.inject(kind, out)
            }
            Phase::Content if self.planned.is_some() => match self.planned.as_mut().and_then(VecDeque::pop_front) {
                Some((choice, content)) => {
                    let wait = match (content, self.sent_words) {
                        (false, _) => Wait::None,
                        (true, 0) => Wait::Ttft,
                        (true, _) => Wait::Itl,
                    };
                    self.sent_words += u32::from(content);
                    self.push_choice(out, format_args!("{choice}"));
                    Some(wait)
                }
                None => {
                    self.phase = if self.include_usage { Phase::Usage } else { Phase::Done };
                    self.next_into(out)
                }
            },
            Phase::Content => match self.words.next() {
                Some(word) => {
                    let (wait, space) = if self.sent_words == 0 {
                        (Wait::Ttft, "")
                    } else {
                        (Wait::Itl, " ")
                    };
                    self.sent_words += 1;
                    if let Some(events) = self.events.as_mut() {
                        events.delta(out, &format!("{space}{word}"));
                    } else {
                        // The words need no JSON escaping.
                        let (head, tail) = &self.content;
                        out.reserve(head.len() + space.len() + word.len() + tail.len());
                        out.push_str(head);
                        out.push_str(space);
                        out.push_str(word);
                        out.push_str(tail);
                    }
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
                if let Some(events) = self.events.as_mut() {
                    events.closing(out);
                } else if self.legacy {
                    self.push_choice(
                        out,
                        format_args!(r#"{{"text":"","index":0,"logprobs":null,"finish_reason":"{reason}"}}"#),
                    );
                } else {
                    self.push_choice(
                        out,
                        format_args!(r#"{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":"{reason}"}}"#),
                    );
                }
                Some(Wait::None)
            }
            Phase::Usage if self.events.is_some() => {
                // The Responses API has no `[DONE]`: `response.completed` ends the stream.
                self.phase = Phase::End;
                self.events.as_mut()?.completed(out);
                Some(Wait::None)
            }
            Phase::Usage => {
                self.phase = Phase::Done;
                // Plain numbers: serializing cannot fail.
                let usage = serde_json::to_string(&self.usage).unwrap_or_default();
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

impl Chunks {
    /// The fault, at the point of the stream where it is due.
    fn inject(&mut self, kind: StreamFaultKind, out: &mut String) -> Option<Wait> {
        match kind {
            StreamFaultKind::Truncate => {
                self.phase = Phase::End;
                None
            }
            StreamFaultKind::Disconnect => {
                self.phase = Phase::End;
                Some(Wait::Disconnect)
            }
            StreamFaultKind::Stall => self.next_into(out).map(|_| Wait::Stall),
            StreamFaultKind::Malformed if self.events.is_some() => {
                out.push_str(
                    "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\n\n",
                );
                Some(Wait::None)
            }
            StreamFaultKind::Error if self.events.is_some() => {
                self.phase = Phase::End;
                self.events.as_mut()?.error(out);
                Some(Wait::None)
            }
            StreamFaultKind::Malformed => {
                out.push_str("data: ");
                out.push_str(&self.prefix);
                out.push_str(r#"{"index":0,"delta":{"content":"#);
                out.push_str("\n\n");
                Some(Wait::None)
            }
            StreamFaultKind::Error => {
                self.phase = Phase::End;
                out.push_str(
                    r#"data: {"error":{"message":"The server had an error while processing your request. Sorry about that! (Injected by the sheepdog mock server.)","type":"server_error","param":null,"code":null}}"#,
                );
                out.push_str("\n\n");
                Some(Wait::None)
            }
        }
    }
}

/// State of a stream that has delays to honour.
struct Live {
    chunks: Chunks,
    /// When the event being prepared is due. Each delay moves this deadline on from the last
    /// one, not from when the previous event happened to leave, so timer granularity and a busy
    /// task never add up: token k leaves at start + ttft + k × itl.
    due: tokio::time::Instant,
    ttft: Latency,
    itl: Latency,
    rng: SmallRng,
    stall: Duration,
    /// The next event and its wait, made while gathering the events due at once.
    pending: Option<(String, Wait)>,
    _guard: InFlight,
    _held: Held,
}

/// The streamed answer. Without delays (or faults that need time) the whole event stream goes
/// out as one body; otherwise each event is sent after its delay (`ttft` before the first
/// content chunk, `itl` between content chunks, `stall` for a stall fault), and a disconnect
/// fault ends the body with an error, which drops the connection.
pub(crate) fn response(mut plan: Plan) -> Response {
    let mut chunks = Chunks::new(&mut plan);
    let timed_fault = matches!(
        plan.fault,
        Some((StreamFaultKind::Stall | StreamFaultKind::Disconnect, _))
    );
    let body = if plan.ttft.is_zero() && plan.itl.is_zero() && !timed_fault {
        let mut all = String::with_capacity(256 * (plan.reply.completion_tokens as usize + 4));
        while chunks.next_into(&mut all).is_some() {}
        drop(plan.guard);
        drop(plan.held);
        Body::from(all)
    } else {
        let live = Live {
            chunks,
            due: tokio::time::Instant::now(),
            ttft: plan.ttft,
            itl: plan.itl,
            rng: plan.rng,
            stall: plan.stall,
            pending: None,
            _guard: plan.guard,
            _held: plan.held,
        };
        Body::from_stream(futures::stream::unfold(live, |mut live| async move {
            let (mut event, wait) = match live.pending.take() {
                Some(pending) => pending,
                None => {
                    let mut event = String::with_capacity(live.chunks.prefix.len() + 128);
                    let wait = live.chunks.next_into(&mut event)?;
                    (event, wait)
                }
            };
            let delay = match wait {
                Wait::None => Duration::ZERO,
                Wait::Ttft => live.ttft.sample(&mut live.rng),
                Wait::Itl => live.itl.sample(&mut live.rng),
                Wait::Stall => live.stall,
                Wait::Disconnect => {
                    // Let the server flush the events so far, so that the client sees the
                    // answer begin before its connection drops.
                    tokio::time::sleep(DISCONNECT_FLUSH).await;
                    let error = std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "injected disconnect");
                    return Some((Err(error), live));
                }
            };
            if !delay.is_zero() {
                live.due += delay;
                tokio::time::sleep_until(live.due).await;
            }
            // The events due right after this one (the end of the answer: finish, usage,
            // `[DONE]`) leave with it, in one write.
            loop {
                let start = event.len();
                match live.chunks.next_into(&mut event) {
                    Some(Wait::None) => {}
                    Some(wait) => {
                        live.pending = Some((event.split_off(start), wait));
                        break;
                    }
                    None => break,
                }
            }
            Some((Ok::<Bytes, std::io::Error>(Bytes::from(event)), live))
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
