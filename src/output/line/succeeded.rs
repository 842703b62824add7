//! The line of an item that succeeded, in the default format, written by hand: the bytes that
//! serializing its [`super::ItemLine`] writes (a test compares the two over many outcomes), one
//! key after another. This runs for every answered request; serde's generic path escaped each
//! key byte by byte and wrote the block through a map for its flattened end, which made the line
//! about a tenth of a request's instructions.

use super::{ms, per_second, targets_tried, usd};
use crate::json_text::{write_f64, write_int, write_opt_f64, write_str};
use crate::record::{Outcome, Success};

/// The line of `outcome`, which ended in `s`, with its newline.
pub(super) fn line(outcome: &Outcome, s: &Success, unfinished: bool) -> serde_json::Result<Vec<u8>> {
    let body = s.body.get();
    let mut out = Vec::with_capacity(body.len() + 640 + 160 * outcome.attempts.len());
    out.extend_from_slice(b"{\"id\":\"sheepdog-");
    write_int(&mut out, outcome.line);
    out.extend_from_slice(b"\",\"custom_id\":");
    write_str(&mut out, &outcome.id)?;
    out.extend_from_slice(b",\"response\":{\"status_code\":");
    write_int(&mut out, s.status);
    out.extend_from_slice(b",\"request_id\":");
    match &s.request_id {
        Some(id) => write_str(&mut out, id)?,
        // As `super::request_id` makes it.
        None => {
            out.extend_from_slice(b"\"req_sheepdog_");
            write_int(&mut out, outcome.line);
            out.push(b'_');
            write_int(&mut out, outcome.attempts.len());
            out.push(b'"');
        }
    }
    out.extend_from_slice(b",\"body\":");
    out.extend_from_slice(body.as_bytes());
    out.extend_from_slice(b"},\"error\":null,\"sheepdog\":{\"line\":");
    write_int(&mut out, outcome.line);
    out.extend_from_slice(b",\"attempts\":");
    write_int(&mut out, outcome.attempts.len());
    out.extend_from_slice(b",\"fallbacks\":");
    write_int(&mut out, outcome.fallbacks());
    out.extend_from_slice(b",\"targets_tried\":[");
    for (i, tried) in targets_tried(outcome).iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"{\"target\":" } else { b",{\"target\":" });
        write_str(&mut out, tried.target)?;
        out.extend_from_slice(b",\"attempts\":");
        write_int(&mut out, tried.attempts);
        out.extend_from_slice(b",\"result\":");
        write_str(&mut out, tried.result)?;
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"attempt_log\":[");
    for (i, attempt) in outcome.attempts.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"{\"target\":" } else { b",{\"target\":" });
        write_str(&mut out, &attempt.target)?;
        out.extend_from_slice(b",\"model\":");
        write_str(&mut out, &attempt.model)?;
        out.extend_from_slice(b",\"status\":");
        match attempt.error.as_ref().and_then(|e| e.status).or(attempt.status) {
            Some(status) => write_int(&mut out, status),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"error_class\":");
        match &attempt.error {
            Some(e) => write_str(&mut out, e.class.as_str())?,
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"latency_ms\":");
        write_f64(&mut out, ms(attempt.latency))?;
        out.extend_from_slice(b",\"sent_ms\":");
        write_f64(&mut out, ms(attempt.sent_at))?;
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"target\":");
    write_str(&mut out, &s.target)?;
    out.extend_from_slice(b",\"model\":");
    write_str(&mut out, &s.model)?;
    out.extend_from_slice(b",\"latency_ms\":");
    write_f64(&mut out, ms(s.latency))?;
    out.extend_from_slice(b",\"ttft_ms\":");
    write_opt_f64(&mut out, s.ttft.map(ms))?;
    out.extend_from_slice(b",\"itl_ms\":");
    write_opt_f64(&mut out, s.stream.and_then(|t| t.itl).map(ms))?;
    out.extend_from_slice(b",\"tpot_ms\":");
    write_opt_f64(&mut out, s.stream.and_then(|t| t.tpot).map(ms))?;
    out.extend_from_slice(b",\"input_tokens\":");
    write_int(&mut out, s.usage.input_tokens);
    out.extend_from_slice(b",\"cached_input_tokens\":");
    write_int(&mut out, s.usage.cached_input_tokens);
    out.extend_from_slice(b",\"output_tokens\":");
    write_int(&mut out, s.usage.output_tokens);
    let estimated = s.stream.is_some_and(|t| t.output_tokens_estimated);
    out.extend_from_slice(if estimated {
        b",\"output_tokens_estimated\":true,\"output_tokens_per_s\":"
    } else {
        b",\"output_tokens_estimated\":false,\"output_tokens_per_s\":"
    });
    write_opt_f64(&mut out, per_second(s.usage.output_tokens, s.latency))?;
    out.extend_from_slice(b",\"cost_usd\":");
    write_opt_f64(&mut out, usd(s.cost_usd))?;
    if let Some(hit) = s.cache_hit {
        out.extend_from_slice(b",\"cache_hit\":true,\"saved_usd\":");
        write_opt_f64(&mut out, usd(hit.saved_usd))?;
    }
    if let Some(metadata) = &outcome.metadata {
        out.extend_from_slice(b",\"metadata\":");
        serde_json::to_writer(&mut out, metadata)?;
    }
    if unfinished {
        out.extend_from_slice(b",\"unfinished\":true");
    }
    out.extend_from_slice(b"}}\n");
    Ok(out)
}
