//! Long request bodies already encoded, kept for the next request of the same prompt.
//!
//! A bench that cycles the prompts of a file it holds in memory (up to 32 MiB, or ShareGPT's)
//! sends each prompt's very `Map` many times. Encoding a 400 KB prompt copies and
//! escape-checks every byte of it, about a fifth of the client's user time for such a request; the
//! bytes are the same every time for a given model and endpoint. So the bytes of a body of at
//! least [`KEPT_FROM`] bytes whose `Map` is shared (a held prompt: more than one owner) are kept
//! here, up to [`KEPT_AT_MOST`] bytes in all, oldest out first, and the next request of that
//! same `Map` takes them. A run's lines are never shared, and short bodies never come here: they
//! take no lock.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::{Map, Value};

use super::ApiEndpoint;

/// Bodies shorter than this are encoded every time (the kept buffers' threshold).
const KEPT_FROM: usize = super::buffers::KEPT_FROM;

/// At most this many bytes of encoded bodies are kept (a bench holds prompt files of up to
/// 32 MiB in memory).
const KEPT_AT_MOST: usize = 32 * 1024 * 1024;

impl super::Client {
    /// [`super::Client::encode`] of a body that may be sent many times (a bench's held
    /// prompts): a long one is encoded once per model and endpoint (see this module).
    pub fn encode_shared(
        &self,
        api: ApiEndpoint,
        body: &Arc<Map<String, Value>>,
        model: &str,
    ) -> serde_json::Result<Bytes> {
        self.encoded.get_or(api, body, model, || self.encode(api, body, model))
    }
}

#[derive(Default)]
pub(super) struct Encoded {
    kept: Mutex<Vec<Kept>>,
}

struct Kept {
    /// Held, so that no other `Map` can take its address while its bytes are kept.
    body: Arc<Map<String, Value>>,
    api: ApiEndpoint,
    model: Box<str>,
    bytes: Bytes,
}

impl Encoded {
    /// `body`'s bytes for `api` and `model`: kept ones, or `encode`'s (kept when long and
    /// `body` is shared).
    pub fn get_or(
        &self,
        api: ApiEndpoint,
        body: &Arc<Map<String, Value>>,
        model: &str,
        encode: impl FnOnce() -> serde_json::Result<Bytes>,
    ) -> serde_json::Result<Bytes> {
        if Arc::strong_count(body) < 2 {
            return encode();
        }
        let same = |k: &Kept| Arc::ptr_eq(&k.body, body) && k.api == api && *k.model == *model;
        if let Some(bytes) = self
            .kept
            .lock()
            .ok()
            .and_then(|kept| kept.iter().find(|k| same(k)).map(|k| k.bytes.clone()))
        {
            return Ok(bytes);
        }
        let bytes = encode()?;
        if bytes.len() >= KEPT_FROM && bytes.len() <= KEPT_AT_MOST {
            if let Ok(mut kept) = self.kept.lock() {
                let mut total: usize = kept.iter().map(|k| k.bytes.len()).sum::<usize>() + bytes.len();
                while total > KEPT_AT_MOST && !kept.is_empty() {
                    total -= kept.remove(0).bytes.len();
                }
                if !kept.iter().any(same) {
                    kept.push(Kept {
                        body: body.clone(),
                        api,
                        model: model.into(),
                        bytes: bytes.clone(),
                    });
                }
            }
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn body(len: usize) -> Arc<Map<String, Value>> {
        let content = "x".repeat(len);
        Arc::new(
            serde_json::json!({"messages": [{"role": "user", "content": content}]})
                .as_object()
                .unwrap()
                .clone(),
        )
    }

    /// `get_or` with an encoder that counts its calls.
    fn get(encoded: &Encoded, body: &Arc<Map<String, Value>>, model: &str, calls: &Cell<u32>) -> Bytes {
        encoded
            .get_or(ApiEndpoint::Chat, body, model, || {
                calls.set(calls.get() + 1);
                Ok(Bytes::from(serde_json::to_vec(&**body).unwrap()))
            })
            .unwrap()
    }

    #[test]
    fn a_shared_long_body_is_encoded_once_per_model() {
        let encoded = Encoded::default();
        let long = body(100_000);
        let _held = long.clone();
        let calls = Cell::new(0);
        let first = get(&encoded, &long, "a", &calls);
        assert_eq!(get(&encoded, &long, "a", &calls), first);
        assert_eq!(calls.get(), 1, "the second request took the kept bytes");
        get(&encoded, &long, "b", &calls);
        assert_eq!(calls.get(), 2, "another model is encoded for itself");
    }

    #[test]
    fn short_or_unshared_bodies_are_encoded_every_time() {
        let encoded = Encoded::default();
        let calls = Cell::new(0);
        let short = body(100);
        let _held = short.clone();
        get(&encoded, &short, "a", &calls);
        get(&encoded, &short, "a", &calls);
        assert_eq!(calls.get(), 2, "a short body");
        let unshared = body(100_000);
        get(&encoded, &unshared, "a", &calls);
        get(&encoded, &unshared, "a", &calls);
        assert_eq!(calls.get(), 4, "a body with one owner (a run's line)");
        assert!(encoded.kept.lock().unwrap().is_empty());
    }

    #[test]
    fn the_oldest_bodies_go_once_the_kept_bytes_exceed_the_cap() {
        let encoded = Encoded::default();
        let calls = Cell::new(0);
        let bodies: Vec<_> = (0..5).map(|_| body(10 * 1024 * 1024)).collect();
        let _held = bodies.clone();
        for body in &bodies {
            get(&encoded, body, "a", &calls);
        }
        let kept = encoded.kept.lock().unwrap();
        let total: usize = kept.iter().map(|k| k.bytes.len()).sum();
        assert!(total <= KEPT_AT_MOST, "{total}");
        assert_eq!(kept.len(), 3);
        assert!(Arc::ptr_eq(&kept[2].body, &bodies[4]), "the newest is kept");
        assert!(Arc::ptr_eq(&kept[0].body, &bodies[2]), "the oldest two went");
    }

    #[test]
    fn a_streaming_client_encodes_its_own_bytes_of_a_kept_long_body() {
        let content = "x".repeat(100_000);
        let body = serde_json::json!({"messages": [{"role": "user", "content": content}]});
        let body = std::sync::Arc::new(body.as_object().unwrap().clone());
        let _held = body.clone();
        let plain = crate::provider::Client::new(1).unwrap();
        let once = plain.encode_shared(ApiEndpoint::Chat, &body, "m").unwrap();
        assert_eq!(plain.encode_shared(ApiEndpoint::Chat, &body, "m").unwrap(), once);
        let streaming = plain
            .clone()
            .streaming(crate::provider::stream::StreamSettings::default());
        let streamed = streaming.encode_shared(ApiEndpoint::Chat, &body, "m").unwrap();
        let streamed: Value = serde_json::from_slice(&streamed).unwrap();
        assert_eq!(streamed["stream"], true, "not the plain client's kept bytes");
        let once: Value = serde_json::from_slice(&once).unwrap();
        assert_eq!(once.get("stream"), None);
    }
}
