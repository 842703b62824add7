//! Systematic refusals: when the first requests to a target all get the same 4xx (an unknown
//! model, a malformed parameter every line shares) and none succeeded, sending the rest of a
//! ten-million-line file would only collect ten million copies of that answer. Until the
//! target has answered anything else, at most `limit` requests go to it; when all of them got
//! the same refusal the dispatcher gives the target up (and the run stops if it was the last).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use tokio::sync::Notify;

/// What identifies "the same" refusal: status, provider code and message.
type Answer = (u16, Option<String>, String);

#[derive(Debug)]
pub struct Refusals {
    limit: u32,
    /// Set once the target answered something else: no gate any more.
    open: AtomicBool,
    state: Mutex<State>,
    opened: Notify,
}

#[derive(Debug, Default)]
struct State {
    admitted: u32,
    first: Option<Answer>,
    same: u32,
}

impl Refusals {
    /// `limit` 0 turns the check off.
    pub fn new(limit: u32) -> Refusals {
        Refusals {
            limit,
            open: AtomicBool::new(limit == 0),
            state: Mutex::new(State::default()),
            opened: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Waits until one more request may go: at once when the target answered anything else
    /// than the same refusal, else while fewer than `limit` went.
    pub async fn admit(&self) {
        loop {
            if self.open.load(Ordering::Acquire) {
                return;
            }
            let notified = self.opened.notified();
            {
                let mut state = self.lock();
                if self.open.load(Ordering::Acquire) {
                    return;
                }
                if state.admitted < self.limit {
                    state.admitted += 1;
                    return;
                }
            }
            notified.await;
        }
    }

    /// A request ended without an answer that tells (a connect error, a timeout): it gives its
    /// place back, so the gate never holds requests for answers that will not come.
    pub fn inconclusive(&self) {
        if self.open.load(Ordering::Acquire) {
            return;
        }
        let mut state = self.lock();
        state.admitted = state.admitted.saturating_sub(1);
        drop(state);
        self.opened.notify_waiters();
    }

    /// The target was given up: every request waiting at the gate goes on (and leaves the
    /// target, which is dead).
    pub fn release(&self) {
        self.answered();
    }

    /// The target answered something other than a refusal (a success, a 429, a 5xx...).
    pub fn answered(&self) {
        if !self.open.swap(true, Ordering::AcqRel) {
            self.opened.notify_waiters();
        }
    }

    /// A refusal (4xx other than 401/403/429). Returns how many requests got this same
    /// refusal when that reached the limit with nothing else answered: time to give up.
    pub fn refused(&self, status: u16, code: Option<&str>, message: &str) -> Option<u32> {
        if self.open.load(Ordering::Acquire) {
            return None;
        }
        let answer: Answer = (status, code.map(str::to_string), message.to_string());
        let mut state = self.lock();
        match &state.first {
            None => {
                state.first = Some(answer);
                state.same = 1;
            }
            Some(first) if *first == answer => state.same += 1,
            Some(_) => {
                drop(state);
                self.answered();
                return None;
            }
        }
        (state.same >= self.limit).then_some(state.same)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn at_most_the_limit_goes_until_something_else_is_answered() {
        let gate = Arc::new(Refusals::new(3));
        for _ in 0..3 {
            gate.admit().await;
        }
        let fourth = tokio::spawn({
            let gate = gate.clone();
            async move { gate.admit().await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!fourth.is_finished(), "the fourth waits for an answer");
        assert_eq!(gate.refused(400, Some("400"), "Invalid model name"), None);
        assert_eq!(gate.refused(400, Some("400"), "Invalid model name"), None);
        assert_eq!(gate.refused(400, Some("400"), "Invalid model name"), Some(3));
        assert!(!fourth.is_finished());
        gate.answered();
        assert!(tokio::time::timeout(Duration::from_secs(1), fourth).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn different_refusals_or_a_success_open_the_gate() {
        let gate = Refusals::new(2);
        assert_eq!(gate.refused(400, None, "bad temperature"), None);
        assert_eq!(gate.refused(422, None, "bad messages"), None, "not the same refusal");
        assert_eq!(
            gate.refused(400, None, "bad temperature"),
            None,
            "the gate is open for good"
        );
        let off = Refusals::new(0);
        for _ in 0..100 {
            off.admit().await;
            assert_eq!(off.refused(400, None, "x"), None, "0 turns the check off");
        }
    }

    /// Pins the hang found when the gate met answers that were neither refusals nor successes
    /// (timeouts, oversized answers): waiting requests were never let go.
    #[tokio::test(start_paused = true)]
    async fn a_request_without_an_answer_gives_its_place_back_and_a_release_lets_all_go() {
        let gate = Arc::new(Refusals::new(1));
        gate.admit().await;
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.admit().await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiting.is_finished(), "the second waits");
        gate.inconclusive();
        assert!(tokio::time::timeout(Duration::from_secs(1), waiting).await.is_ok());

        let third = tokio::spawn({
            let gate = gate.clone();
            async move { gate.admit().await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!third.is_finished(), "the gate holds again");
        gate.release();
        assert!(tokio::time::timeout(Duration::from_secs(1), third).await.is_ok());
    }
}
