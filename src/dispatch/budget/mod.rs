//! `--max-cost`: a budget the dispatcher consults before each request.
//!
//! The budget knows what was spent (the cost of the usage the provider reported, earlier parts
//! of a resumed job included) and what the requests in flight may still cost (each reserves
//! its prompt tokens plus `max_tokens` at the price of the target it goes to, released and
//! replaced by its real cost when its answer comes). A request whose reservation fits goes;
//! one that would fit once the requests in flight are settled waits for them; one that cannot
//! fit even then stops the run: nothing new is sent, the requests in flight finish, and the
//! run ends with "budget reached" (exit 3), its unsent items left for a resume.
//!
//! Amounts are kept in the budget's currency: a target's USD list price times its factor
//! (the provider's `billing`, or `--fx` for a budget in another currency than USD).

mod hook;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::pricing::currency::Money;
use crate::pricing::Price;
use crate::record::Usage;

pub use crate::config::max_cost::{factor, MaxCost};
pub use crate::stats::BudgetReport;

/// A reservation is scaled up by at most this much when answers cost more than reserved.
const MAX_SCALE: f64 = 10.0;

/// Why a request may not go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// It could pass the budget even with nothing in flight: the run must stop.
    Reached,
    /// The run is stopping anyway.
    Stopped,
}

#[derive(Debug, Default)]
struct State {
    spent: f64,
    spent_before: f64,
    reserved: f64,
    /// Reservations are multiplied by this: the largest real cost / reservation seen so far
    /// (at least 1, at most [`MAX_SCALE`]), so an estimate that runs low is corrected.
    scale: f64,
    reached: bool,
}

/// The budget of one run, shared by every request of it.
#[derive(Debug)]
pub struct Budget {
    limit: f64,
    money: Money,
    /// Budget-currency units per USD of list price, by target name; `Err` says why a target
    /// cannot be budgeted.
    factors: HashMap<String, Result<f64, String>>,
    state: Mutex<State>,
    settled: Notify,
}

impl Budget {
    /// The budget of `config`'s `max_cost`, if it has one.
    pub fn from_config(config: &Config) -> Option<Arc<Budget>> {
        let max = config.max_cost.as_ref()?;
        let factors = config
            .route
            .iter()
            .map(|&t| {
                let target = &config.targets[t];
                let billing = config.provider_of(target).billing.as_ref();
                (target.name.clone(), factor(max, billing))
            })
            .collect();
        Some(Arc::new(Budget::new(max, factors)))
    }

    fn new(max: &MaxCost, factors: HashMap<String, Result<f64, String>>) -> Budget {
        Budget {
            limit: max.amount,
            money: max.money(),
            factors,
            state: Mutex::new(State {
                scale: 1.0,
                ..State::default()
            }),
            settled: Notify::new(),
        }
    }

