//! HTTP routes of the mock server and the request flow every endpoint shares (chat
//! completions, completions, embeddings, responses, moderations).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::api;
use super::faults::{self, ApiError};
use super::limits::{Allowance, LimitSettings, Limits};
use super::queue::Queue;
use super::reply::{self, key_fingerprint, Reply};
use super::request::ChatRequest;
use super::stats::{Entry, Recorder};
use super::stream_faults::{self, StreamFaultKind};
use super::{models, stream, structured, MockConfig};
use crate::provider::ApiEndpoint;

/// Largest request body accepted (long documents in bulk jobs can be big).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// State shared by every handler.
pub(crate) struct Shared {
    pub config: MockConfig,
    pub recorder: Arc<Recorder>,
    limits: Option<Limits>,
    /// Requests answered so far, for the quota.
    answered: std::sync::atomic::AtomicU64,
    /// The server-wide stall and the `max_concurrency` queue.
    queue: Queue,
    /// Prompt prefixes seen, reported as cached tokens when they come again.
    prefix_cache: super::prefix_cache::PrefixCache,
}

impl Shared {
    pub fn new(config: MockConfig) -> Self {
        Shared {
            limits: Limits::new(LimitSettings {
                rpm: config.rpm,
                tpm: config.tpm,
                burst: config.burst,
                rpm_schedule: config.rpm_schedule.clone(),
            }),
            answered: std::sync::atomic::AtomicU64::new(0),
            queue: Queue::new(&config),
            prefix_cache: Default::default(),
            config,
            recorder: Arc::new(Recorder::new()),
        }
    }

    /// 401 unless the request carries the configured key (when one is required).
    pub(super) fn check_key(&self, bearer: Option<&str>) -> Result<(), ApiError> {
        match (&self.config.require_key, bearer) {
            (None, _) => Ok(()),
            (Some(_), None) => Err(ApiError::invalid_key(true)),
            (Some(key), Some(given)) if given == key => Ok(()),
            (Some(_), Some(_)) => Err(ApiError::invalid_key(false)),
        }
    }

    fn serves(&self, model: &str) -> bool {
        match &self.config.models {
            Some(models) => models.iter().any(|m| m == model),
            None => true,
        }
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat).fallback(wrong_method))
        .route("/chat/completions", post(chat).fallback(wrong_method))
        .route("/v1/completions", post(completions).fallback(wrong_method))
        .route("/completions", post(completions).fallback(wrong_method))
        .route("/v1/embeddings", post(embeddings).fallback(wrong_method))
        .route("/embeddings", post(embeddings).fallback(wrong_method))
        .route("/v1/responses", post(responses).fallback(wrong_method))
        .route("/responses", post(responses).fallback(wrong_method))
        .route("/v1/moderations", post(moderations).fallback(wrong_method))
        .route("/moderations", post(moderations).fallback(wrong_method))
        .route("/v1/models", get(models::list_models).fallback(wrong_method))
        .route("/models", get(models::list_models).fallback(wrong_method))
        .route("/v1/models/{*id}", get(models::get_model).fallback(wrong_method))
        .route("/mock/stats", get(models::stats).fallback(wrong_method))
        .fallback(unknown_url)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(shared)
}

/// The key from `Authorization: Bearer <key>`, if there is one.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, key) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(key.trim())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn request_id(number: u64) -> HeaderValue {
    HeaderValue::try_from(format!("req_mock_{number}")).unwrap_or_else(|_| HeaderValue::from_static("req_mock"))
}

/// Why a chat request is not answered, with the request when its body could be read (for the log).
struct Refusal {
    error: ApiError,
    request: Option<ChatRequest>,
}

impl Shared {
    /// Checks in order: key, body, model, the RPM limit, then draws an injected fault.
    fn admit(
        &self,
        bearer: Option<&str>,
        parsed: Result<ChatRequest, ApiError>,
        rng: &mut SmallRng,
    ) -> Result<ChatRequest, Box<Refusal>> {
        let key = self.check_key(bearer);
        let request = match parsed {
            Ok(request) => request,
            Err(error) => {
                let error = key.err().unwrap_or(error);
                return Err(Box::new(Refusal { error, request: None }));
            }
        };
        let error = if let Err(error) = key {
            error
        } else if !self.serves(&request.model) {
            ApiError::model_not_found(&request.model)
        } else if let Some(&(_, status)) = self.config.fail_models.iter().find(|(m, _)| *m == request.model) {
            ApiError::failing_model(&request.model, status)
        } else if let Some(status) = self.draw_fault(rng) {
            ApiError::injected(status, &request.model, self.config.retry_after)
        } else {
            return Ok(request);
        };
        Err(Box::new(Refusal {
            error,
            request: Some(request),
        }))
    }

