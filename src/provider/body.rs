//! How much of an answer sheepdog holds: at most `--max-response-size` bytes per response
//! (plain body, error body, or a whole event stream, so also any single SSE line). A body
//! declared larger (`Content-Length`) is refused before it is read; one that grows past the
//! limit is cut off there. Either way the attempt fails with [`RequestError::TooLarge`]
//! (class `response_too_large`, retried once) and the connection is dropped.
//!
//! The limit alone would still let every request in flight hold its full share at once
//! (64 × 32 MiB). So the first [`SMALL_BODY`] bytes of each answer are free (chat answers are
//! kilobytes), and an answer that grows past them waits for one of a few shared large-body
//! slots: memory stays bounded by `in flight × SMALL_BODY + slots × limit` whatever the
//! servers send. A waiting answer stops reading its socket (TCP pushes back on the server);
//! its request timeout still runs. A slot holder never waits for anything else, so no
//! answer waits for ever.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::RequestError;

/// `--max-response-size` when not given.
pub const DEFAULT_MAX_RESPONSE_SIZE: u64 = 32 << 20;

/// Bytes of an answer held without a large-body slot.
pub const SMALL_BODY: u64 = 1 << 20;

/// Bytes all large-body slots may hold together (at least one slot whatever the limit).
const LARGE_BODIES: u64 = 64 << 20;

/// Smallest `--max-response-size` accepted: below it no chat completion fits.
pub const MIN_MAX_RESPONSE_SIZE: u64 = 1 << 10;

/// A size as `--max-response-size` and `run.max_response_size` take it: `32MiB`, `512KiB`,
/// `1GB`, `4096` (bytes); binary units (KiB, MiB, GiB) and decimal ones (KB, MB, GB).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bytes = text
        .trim()
        .parse::<bytesize::ByteSize>()
        .map_err(|_| format!("{text:?} is not a size: write e.g. 32MiB, 512KiB or 1GB"))?
        .as_u64();
    if bytes < MIN_MAX_RESPONSE_SIZE {
        return Err(format!("{text:?} is too small: at least 1KiB"));
    }
    Ok(bytes)
}

/// The per-response limit and the large-body slots, shared by every clone of a client.
#[derive(Debug, Clone)]
pub struct BodyLimit {
    max: u64,
    large: Arc<Semaphore>,
    slots: u32,
}

impl Default for BodyLimit {
    fn default() -> Self {
        BodyLimit::new(DEFAULT_MAX_RESPONSE_SIZE)
    }
}

impl BodyLimit {
    pub fn new(max: u64) -> BodyLimit {
        let max = max.max(1);
        let slots = u32::try_from(LARGE_BODIES / max).unwrap_or(1).clamp(1, 64);
        BodyLimit {
            max,
            large: Arc::new(Semaphore::new(slots as usize)),
            slots,
        }
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// Refuses a body whose declared length is over the limit, before reading it.
    pub fn check_declared(&self, length: Option<u64>) -> Result<(), RequestError> {
        match length {
            Some(seen) if seen > self.max => Err(RequestError::TooLarge {
                limit: self.max,
                seen,
                declared: true,
            }),
            _ => Ok(()),
        }
    }

    /// A meter for one response read whole.
    pub fn meter(&self) -> BodyMeter {
        BodyMeter {
            limit: self.clone(),
            seen: 0,
            slot: None,
            weight: 1,
        }
    }

    /// A meter for an event stream. The SSE decoder grows its buffer of a long line by
    /// doubling (about three times the line's size at a reallocation), so a large stream takes
    /// every slot: one at a time, alone.
    pub fn stream_meter(&self) -> BodyMeter {
        BodyMeter {
            weight: self.slots,
            ..self.meter()
        }
    }
}

/// Counts the bytes of one response; holds its large-body slot, if it needed one, until dropped.
#[derive(Debug)]
pub struct BodyMeter {
    limit: BodyLimit,
    seen: u64,
    slot: Option<OwnedSemaphorePermit>,
    /// Slots a large answer takes.
    weight: u32,
}

impl BodyMeter {
    /// Accounts for `bytes` more bytes: an error past the limit; waits for a large-body slot
    /// when the answer grows past [`SMALL_BODY`].
    pub async fn add(&mut self, bytes: usize) -> Result<(), RequestError> {
        self.seen = self.seen.saturating_add(bytes as u64);
        if self.seen > self.limit.max {
            return Err(RequestError::TooLarge {
                limit: self.limit.max,
                seen: self.seen,
                declared: false,
            });
        }
        if self.seen > SMALL_BODY && self.slot.is_none() {
            // The semaphore is never closed; a closed one would only mean no slot to wait for.
            self.slot = self.limit.large.clone().acquire_many_owned(self.weight).await.ok();
        }
        Ok(())
    }
}

/// Reads a whole body under `limit`. The meter is returned so that its slot is held while
/// the caller parses the bytes.
pub async fn read(
    mut response: reqwest::Response,
    limit: &BodyLimit,
) -> Result<(Vec<u8>, BodyMeter), Result<RequestError, reqwest::Error>> {
    limit.check_declared(response.content_length()).map_err(Ok)?;
    let mut meter = limit.meter();
    let mut chunks = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Err)? {
        meter.add(chunk.len()).await.map_err(Ok)?;
        chunks.push(chunk);
    }
    Ok((concat(chunks), meter))
}

/// The chunks of a body in one buffer of the exact size: one copy, no doubling while the body
/// arrives.
pub(super) fn concat(chunks: Vec<bytes::Bytes>) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(chunks.iter().map(|c| c.len()).sum());
    for chunk in chunks {
        bytes.extend_from_slice(&chunk);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_the_humane_way_and_tiny_or_odd_ones_refused() {
        assert_eq!(parse_size("32MiB"), Ok(32 << 20));
        assert_eq!(parse_size("32 MiB"), Ok(32 << 20));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").unwrap_err().contains("at least 1KiB"));
        assert!(parse_size("lots").unwrap_err().contains("not a size"));
        assert!(parse_size("18446744073709551615").is_ok());
    }

    #[tokio::test]
    async fn a_body_past_the_limit_fails_with_the_size_seen() {
        let limit = BodyLimit::new(10);
        let mut meter = limit.meter();
        assert!(meter.add(6).await.is_ok());
        match meter.add(6).await {
            Err(RequestError::TooLarge { limit, seen, declared }) => {
                assert_eq!((limit, seen, declared), (10, 12, false))
            }
            other => panic!("{other:?}"),
        }
        assert!(limit.check_declared(Some(10)).is_ok());
        assert!(matches!(
            limit.check_declared(Some(1 << 30)),
            Err(RequestError::TooLarge { seen, declared: true, .. }) if seen == 1 << 30
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn large_answers_share_a_few_slots_and_small_ones_never_wait() {
        let limit = BodyLimit::new(LARGE_BODIES);
        let mut first = limit.meter();
        first
            .add(SMALL_BODY as usize + 1)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut second = limit.meter();
        second.add(SMALL_BODY as usize).await.unwrap_or_else(|e| panic!("{e}"));
        let waiting = tokio::time::timeout(std::time::Duration::from_secs(1), second.add(1)).await;
        assert!(waiting.is_err(), "the second large answer waits for the slot");
        drop(first);
        let mut third = limit.meter();
        third
            .add(SMALL_BODY as usize + 1)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
