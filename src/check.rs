//! `sheepdog check`: one tiny request per target of the route, before a big job, saying for
//! each whether it is reachable, the key is accepted and the model exists — and what to fix.

use std::time::Duration;

use crate::config::Config;
use crate::engine::prepare;
use crate::job::JobError;
use crate::provider::{Client, RequestError};
use crate::record::ErrorClass;

const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq)]
pub struct CheckRow {
    pub target: String,
    pub provider: String,
    pub model: String,
    pub base_url: String,
    pub ok: bool,
    pub latency: Option<Duration>,
    /// "ok", or what went wrong and what to fix.
    pub detail: String,
}

/// Checks every target of the route. Missing keys are reported per target, not as an error.
pub async fn check(config: &Config) -> Result<Vec<CheckRow>, JobError> {
    let mut keyless = config.clone();
    for provider in &mut keyless.providers {
        if provider.api_key.is_none() {
            provider.api_key_env = None;
        }
    }
    let prepared = prepare(&keyless).await?;
    let client = Client::new(4)
        .map_err(|e| JobError::from(crate::engine::EngineError::Client(e.to_string())))?
        .max_response_size(config.max_response_size);
    let mut rows = Vec::new();
    for (target, &index) in prepared.route.iter().zip(&config.route) {
        let provider = config.provider_of(&config.targets[index]);
        let model = target.model.clone();
        let mut row = CheckRow {
            target: target.name.clone(),
            provider: provider.name.clone(),
            model: model.clone().unwrap_or_else(|| "(per line)".into()),
            base_url: target.endpoint.base_url().to_string(),
            ok: false,
            latency: None,
            detail: String::new(),
        };
        if let (Some(env), None) = (&provider.api_key_env, &provider.api_key) {
            let empty = if std::env::var_os(env).is_some() {
                " (it is set but empty)"
            } else {
                ""
            };
            row.detail = format!("no key: set ${env} in the environment or in .env{empty}");
            rows.push(row);
            continue;
        }
        let Some(model) = model else {
            row.detail = "no model to try: give --model or a target with a model".into();
            rows.push(row);
            continue;
        };
        let body = serde_json::json!({
            "model": model,
            "messages": [{"role": "user", "content": "Reply with the single word OK."}],
        });
        let bytes = serde_json::to_vec(&body).unwrap_or_default().into();
        match client.chat(&target.endpoint, bytes, CHECK_TIMEOUT).await {
            Ok(reply) => {
                row.ok = true;
                row.latency = Some(reply.latency);
                row.detail = "ok".into();
            }
            Err(error) => {
                row.detail = advice(&error, &row, provider.api_key_env.as_deref());
                if error.class() == ErrorClass::NotFound || error.is_unknown_model() {
                    if let Ok(models) = client.list_models(&target.endpoint, CHECK_TIMEOUT).await {
                        if !models.is_empty() {
                            let shown: Vec<&str> = models.iter().take(12).map(String::as_str).collect();
                            row.detail.push_str(&format!(" Models it lists: {}", shown.join(", ")));
                        }
                    }
                }
            }
        }
        rows.push(row);
    }
    prepared.shutdown().await;
    Ok(rows)
}

fn advice(error: &RequestError, row: &CheckRow, key_env: Option<&str>) -> String {
    let key_hint = match key_env {
        Some(env) => format!("check ${env}"),
        None => "set api_key_env for this provider in the job file".into(),
    };
    if error.is_unknown_model() {
        return format!(
            "model {:?} does not exist there ({error}); check the target's model.",
            row.model
        );
    }
    match error.class() {
        ErrorClass::Connect => format!("cannot reach {}: {error}. Check base_url and that the server is up.", row.base_url),
        ErrorClass::Timeout => format!("no answer within {}s; check base_url or the network.", CHECK_TIMEOUT.as_secs()),
        ErrorClass::Auth => format!("key rejected ({error}); {key_hint}."),
        ErrorClass::InsufficientQuota => format!("key accepted but the quota is exhausted ({error}); add credit."),
        ErrorClass::NotFound => format!(
            "HTTP 404 at {}/chat/completions ({error}); check base_url (most servers want it to end in /v1) and the model.",
            row.base_url
        ),
        ErrorClass::RateLimited => format!("reachable and key accepted, but rate-limited right now ({error})."),
        ErrorClass::InvalidResponse => format!("answered, but not as an OpenAI-compatible server ({error}); check base_url."),
        _ => format!("{error}"),
    }
}

/// The check as an aligned table plus one line per problem.
pub fn render(rows: &[CheckRow]) -> String {
    let mut out = String::new();
    let width = |f: &dyn Fn(&CheckRow) -> usize, title: &str| rows.iter().map(f).max().unwrap_or(0).max(title.len());
    let wt = width(&|r| r.target.len(), "target");
    let wp = width(&|r| r.provider.len(), "provider");
    let wm = width(&|r| r.model.len(), "model");
    out.push_str(&format!(
        "{:<wt$}  {:<wp$}  {:<wm$}  {:<6}  {:>9}\n",
        "target", "provider", "model", "result", "latency"
    ));
    for r in rows {
        let latency = r
            .latency
            .map(|l| format!("{:.0} ms", l.as_secs_f64() * 1000.0))
            .unwrap_or_else(|| "-".into());
        let result = if r.ok { "ok" } else { "FAIL" };
        out.push_str(&format!(
            "{:<wt$}  {:<wp$}  {:<wm$}  {result:<6}  {latency:>9}\n",
            r.target, r.provider, r.model
        ));
    }
    for r in rows.iter().filter(|r| !r.ok) {
        out.push_str(&format!("\n{} ({}): {}", r.target, r.base_url, r.detail));
    }
    if rows.iter().any(|r| !r.ok) {
        out.push('\n');
    }
    out
}
