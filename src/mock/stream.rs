//! Streamed answers: OpenAI's `text/event-stream` chunks, one word per content chunk, with
//! the injected stream faults of [`StreamFaultKind`].

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use rand::rngs::SmallRng;

use super::queue::Held;
use super::reply::{Reply, UsageBody, Words};
use super::stats::InFlight;
use super::stream_faults::StreamFaultKind;
use super::structured::StreamEvent;
use super::Latency;

/// Pause before a `disconnect` fault drops the connection, so the events before it leave.
const DISCONNECT_FLUSH: Duration = Duration::from_millis(10);

/// What a streamed answer needs.
pub(crate) struct Plan {
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
    reply: Reply,
    words: Words,
    sent_words: u32,
    fault: Option<(StreamFaultKind, u32)>,
    include_usage: bool,
    planned: Option<VecDeque<StreamEvent>>,
    usage: UsageBody,
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
            fault: plan.fault,
            include_usage: plan.include_usage,
            planned: plan.planned.as_ref().map(|p| p.events.clone()),
            usage: plan.planned.as_ref().map_or_else(|| plan.reply.usage(), |p| p.usage),
            phase: if plan.planned.is_some() {
                Phase::Content
            } else {
                Phase::Role
            },
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
    _guard: InFlight,
    _held: Held,
}

/// The streamed answer. Without delays (or faults that need time) the whole event stream goes
/// out as one body; otherwise each event is sent after its delay (`ttft` before the first
/// content chunk, `itl` between content chunks, `stall` for a stall fault), and a disconnect
/// fault ends the body with an error, which drops the connection.
pub(crate) fn response(plan: Plan) -> Response {
    let mut chunks = Chunks::new(&plan);
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
            _guard: plan.guard,
            _held: plan.held,
        };
        Body::from_stream(futures::stream::unfold(live, |mut live| async move {
            let mut event = String::with_capacity(live.chunks.prefix.len() + 128);
            let wait = live.chunks.next_into(&mut event)?;
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

#[cfg(test)]
mod pacing_tests {
    use std::sync::Arc;

    use futures::StreamExt as _;
    use rand::SeedableRng as _;
    use tokio::time::Instant;

    use super::*;
    use crate::mock::queue::Queue;
    use crate::mock::reply::Prompt;
    use crate::mock::stats::Recorder;
    use crate::mock::MockConfig;

    /// When each content chunk of a streamed answer leaves, read by a consumer that spends
    /// `busy` on every chunk (on tokio's paused clock, so the times are exact).
    async fn content_times(ttft: Duration, itl: Duration, tokens: u32, busy: Duration) -> Vec<Duration> {
        let recorder = Arc::new(Recorder::new());
        let (_, guard) = recorder.arrive();
        let held = Queue::new(&MockConfig::default()).enter(1).await;
        let prompt = Prompt { hash: 7, tokens: 10 };
        let plan = Plan {
            id: "chatcmpl-test".into(),
            created: 0,
            model: "gpt-4.1-mini".into(),
            reply: Reply::new(prompt, Some(tokens), None),
            include_usage: false,
            planned: None,
            ttft: Latency::Fixed(ttft),
            itl: Latency::Fixed(itl),
            rng: SmallRng::seed_from_u64(1),
            fault: None,
            stall: Duration::ZERO,
            guard,
            held,
            request_id: HeaderValue::from_static("req-test"),
        };
        let start = Instant::now();
        let mut body = response(plan).into_body().into_data_stream();
        let mut times = Vec::new();
        while let Some(Ok(bytes)) = body.next().await {
            if std::str::from_utf8(&bytes).is_ok_and(|t| t.contains(r#"{"content":""#)) {
                times.push(start.elapsed());
            }
            tokio::time::sleep(busy).await;
        }
        times
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_keep_an_absolute_schedule_even_when_the_sender_is_late() {
        let (ttft, itl) = (Duration::from_millis(50), Duration::from_millis(5));
        // Each chunk takes 2 ms to hand over: with a sleep of `itl` after each one the gaps would
        // be 7 ms and token 20 would leave 40 ms late.
        let times = content_times(ttft, itl, 21, Duration::from_millis(2)).await;
        assert_eq!(times.len(), 21);
        for (k, at) in times.iter().enumerate() {
            assert_eq!(*at, ttft + itl * k as u32, "token {k}");
        }
    }
}
