//! Token estimation with the OpenAI tokenizers (tiktoken-rs).
//!
//! Used before a request is sent, to charge the tokens-per-minute limiter and to estimate cost;
//! the provider's `usage` corrects the figure afterwards. For non-OpenAI models the count is an
//! approximation (their tokenizers differ), and it is labelled as such.

use std::sync::OnceLock;

use serde_json::Value;
use tiktoken_rs::CoreBPE;

/// A tokenizer vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// gpt-4o, gpt-4.1, gpt-5, o1, o3, o4 families.
    O200kBase,
    /// gpt-4, gpt-3.5-turbo, embeddings; also the approximation for other vendors' models.
    Cl100kBase,
}

impl Encoding {
    /// tiktoken's name for it: `o200k_base`, `cl100k_base`.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::O200kBase => "o200k_base",
            Encoding::Cl100kBase => "cl100k_base",
        }
    }
}

/// Framing tokens of every message (`<|start|>{role}<|message|>...<|end|>`).
pub const TOKENS_PER_MESSAGE: u64 = 3;
/// Extra token when a message carries a `name`.
pub const TOKENS_PER_NAME: u64 = 1;
/// Tokens that prime the reply (`<|start|>assistant<|message|>`), once per request.
pub const REPLY_PRIMING: u64 = 3;
/// Fixed estimate for one image part (the low-detail price of gpt-4o-class models).
pub const IMAGE_TOKENS: u64 = 85;

/// Model families tokenized with o200k_base; each matches the bare name or `name-...`.
const O200K_FAMILIES: &[&str] = &[
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.5",
    "gpt-5",
    "gpt-oss",
    "chatgpt-4o",
    "o1",
    "o3",
    "o4",
    "codex-mini",
];

/// Other OpenAI model families (cl100k_base).
const CL100K_FAMILIES: &[&str] = &[
    "gpt-4",
    "gpt-3.5",
    "gpt-35",
    "text-embedding-3",
    "text-embedding-ada-002",
];

/// Which encoding counts `model`'s tokens: o200k_base for the gpt-4o / gpt-4.1 / gpt-5 / o1 /
/// o3 / o4 families, cl100k_base otherwise. `exact` is false when the model is not an OpenAI
/// model (the count is then an approximation). A provider prefix (`openai/gpt-4.1`) and the
/// letter case are ignored.
pub fn encoding_for_model(model: &str) -> (Encoding, bool) {
    let lower = model.trim().to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    let in_family = |family: &&str| {
        name.strip_prefix(family)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
    };
    if O200K_FAMILIES.iter().any(in_family) {
        (Encoding::O200kBase, true)
    } else if CL100K_FAMILIES.iter().any(in_family) {
        (Encoding::Cl100kBase, true)
    } else {
        (Encoding::Cl100kBase, false)
    }
}

/// The tokenizer for `encoding`, loaded once. `None` if it could not be built.
fn bpe(encoding: Encoding) -> Option<&'static CoreBPE> {
    static O200K: OnceLock<Option<CoreBPE>> = OnceLock::new();
    static CL100K: OnceLock<Option<CoreBPE>> = OnceLock::new();
    match encoding {
        Encoding::O200kBase => O200K.get_or_init(|| tiktoken_rs::o200k_base().ok()),
        Encoding::Cl100kBase => CL100K.get_or_init(|| tiktoken_rs::cl100k_base().ok()),
    }
    .as_ref()
}

/// Tokens of `text`. Special-token markers in the text count as plain text, as the API does.
/// If the tokenizer cannot be loaded, falls back to one token per 4 characters (rounded up).
pub fn count_text(encoding: Encoding, text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    match bpe(encoding) {
        Some(bpe) => bpe.count_ordinary(text) as u64,
        None => approximate(text),
    }
}

/// The fallback estimate: a token per 4 characters, rounded up.
fn approximate(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// Prompt tokens of a chat-completions request body the way OpenAI counts them:
/// 3 per message, plus the tokens of each string field (role, content, name, ...), plus 1 per
/// `name`, plus 3 for the reply priming. Content may be a string or an array of parts: text parts are
/// counted, image parts a fixed [`IMAGE_TOKENS`]. Tool calls count their name and arguments;
/// `tools` / `functions` definitions count their JSON text (an overestimate, fine for limits).
///
/// A short-form body with a `prompt` string and no `messages` counts as one user message.
/// Missing or odd fields never panic: they count 0; a body without messages counts 0.
pub fn estimate_prompt_tokens<B: Fields + ?Sized>(model: &str, body: &B) -> u64 {
    prompt_tokens(encoding_for_model(model).0, body)
}

/// A request body whose top-level fields the counters read: a parsed `Value`, or the map of a
/// work item as it is (so the dispatcher counts a prompt without copying it into a `Value`).
pub trait Fields {
    /// The top-level field `key`, if the body is an object that has it.
    fn field(&self, key: &str) -> Option<&Value>;
}

impl Fields for Value {
    fn field(&self, key: &str) -> Option<&Value> {
        self.get(key)
    }
}

impl Fields for serde_json::Map<String, Value> {
    fn field(&self, key: &str) -> Option<&Value> {
        self.get(key)
    }
}

/// A Responses `input` array read as chat messages, borrowed.
pub struct AsMessages<'a>(pub &'a Value);

