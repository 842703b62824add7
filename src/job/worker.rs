//! One item's task: the answer from the response cache when it has one (or from an identical
//! request already in flight), else from the dispatcher; then the outcome to the owner.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;

use super::owner::{unfinished, Event, Msg};
use crate::cache::{request_key, Cached, Key, Lookup, ResponseCache};
use crate::dispatch::Dispatcher;
use crate::input::WorkItem;
use crate::output::{render_as, OutputFormat};
use crate::pricing::PriceTable;
use crate::record::{CacheHit, Outcome, Success};

/// The response cache of a run, with what keys are made of.
pub struct CacheContext {
    pub cache: ResponseCache,
    /// Per route target: the provider's configured endpoint (base URL, or `mock`).
    pub endpoints: Vec<String>,
    pub prices: PriceTable,
}

impl CacheContext {
    /// The request's key at each target of the route (`None` where it has no model).
    fn keys(&self, dispatcher: &Dispatcher, item: &WorkItem) -> Vec<Option<Key>> {
        dispatcher
            .route()
            .iter()
            .zip(&self.endpoints)
            .map(|(target, endpoint)| {
                Dispatcher::model_for(target, item).map(|model| request_key(endpoint, model, &item.body))
            })
            .collect()
    }

    fn hit(&self, item: WorkItem, answer: &Cached) -> Outcome {
        let saved_usd = self.prices.get(&answer.model).map(|p| p.cost_usd(&answer.usage));
        Outcome {
            id: item.id,
            line: item.line,
            metadata: item.metadata,
            attempts: Vec::new(),
            result: Ok(Success {
                target: answer.target.clone(),
                model: answer.model.clone(),
                status: answer.status,
                request_id: answer.request_id.clone(),
                body: answer.body.clone(),
                usage: answer.usage,
                latency: Duration::ZERO,
                ttft: None,
                stream: None,
                cost_usd: Some(0.0),
                cache_hit: Some(CacheHit { saved_usd }),
            }),
        }
    }
}

pub struct Worker {
    pub dispatcher: Arc<Dispatcher>,
    pub cache: Option<Arc<CacheContext>>,
    pub events: mpsc::Sender<Msg>,
    /// Cancelled when requests in flight must be dropped (drain timeout, second Ctrl-C,
    /// failed write): the item is then left for a resume.
    pub abandon: CancellationToken,
    /// The run is stopping: a retryable failure then means "cut short", not "failed".
    pub stop: CancellationToken,
    /// Where this part starts on the job's time axis (running time of the earlier parts):
    /// added to every attempt's `sent_at`, so the timelines of all parts line up.
    pub offset: Duration,
    /// The writer's format: each line is rendered once, here, in it.
    pub format: OutputFormat,
}

impl Worker {
    /// Answers `item` and hands its line to the owner. False when there was nothing to hand
    /// over: the run stopped before the item's first request (it stays unsent and a resume
    /// sends it), or the owner is gone.
    pub async fn handle(&self, item: WorkItem, seq: u64, window: Option<OwnedSemaphorePermit>) -> bool {
        let outcome = tokio::select! {
            outcome = self.answer(item) => outcome,
            _ = self.abandon.cancelled() => None,
        };
        let Some(mut outcome) = outcome else { return false };
        for attempt in &mut outcome.attempts {
            attempt.sent_at += self.offset;
        }
        let unfinished = unfinished(&outcome, self.stop.is_cancelled());
        let msg = Msg {
            seq,
            line: render_as(&outcome, unfinished, self.format).ok(),
            unfinished,
            event: Event::Done(Box::new(outcome)),
            window,
        };
        self.events.send(msg).await.is_ok()
    }

    async fn answer(&self, item: WorkItem) -> Option<Outcome> {
        let Some(context) = &self.cache else {
            return self.dispatcher.try_process(item).await.ok();
        };
        let keys = context.keys(&self.dispatcher, &item);
        let known: Vec<Key> = keys.iter().flatten().copied().collect();
        loop {
            match context.cache.lookup(&known) {
                Lookup::Hit(answer) => return Some(context.hit(item, &answer)),
                Lookup::Wait(mut waiting) => {
                    if waiting.changed().await.is_ok() {
                        let answer = waiting.borrow().clone();
                        if let Some(answer) = answer {
                            return Some(context.hit(item, &answer));
                        }
                    }
                    // The identical request failed: this one goes on its own.
                }
                Lookup::Lead(lead) => {
                    let Ok(outcome) = self.dispatcher.try_process(item).await else {
                        context.cache.finish(lead, None);
                        return None;
                    };
                    let answer = match &outcome.result {
                        Ok(s) => {
                            let at = self.dispatcher.route().iter().position(|t| t.name == s.target);
                            at.and_then(|i| keys.get(i).copied().flatten()).map(|key| {
                                let cached = Cached {
                                    target: s.target.clone(),
                                    model: s.model.clone(),
                                    status: s.status,
                                    request_id: s.request_id.clone(),
                                    body: s.body.clone(),
                                    usage: s.usage,
                                };
                                (key, cached)
                            })
                        }
                        Err(_) => None,
                    };
                    context.cache.finish(lead, answer);
                    return Some(outcome);
                }
            }
        }
    }
}