    /// Whether `config` can run under its budget: every target of the route with a fixed model
    /// has a price and a known rate to the budget's currency. Checked before any request; the
    /// message names the model and the target.
    pub fn check(config: &Config) -> Result<(), String> {
        let Some(max) = &config.max_cost else {
            return Ok(());
        };
        for &t in &config.route {
            let target = &config.targets[t];
            let billing = config.provider_of(target).billing.as_ref();
            factor(max, billing).map_err(|e| format!("{}: target {:?}: {e}", max.key, target.name))?;
            let model = target.model.as_deref().or(target.default_model.as_deref());
            if let Some(model) = model {
                if config.prices.get(model).is_none() {
                    return Err(format!(
                        "{}: {} (target {:?}): a run under a budget needs the price of every model; \
                         add [prices.\"{model}\"] to the job file or give --prices FILE",
                        max.key,
                        config.prices.missing_hint(model),
                        target.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// Adds what earlier parts of a resumed job spent: `(target, USD)` pairs.
    pub fn carry(&self, spent_usd: impl IntoIterator<Item = (String, f64)>) {
        let before: f64 = spent_usd
            .into_iter()
            .map(|(target, usd)| usd * self.factor(&target).unwrap_or(1.0))
            .sum();
        if let Ok(mut state) = self.state.lock() {
            state.spent += before;
            state.spent_before += before;
        }
    }

    /// The factor of a target: budget-currency units per USD of list price.
    fn factor(&self, target: &str) -> Result<f64, String> {
        match self.factors.get(target) {
            Some(factor) => factor.clone(),
            None => Err(format!("target {target:?} is not in the budget's route")),
        }
    }

    /// What a request may cost at `target`, in the budget's currency: its prompt tokens and
    /// `max_tokens` at the model's price. `Err` when it cannot be known (no price).
    pub fn estimate(
        &self,
        target: &str,
        model: &str,
        price: Option<&Price>,
        prompt: u64,
        output: u64,
    ) -> Result<f64, String> {
        let factor = self.factor(target)?;
        let Some(price) = price else {
            return Err(format!(
                "no price for model {model:?} (target {target:?}): a run under --max-cost needs the price \
                 of every model; add [prices.\"{model}\"] to the job file or give --prices FILE"
            ));
        };
        let usage = Usage {
            input_tokens: prompt,
            cached_input_tokens: 0,
            cache_write_tokens: 0,
            output_tokens: output,
        };
        Ok(price.cost_usd(&usage) * factor)
    }

    /// A cost in USD at `target`, in the budget's currency.
    pub fn convert(&self, target: &str, usd: f64) -> f64 {
        usd * self.factor(target).unwrap_or(1.0)
    }

    /// Reserves `amount` for a request about to be sent. Waits while it only fits once the
    /// requests in flight are settled; [`Denied::Reached`] when it could not fit even then.
    pub async fn reserve(self: &Arc<Self>, amount: f64, stop: &CancellationToken) -> Result<Reservation, Denied> {
        loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            {
                let Ok(mut state) = self.state.lock() else {
                    return Err(Denied::Stopped);
                };
                if state.reached {
                    return Err(Denied::Reached);
                }
                let amount = amount * state.scale;
                if state.spent + state.reserved + amount <= self.limit {
                    state.reserved += amount;
                    return Ok(Reservation {
                        budget: self.clone(),
                        amount,
                        open: true,
                    });
                }
                if state.spent + amount > self.limit || state.reserved <= 0.0 {
                    state.reached = true;
                    return Err(Denied::Reached);
                }
            }
            tokio::select! {
                _ = &mut settled => {}
                _ = stop.cancelled() => return Err(Denied::Stopped),
            }
        }
    }

    fn settle(&self, reserved: f64, cost: f64) {
        if let Ok(mut state) = self.state.lock() {
            state.reserved = (state.reserved - reserved).max(0.0);
            state.spent += cost.max(0.0);
            if reserved > 0.0 && cost > reserved {
                state.scale = (state.scale * cost / reserved).min(MAX_SCALE);
            }
        }
        self.settled.notify_waiters();
    }

    /// Spent so far (earlier parts included), in the budget's currency.
    pub fn spent(&self) -> f64 {
        self.state.lock().map(|s| s.spent).unwrap_or(0.0)
    }

    pub fn limit(&self) -> f64 {
        self.limit
    }

    /// Whether the budget stopped the run.
    pub fn reached(&self) -> bool {
        self.state.lock().map(|s| s.reached).unwrap_or(false)
    }

    /// An amount in the budget's currency: `$24.91`, `¥180.00`.
    pub fn format(&self, amount: f64) -> String {
        self.money.format(amount)
    }

    /// Why the run stopped: `budget reached: spent $24.91 of $25.00; ...`.
    pub fn reason(&self) -> String {
        format!(
            "budget reached: spent {} of {}; the next request could have passed it, so nothing more \
             was sent (resume with a higher --max-cost to finish)",
            self.format(self.spent()),
            self.format(self.limit)
        )
    }

    pub fn report(&self) -> BudgetReport {
        let (spent, spent_before, reached) = self
            .state
            .lock()
            .map(|s| (s.spent, s.spent_before, s.reached))
            .unwrap_or_default();
        BudgetReport {
            limit: self.limit,
            currency: self.money.currency.clone(),
            spent,
            spent_before,
            reached,
        }
    }
}

/// What one request in flight holds of the budget. Settled with its real cost when its
/// answer comes; dropped unsettled (the request was abandoned), its whole reservation counts
/// as spent, since it may have been billed.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<Budget>,
    amount: f64,
    open: bool,
}

impl Reservation {
    /// The request's real cost, in the budget's currency (0 when the provider billed nothing).
    pub fn settle(mut self, cost: f64) {
        self.open = false;
        self.budget.settle(self.amount, cost);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.open {
            self.budget.settle(self.amount, self.amount);
        }
    }
}

#[cfg(test)]
mod tests;