impl Fields for AsMessages<'_> {
    fn field(&self, key: &str) -> Option<&Value> {
        (key == "messages").then_some(self.0)
    }
}

/// [`estimate_prompt_tokens`] with the encoding given instead of found from a model name.
pub fn prompt_tokens<B: Fields + ?Sized>(encoding: Encoding, body: &B) -> u64 {
    let count = |text: &str| count_text(encoding, text);

    let message_tokens: u64 = match (body.field("messages"), body.field("prompt")) {
        (Some(Value::Array(messages)), _) => messages
            .iter()
            .map(|m| TOKENS_PER_MESSAGE + message_fields(encoding, m))
            .sum(),
        (_, Some(Value::String(prompt))) => TOKENS_PER_MESSAGE + count("user") + count(prompt),
        _ => return 0,
    };
    let tool_tokens: u64 = ["tools", "functions"]
        .iter()
        .filter_map(|key| body.field(key))
        .filter(|v| !v.is_null())
        .map(|v| count(&v.to_string()))
        .sum();
    message_tokens + tool_tokens + REPLY_PRIMING
}

/// Tokens of one message's fields (without the per-message framing).
fn message_fields(encoding: Encoding, message: &Value) -> u64 {
    let Value::Object(fields) = message else {
        return 0;
    };
    let count = |text: &str| count_text(encoding, text);
    fields
        .iter()
        .map(|(key, value)| match (key.as_str(), value) {
            ("name", Value::String(name)) => count(name) + TOKENS_PER_NAME,
            ("content", Value::Array(parts)) => parts.iter().map(|p| content_part(encoding, p)).sum(),
            ("tool_calls", Value::Array(calls)) => calls.iter().map(|c| tool_call(encoding, c)).sum(),
            ("function_call", call @ Value::Object(_)) => tool_call(encoding, call),
            (_, Value::String(text)) => count(text),
            _ => 0,
        })
        .sum()
}

/// Tokens of one part of an array `content`.
fn content_part(encoding: Encoding, part: &Value) -> u64 {
    match part {
        Value::String(text) => count_text(encoding, text),
        Value::Object(fields) => {
            let kind = fields.get("type").and_then(Value::as_str).unwrap_or("");
            if kind.contains("image") {
                IMAGE_TOKENS
            } else {
                ["text", "refusal"]
                    .iter()
                    .filter_map(|key| fields.get(*key).and_then(Value::as_str))
                    .map(|text| count_text(encoding, text))
                    .sum()
            }
        }
        _ => 0,
    }
}