    /// Quota, then the key's request and token limits (the reply's tokens are known already).
    /// On success, the allowances left, for `x-ratelimit-*` headers.
    fn meter(&self, key_id: Option<u32>, model: &str, tokens: u64) -> Result<RateHeaders, ApiError> {
        use std::sync::atomic::Ordering;
        if let Some(quota) = self.config.quota {
            if self.answered.fetch_add(1, Ordering::Relaxed) >= quota {
                return Err(ApiError::insufficient_quota());
            }
        }
        let mut headers = RateHeaders::default();
        let Some(limits) = &self.limits else { return Ok(headers) };
        let key = limits.of(key_id);
        let now = self.recorder.elapsed_ns();
        if let Some(requests) = &key.requests {
            let allowance = requests.take(1, now).map_err(|wait| {
                let limit = u32::try_from(requests.limit_at(now)).ok();
                ApiError::rate_limited(model, limit, wait)
            })?;
            headers.requests = Some(allowance);
        }
        if let Some(tokens_limit) = &key.tokens {
            let allowance = tokens_limit
                .take(tokens, now)
                .map_err(|wait| ApiError::tokens_limited(model, self.config.tpm.unwrap_or(0), wait))?;
            headers.tokens = Some(allowance);
        }
        if !self.config.ratelimit_headers {
            headers = RateHeaders::default();
        }
        Ok(headers)
    }

    /// Whether this request is one that never gets an answer.
    fn draw_hang(&self, rng: &mut SmallRng) -> bool {
        self.config.hang > 0.0 && rng.random::<f64>() < self.config.hang
    }

    /// For a stream that is to break: how, and after how many content chunks.
    fn draw_stream_fault(&self, reply: &Reply, rng: &mut SmallRng) -> Option<(StreamFaultKind, u32)> {
        if self.config.stream_faults.is_empty() {
            return None;
        }
        let kind = stream_faults::draw_stream_fault(&self.config.stream_faults, rng.random::<f64>())?;
        let at = if reply.completion_tokens == 0 {
            0
        } else {
            rng.random_range(0..reply.completion_tokens)
        };
        Some((kind, at))
    }

    fn draw_fault(&self, rng: &mut SmallRng) -> Option<u16> {
        if self.config.failures.is_empty() {
            return None;
        }
        faults::draw(&self.config.failures, rng.random::<f64>())
    }
}

type Body = Result<Bytes, BytesRejection>;

async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    answer(ApiEndpoint::Chat, shared, headers, body).await
}

async fn completions(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    answer(ApiEndpoint::Completions, shared, headers, body).await
}

async fn embeddings(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    answer(ApiEndpoint::Embeddings, shared, headers, body).await
}

async fn responses(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    answer(ApiEndpoint::Responses, shared, headers, body).await
}

async fn moderations(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    answer(ApiEndpoint::Moderations, shared, headers, body).await
}

