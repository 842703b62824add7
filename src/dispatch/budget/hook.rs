//! Where the dispatcher consults the budget: the estimate of a request at a target, the
//! reservation before it is sent, and its real cost once answered.

use serde_json::{Map, Value};

use super::{Denied, Reservation};
use crate::dispatch::{Abort, Dispatcher, RouteTarget};

impl Dispatcher {
    /// What a request to `target` may cost, in the budget's currency (`None`: no budget):
    /// its prompt tokens and `max_tokens` (else `run.expected_output_tokens`) at the model's
    /// price. `Err`: the model has no price, so the request cannot be sent under a budget.
    pub(crate) fn cost_estimate(
        &self,
        target: &RouteTarget,
        model: &str,
        body: &Map<String, Value>,
    ) -> Result<Option<f64>, String> {
        let Some(budget) = &self.options.budget else {
            return Ok(None);
        };
        let output = ["max_completion_tokens", "max_tokens"]
            .iter()
            .find_map(|key| body.get(*key).and_then(Value::as_u64))
            .unwrap_or(self.options.settings.expected_output_tokens);
        let prompt = crate::tokens::estimate_prompt_tokens(model, body);
        let price = self.options.prices.get(model);
        budget.estimate(&target.name, model, price, prompt, output).map(Some)
    }

    /// Holds the request's share of the budget until it is answered. `Err`: it must not be
    /// sent (the budget is reached, which stops the run, or the run is stopping).
    pub(crate) async fn reserve_budget(&self, cost: Option<f64>) -> Result<Option<Reservation>, ()> {
        let (Some(budget), Some(cost)) = (&self.options.budget, cost) else {
            return Ok(None);
        };
        match budget.reserve(cost, &self.stop).await {
            Ok(reservation) => Ok(Some(reservation)),
            Err(Denied::Reached) => {
                tracing::warn!(
                    spent = budget.spent(),
                    limit = budget.limit(),
                    "budget reached: sending stops"
                );
                self.stop_for(Abort::Budget);
                Err(())
            }
            Err(Denied::Stopped) => Err(()),
        }
    }

    /// Replaces the request's reservation with its real cost (`None`: nothing billed).
    pub(crate) fn settle_budget(&self, reservation: Option<Reservation>, target: &RouteTarget, cost_usd: Option<f64>) {
        if let (Some(reservation), Some(budget)) = (reservation, &self.options.budget) {
            let cost = cost_usd.filter(|c| c.is_finite()).unwrap_or(0.0);
            reservation.settle(budget.convert(&target.name, cost));
        }
    }
}