/// Tokens of a tool call (`{"function": {"name", "arguments"}}`) or a legacy `function_call`.
fn tool_call(encoding: Encoding, call: &Value) -> u64 {
    let function = call.get("function").unwrap_or(call);
    let name = function.get("name").and_then(Value::as_str).unwrap_or("");
    let arguments = function.get("arguments").and_then(Value::as_str).unwrap_or("");
    count_text(encoding, name) + count_text(encoding, arguments) + 1
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn hello_world_is_two_tokens_in_both_encodings() {
        assert_eq!(count_text(Encoding::O200kBase, "hello world"), 2);
        assert_eq!(count_text(Encoding::Cl100kBase, "hello world"), 2);
        assert_eq!(count_text(Encoding::O200kBase, ""), 0);
    }

    #[test]
    fn encodings_differ_where_the_vocabularies_do() {
        // o200k_base has a larger vocabulary: non-English text takes fewer tokens.
        let text = "Привет, как дела? Это тестовое сообщение на русском языке.";
        let o200k = count_text(Encoding::O200kBase, text);
        let cl100k = count_text(Encoding::Cl100kBase, text);
        assert!(o200k < cl100k, "o200k {o200k} cl100k {cl100k}");
        // Special-token markers in user text are plain text, not one special token.
        assert_eq!(count_text(Encoding::Cl100kBase, "<|endoftext|>"), 7);
    }

    #[test]
    fn approximation_is_a_token_per_four_characters() {
        assert_eq!(approximate(""), 0);
        assert_eq!(approximate("abcd"), 1);
        assert_eq!(approximate("abcde"), 2);
        assert_eq!(approximate("ééééé"), 2);
    }

    #[test]
    fn model_families_pick_their_encoding() {
        for model in [
            "gpt-4o",
            "gpt-4o-mini",
            "gpt-4.1-2025-04-14",
            "gpt-4.1-nano",
            "gpt-5",
            "GPT-5-mini",
            "openai/gpt-5-nano",
            "o1",
            "o3-mini",
            "o4-mini",
            "chatgpt-4o-latest",
        ] {
            assert_eq!(encoding_for_model(model), (Encoding::O200kBase, true), "{model}");
        }
        for model in ["gpt-4", "gpt-4-turbo", "gpt-3.5-turbo", "gpt-35-turbo"] {
            assert_eq!(encoding_for_model(model), (Encoding::Cl100kBase, true), "{model}");
        }
        for model in [
            "deepseek-chat",
            "claude-sonnet-4-5",
            "gemini-2.5-flash",
            "llama-3.1-8b",
            "o1x",
            "gpt-40",
            "ollama",
            "",
        ] {
            assert_eq!(encoding_for_model(model), (Encoding::Cl100kBase, false), "{model}");
        }
    }

    #[test]
    fn messages_add_framing_per_message_and_reply_priming() {
        let e = Encoding::O200kBase;
        let c = |t: &str| count_text(e, t);
        let body = json!({
            "model": "gpt-4.1",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "hello world", "name": "ana"}
            ]
        });
        let expected =
            3 + c("system") + c("You are terse.") + 3 + c("user") + c("hello world") + c("ana") + TOKENS_PER_NAME + 3;
        assert_eq!(estimate_prompt_tokens("gpt-4.1", &body), expected);
        // "user" and "hello world" are 1 and 2 tokens: 3 + 1 + 2 + 3.
        let one = json!({"messages": [{"role": "user", "content": "hello world"}]});
        assert_eq!(estimate_prompt_tokens("gpt-4.1", &one), 9);
        let prompt = json!({"prompt": "hello world"});
        assert_eq!(estimate_prompt_tokens("gpt-4.1", &prompt), 9);
    }

    #[test]
    fn content_parts_count_text_and_a_fixed_image_estimate() {
        let c = |t: &str| count_text(Encoding::O200kBase, t);
        let body = json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            {"type": "text", "text": "Answer briefly."}
        ]}]});
        let expected = 3 + c("user") + c("What is in this picture?") + IMAGE_TOKENS + c("Answer briefly.") + 3;
        assert_eq!(estimate_prompt_tokens("gpt-4o", &body), expected);
    }

    #[test]
    fn tool_calls_and_tool_definitions_are_counted() {
        let c = |t: &str| count_text(Encoding::O200kBase, t);
        let tools = json!([{"type": "function", "function": {"name": "get_weather"}}]);
        let body = json!({"tools": tools, "messages": [
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": "12C"}
        ]});
        let expected = 3
            + c("assistant")
            + c("get_weather")
            + c("{\"city\":\"Oslo\"}")
            + 1
            + 3
            + c("tool")
            + c("c1")
            + c("12C")
            + c(&tools.to_string())
            + 3;
        assert_eq!(estimate_prompt_tokens("gpt-4.1", &body), expected);
    }

    #[test]
    fn odd_bodies_count_zero_for_what_they_lack_and_never_panic() {
        let framing_only = TOKENS_PER_MESSAGE + REPLY_PRIMING;
        for (body, expected) in [
            (json!(null), 0),
            (json!("messages"), 0),
            (json!([1, 2, 3]), 0),
            (json!({}), 0),
            (json!({"messages": "hi"}), 0),
            (json!({"messages": {"role": "user"}}), 0),
            (json!({"prompt": 42}), 0),
            (json!({"messages": []}), REPLY_PRIMING),
            (json!({"messages": [null]}), framing_only),
            (json!({"messages": [42]}), framing_only),
            (json!({"messages": [{"role": 7, "content": {"a": 1}}]}), framing_only),
            (
                json!({"messages": [{"content": [null, 3, {"type": "text"}, {"text": 5}]}]}),
                framing_only,
            ),
            (
                json!({"messages": [{"tool_calls": [null, {"function": 3}]}]}),
                framing_only + 2,
            ),
            (json!({"messages": [], "tools": null}), REPLY_PRIMING),
        ] {
            assert_eq!(estimate_prompt_tokens("anything", &body), expected, "{body}");
        }
    }
}