/// `POST` to any endpoint: key, body, model, RPM limit, injected fault, then the answer.
async fn answer(api: ApiEndpoint, shared: Arc<Shared>, headers: HeaderMap, body: Body) -> Response {
    let recorder = &shared.recorder;
    let config = &shared.config;
    let (number, guard) = recorder.arrive();
    let at_us = recorder.elapsed_us();
    let bearer = bearer(&headers);
    let key_id = bearer.map(key_fingerprint);
    let parsed = body
        .map_err(|rejection| ApiError::unreadable_body(rejection.status(), rejection.body_text()))
        .and_then(|bytes| api::parse(api, &bytes));
    let mut rng = SmallRng::seed_from_u64(config.seed ^ reply::mix(number));
    let x_request_id = request_id(number);
    let entry = |status: u16, request: Option<&ChatRequest>| Entry {
        at_us,
        key_id,
        model: request.map(|r| r.model.clone()).unwrap_or_default(),
        status,
        stream: request.is_some_and(|r| r.stream),
        prompt_hash: request.map(|r| r.prompt.hash),
        tokens: 0,
    };

    let request = match shared.admit(bearer, parsed, &mut rng) {
        Ok(request) => request,
        Err(refusal) => {
            let Refusal { error, request } = *refusal;
            recorder.answered(entry(error.status.as_u16(), request.as_ref()));
            let mut response = error.into_response();
            response.headers_mut().insert("x-request-id", x_request_id);
            return response;
        }
    };

    let length_of = |prompt: &reply::Prompt| {
        reply::reply_length(prompt, config.output_tokens, config.output_tokens_std, config.seed)
    };
    let reply = Reply {
        cached_tokens: shared.prefix_cache.lookup(&request.prefix, request.prompt.tokens),
        ..Reply::new(request.prompt, length_of(&request.prompt), request.cap)
    };
    let reply = api::shape_reply(&request, reply, length_of);
    // Structured outputs, tools or `n`: the choices are built whole; `reply` keeps their total.
    let choices = (!request.shape.is_plain()).then(|| {
        structured::answer(
            &request.shape,
            request.prompt,
            request.ends_with_tool,
            length_of(&request.prompt),
            request.cap,
        )
    });
    let reply = match &choices {
        Some(choices) => Reply {
            completion_tokens: structured::usage(choices, reply.prompt_tokens).completion_tokens,
            ..reply
        },
        None => reply,
    };
    let tokens = u64::from(reply.prompt_tokens) + u64::from(reply.completion_tokens);
    let rate_headers = match shared.meter(key_id, &request.model, tokens) {
        Ok(headers) => headers,
        Err(error) => {
            recorder.answered(entry(error.status.as_u16(), Some(&request)));
            let mut response = error.into_response();
            response.headers_mut().insert("x-request-id", x_request_id);
            return response;
        }
    };
    if shared.draw_hang(&mut rng) {
        // Never answered: only the client's timeout (or the server's shutdown) ends it.
        tokio::time::sleep(std::time::Duration::from_secs(24 * 3600)).await;
    }
    let held = shared.queue.enter(number).await;
    let id = api::answer_id(api, number);
    let created = unix_now();
    if request.stream {
        recorder.answered(Entry {
            tokens,
            ..entry(200, Some(&request))
        });
        let events = (api == ApiEndpoint::Responses)
            .then(|| super::api::responses::Events::new(&id, created, &request.model, reply));
        let mut response = stream::response(stream::Plan {
            api,
            events,
            id,
            created,
            model: request.model,
            reply,
            include_usage: request.include_usage,
            planned: choices.as_deref().map(|choices| stream::Planned {
                events: structured::stream_events(choices).into(),
                usage: structured::usage(choices, reply.prompt_tokens),
            }),
            ttft: config.ttft,
            itl: config.itl,
            fault: shared.draw_stream_fault(&reply, &mut rng),
            stall: config.stream_stall,
            rng,
            guard,
            held,
            request_id: x_request_id,
        });
        rate_headers.apply(response.headers_mut());
        return response;
    }

    if !config.latency.is_zero() {
        let delay = config.latency.sample(&mut rng);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
    let body = match &choices {
        Some(choices) => structured::completion_json(choices, reply.prompt_tokens, &id, created, &request.model),
        None => api::body_json(&request, &reply, &id, created, length_of),
    };
    recorder.answered(Entry {
        tokens,
        ..entry(200, Some(&request))
    });
    drop(guard);
    drop(held);
    let mut response = (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response();
    response.headers_mut().insert("x-request-id", x_request_id);
    rate_headers.apply(response.headers_mut());
    response
}

/// What the key's limits have left, sent as OpenAI's `x-ratelimit-*` headers.
#[derive(Debug, Default)]
struct RateHeaders {
    requests: Option<Allowance>,
    tokens: Option<Allowance>,
}

impl RateHeaders {
    fn apply(&self, headers: &mut HeaderMap) {
        for (name, allowance) in [("requests", self.requests), ("tokens", self.tokens)] {
            let Some(a) = allowance else { continue };
            let values = [
                ("limit", a.limit.to_string()),
                ("remaining", a.remaining.to_string()),
                ("reset", faults::reset_text(a.reset)),
            ];
            for (what, value) in values {
                if let (Ok(name), Ok(value)) = (
                    header::HeaderName::try_from(format!("x-ratelimit-{what}-{name}")),
                    HeaderValue::try_from(value),
                ) {
                    headers.insert(name, value);
                }
            }
        }
    }
}

async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}

async fn unknown_url(method: Method, uri: Uri) -> ApiError {
    ApiError::unknown_url(method.as_str(), uri.path())
}
