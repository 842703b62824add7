//! When a target is given up for good: a refused key or quota ([`Dispatcher::kill`]), a server
//! that never answers ([`Dispatcher::give_up`]), the first requests all refused the same way
//! ([`Dispatcher::refused`]); the run stops, saying what to check, when no target is left.

use super::{redact_url, Dispatcher, RouteTarget};
use crate::provider::RequestError;
use crate::record::ErrorClass;

impl Dispatcher {
    /// Opens a target's breaker for good; stops the run when no target is left.
    pub(super) fn kill(&self, target: &RouteTarget, error: &RequestError) {
        if !target.breaker.kill() {
            return;
        }
        target.note_given_up(error.class());
        let fix = match (error.class(), &target.api_key_env) {
            (ErrorClass::InsufficientQuota, _) => "add credit to the account or use another key".to_string(),
            (_, Some(env)) => format!("check the key in {env}"),
            (_, None) => "set api_key_env for this provider in the job file".to_string(),
        };
        let reason = format!(
            "provider {:?} (target {:?}) refused: {error}; {fix}",
            target.endpoint.provider, target.name
        );
        tracing::warn!(target_name = %target.name, reason = %reason, "target refused for good: its breaker stays open");
        self.abort_when_all_dead(reason);
        target.refusals.release();
    }

    /// A target whose breaker says it is dead (never answered, or failed its probe): stop
    /// when no target is left, saying what failed and what to check.
    pub(super) fn give_up(&self, target: &RouteTarget, error: &RequestError) {
        target.note_given_up(error.class());
        let check = match error.class() {
            ErrorClass::Connect => "check that the server is running and that base_url (host and port) is right",
            ErrorClass::Timeout => "check the network and base_url, or give a longer --timeout",
            _ => "the server answers but fails every request: check its logs, the model and base_url",
        };
        let reason = format!(
            "target {:?} at {} is not answering (last error: {error}); {check}. Nothing more is sent; \
             `sheepdog run --resume` sends what is left",
            target.name,
            redact_url(target.endpoint.base_url())
        );
        tracing::warn!(target_name = %target.name, reason = %reason, "target given up: its breaker stays open");
        self.abort_when_all_dead(reason);
        target.refusals.release();
    }

    /// Stops the run when no target is left. Before the requests held at a target's refusal
    /// gate are let go: woken first, they would find the route dead with the run not yet
    /// stopping, and fail their items for good where a stop leaves them for a resume.
    fn abort_when_all_dead(&self, reason: String) {
        if self.route.iter().all(RouteTarget::is_dead) {
            self.abort(reason);
        }
    }

    /// The first requests to a target all got the same refusal: give the target up.
    pub(super) fn refused(&self, target: &RouteTarget, count: u32, error: &RequestError) {
        if !target.breaker.kill() {
            return;
        }
        target.note_given_up(error.class());
        let fix = if error.is_unknown_model() {
            "the model name is not known there: check the target's model (`sheepdog check` lists the models it offers)"
        } else {
            "fix the request or the job file (set retry.refusal_limit = 0 to send every line anyway)"
        };
        let reason = format!(
            "target {:?} at {}: the first {count} requests were all refused the same way: {error}; {fix}",
            target.name,
            redact_url(target.endpoint.base_url())
        );
        tracing::warn!(target_name = %target.name, reason = %reason, "target refused every request");
        self.abort_when_all_dead(reason);
        target.refusals.release();
    }
}
