//! The line of an item that succeeded, in the default format, written by hand: the bytes that
//! serializing its [`super::ItemLine`] writes (a test compares the two over many outcomes), one
//! key after another. The values come from the same builders as the serde path
//! ([`super::succeeded_end`], [`super::targets_tried`], [`super::attempt_log`],
//! [`super::request_id`]); only the writing differs. This runs for every answered request;
//! serde's generic path escaped each key byte by byte and wrote the block through a map for its
//! flattened end, which made the line about a tenth of a request's instructions.

use super::{attempt_log, request_id, succeeded_end, targets_tried, End};
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
    write_str(&mut out, &request_id(s.request_id.as_deref(), outcome))?;
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
    for (i, logged) in attempt_log(outcome).iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"{\"target\":" } else { b",{\"target\":" });
        write_str(&mut out, logged.target)?;
        out.extend_from_slice(b",\"model\":");
        write_str(&mut out, logged.model)?;
        out.extend_from_slice(b",\"status\":");
        match logged.status {
            Some(status) => write_int(&mut out, status),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"error_class\":");
        match logged.error_class {
            Some(class) => write_str(&mut out, class.as_str())?,
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"latency_ms\":");
        write_f64(&mut out, logged.latency_ms)?;
        out.extend_from_slice(b",\"sent_ms\":");
        write_f64(&mut out, logged.sent_ms)?;
        out.push(b'}');
    }
    out.push(b']');
    write_end(&mut out, &succeeded_end(s))?;
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

/// The keys of a succeeded item's end, each after a comma.
fn write_end(out: &mut Vec<u8>, end: &End<'_>) -> serde_json::Result<()> {
    let End::Succeeded {
        target,
        model,
        latency_ms,
        ttft_ms,
        itl_ms,
        tpot_ms,
        input_tokens,
        cached_input_tokens,
        output_tokens,
        output_tokens_estimated,
        output_tokens_per_s,
        cost_usd,
        cache_hit,
        saved_usd,
    } = end
    else {
        return Err(serde::ser::Error::custom(
            "a failed item's end has no hand-written line",
        ));
    };
    out.extend_from_slice(b",\"target\":");
    write_str(out, target)?;
    out.extend_from_slice(b",\"model\":");
    write_str(out, model)?;
    out.extend_from_slice(b",\"latency_ms\":");
    write_f64(out, *latency_ms)?;
    out.extend_from_slice(b",\"ttft_ms\":");
    write_opt_f64(out, *ttft_ms)?;
    out.extend_from_slice(b",\"itl_ms\":");
    write_opt_f64(out, *itl_ms)?;
    out.extend_from_slice(b",\"tpot_ms\":");
    write_opt_f64(out, *tpot_ms)?;
    out.extend_from_slice(b",\"input_tokens\":");
    write_int(out, *input_tokens);
    out.extend_from_slice(b",\"cached_input_tokens\":");
    write_int(out, *cached_input_tokens);
    out.extend_from_slice(b",\"output_tokens\":");
    write_int(out, *output_tokens);
    out.extend_from_slice(b",\"output_tokens_estimated\":");
    out.extend_from_slice(if *output_tokens_estimated { b"true" } else { b"false" });
    out.extend_from_slice(b",\"output_tokens_per_s\":");
    write_opt_f64(out, *output_tokens_per_s)?;
    out.extend_from_slice(b",\"cost_usd\":");
    write_opt_f64(out, *cost_usd)?;
    if let Some(hit) = cache_hit {
        out.extend_from_slice(if *hit {
            b",\"cache_hit\":true"
        } else {
            b",\"cache_hit\":false"
        });
    }
    if let Some(saved) = saved_usd {
        out.extend_from_slice(b",\"saved_usd\":");
        write_opt_f64(out, *saved)?;
    }
    Ok(())
}
