//! A streamed Responses API answer: typed events (`response.created`,
//! `response.output_text.delta`, ..., `response.completed`). Every non-empty `*.delta` event
//! carries tokens; the answer is the `response` object of `response.completed` (or
//! `response.incomplete`), which holds the output items and the usage. `response.failed` and
//! `error` events are errors.

use std::time::Duration;

use serde_json::Value;

/// The state of one streamed Responses answer.
#[derive(Debug, Default)]
pub struct ResponsesAssembler {
    /// The final `response` object, once `response.completed` / `response.incomplete` came.
    response: Option<Value>,
    /// Text of every delta, for counting tokens when the server reported none.
    text: String,
    first_token: Option<Duration>,
    last_token: Option<Duration>,
    content_chunks: u32,
}

impl ResponsesAssembler {
    pub fn new() -> Self {
        ResponsesAssembler::default()
    }

    /// Takes one event's data that arrived `at` after the request was sent. `Ok(true)` when
    /// it carried tokens; `Err` with the error's code and message for `error` and
    /// `response.failed` events.
    pub fn push(&mut self, event: &Value, at: Duration) -> Result<bool, String> {
        let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "response.completed" | "response.incomplete" => {
                self.response = Some(event.get("response").cloned().unwrap_or(Value::Null));
                Ok(false)
            }
            "response.failed" => {
                let error = event.get("response").and_then(|r| r.get("error"));
                Err(describe(error.unwrap_or(event)))
            }
            "error" => Err(describe(event)),
            _ if kind.ends_with(".delta") => {
                let Some(delta) = event.get("delta").and_then(Value::as_str).filter(|d| !d.is_empty()) else {
                    return Ok(false);
                };
                self.text.push_str(delta);
                self.content_chunks += 1;
                self.first_token.get_or_insert(at);
                self.last_token = Some(at);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Whether the final event arrived.
    pub fn finished(&self) -> bool {
        self.response.is_some()
    }

    /// The answer as a non-streamed `response` object.
    pub fn response(&self) -> Value {
        self.response.clone().unwrap_or(Value::Null)
    }

    pub fn token_times(&self) -> Option<(Duration, Duration)> {
        Some((self.first_token?, self.last_token?))
    }

    pub fn content_chunks(&self) -> u32 {
        self.content_chunks
    }

    pub fn generated_text(&self) -> &str {
        &self.text
    }
}

/// `code: message` of an error object.
fn describe(error: &Value) -> String {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the response failed");
    match error.get("code").and_then(Value::as_str) {
        Some(code) => format!("{code}: {message}"),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn deltas_are_tokens_and_the_completed_response_is_the_answer() {
        let mut a = ResponsesAssembler::new();
        assert_eq!(
            a.push(&json!({"type": "response.created", "response": {}}), ms(1)),
            Ok(false)
        );
        let delta = |d: &str| json!({"type": "response.output_text.delta", "item_id": "msg_1", "delta": d});
        assert_eq!(a.push(&delta("Hello"), ms(10)), Ok(true));
        assert_eq!(a.push(&delta(""), ms(11)), Ok(false));
        assert_eq!(a.push(&delta(" world"), ms(30)), Ok(true));
        assert!(!a.finished());
        let response = json!({"id": "resp_1", "object": "response", "status": "completed",
                              "usage": {"input_tokens": 4, "output_tokens": 2}});
        a.push(&json!({"type": "response.completed", "response": response}), ms(31))
            .unwrap();
        assert!(a.finished());
        assert_eq!(a.response(), response);
        assert_eq!(a.token_times(), Some((ms(10), ms(30))));
        assert_eq!((a.content_chunks(), a.generated_text()), (2, "Hello world"));
    }

    #[test]
    fn failed_responses_and_error_events_are_errors() {
        let mut a = ResponsesAssembler::new();
        let failed = json!({"type": "response.failed",
                            "response": {"error": {"code": "server_error", "message": "boom"}}});
        assert_eq!(a.push(&failed, ms(1)), Err("server_error: boom".to_string()));
        let error = json!({"type": "error", "code": "rate_limit_exceeded", "message": "slow down"});
        assert_eq!(a.push(&error, ms(2)), Err("rate_limit_exceeded: slow down".to_string()));
    }
}
