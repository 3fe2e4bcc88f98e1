//! What a chat call costs: a price per call (the original's way: the default is 1) or, for
//! a model billed by the token, its prompt and completion rates.

use super::usage::TokenUsage;
use crate::product::{ModelType, ModelTypeError};
use std::collections::BTreeMap;

/// Rates are kept in millionths of a quota per token, so the arithmetic stays in integers.
const MICROS: u64 = 1_000_000;

/// Quota one call costs; at least 1, so no call is free by accident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Price(u32);

impl Price {
    /// The original's price: one call, one quota.
    pub const ONE: Price = Price(1);

    /// A price of `quota`, refusing 0.
    pub fn new(quota: u32) -> Result<Self, PricingError> {
        if quota == 0 {
            Err(PricingError::Zero)
        } else {
            Ok(Self(quota))
        }
    }

    /// The quota.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// How a model's calls are charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Billing {
    /// The same price whatever the call uses.
    PerCall(Price),
    /// By the tokens the call used.
    PerToken(TokenRates),
}

/// A model's prices per token, and the most completion tokens one call may reserve for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRates {
    /// Millionths of a quota per prompt token.
    prompt: u64,
    /// Millionths of a quota per completion token.
    completion: u64,
    max_completion: u32,
}

impl TokenRates {
    /// Rates of `prompt` and `completion` millionths of a quota per token (the same as
    /// thousandths of a quota per 1,000 tokens); at least one must be above zero.
    pub fn new(prompt: u64, completion: u64, max_completion: u32) -> Result<Self, PricingError> {
        if prompt == 0 && completion == 0 {
            return Err(PricingError::Zero);
        }
        if max_completion == 0 {
            return Err(PricingError::NoCompletion);
        }
        Ok(Self {
            prompt,
            completion,
            max_completion,
        })
    }

    /// What `tokens` cost: rounded up to a whole quota, so a call is never undercharged.
    pub fn charge(&self, tokens: TokenUsage) -> i64 {
        let micros = (u128::from(tokens.prompt) * u128::from(self.prompt))
            .saturating_add(u128::from(tokens.completion) * u128::from(self.completion));
        i64::try_from(micros.div_ceil(u128::from(MICROS))).unwrap_or(i64::MAX)
    }

    /// The most completion tokens a call may reserve for (the model map's `max_tokens`).
    pub fn max_completion(&self) -> u32 {
        self.max_completion
    }

    /// The most completion tokens that `budget` quota pays for after `prompt` tokens
    /// (capped at [`Self::max_completion`]); 0 when it does not even pay for the prompt.
    pub fn completion_within(&self, budget: i64, prompt: u64) -> u32 {
        let budget = u128::try_from(budget).unwrap_or(0) * u128::from(MICROS);
        let Some(left) = budget.checked_sub(u128::from(prompt) * u128::from(self.prompt)) else {
            return 0;
        };
        let most = left
            .checked_div(u128::from(self.completion))
            .unwrap_or(u128::MAX);
        u32::try_from(most)
            .unwrap_or(u32::MAX)
            .min(self.max_completion)
    }
}

/// The configured prices are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("a chat price is at least 1 quota")]
    Zero,
    #[error("a model billed by the token reserves for at least 1 completion token")]
    NoCompletion,
    #[error("chat pricing for {model:?}: {reason}")]
    Model { model: String, reason: String },
}

/// Prices by model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricing {
    default: Price,
    per_model: BTreeMap<ModelType, Billing>,
}

impl Pricing {
    /// Every model at `default`, except those listed.
    pub fn new<'a>(
        default: u32,
        per_model: impl IntoIterator<Item = (&'a str, u32)>,
    ) -> Result<Self, PricingError> {
        let default = Price::new(default)?;
        let per_model = per_model
            .into_iter()
            .map(|(model, quota)| {
                let named = |reason: String| PricingError::Model {
                    model: model.to_owned(),
                    reason,
                };
                let model =
                    ModelType::parse(model).map_err(|e: ModelTypeError| named(e.to_string()))?;
                let price = Price::new(quota).map_err(|e| named(e.to_string()))?;
                Ok((model, Billing::PerCall(price)))
            })
            .collect::<Result<_, PricingError>>()?;
        Ok(Self { default, per_model })
    }

    /// `model` billed by the token at `rates` (replacing its price per call, if any).
    pub fn with_rates(mut self, model: &str, rates: TokenRates) -> Result<Self, PricingError> {
        let model = ModelType::parse(model).map_err(|e| PricingError::Model {
            model: model.to_owned(),
            reason: e.to_string(),
        })?;
        self.per_model.insert(model, Billing::PerToken(rates));
        Ok(self)
    }

    /// How calls to `model` are charged.
    pub fn billing_of(&self, model: &ModelType) -> Billing {
        self.per_model
            .get(model)
            .copied()
            .unwrap_or(Billing::PerCall(self.default))
    }
}

impl Default for Pricing {
    fn default() -> Self {
        Self {
            default: Price::ONE,
            per_model: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_models_have_their_price_and_the_rest_the_default() {
        let pricing = Pricing::new(1, [("gpt-4o", 2)]).unwrap();
        let model = |m| ModelType::parse(m).unwrap();
        let per_call = |p| Billing::PerCall(Price::new(p).unwrap());
        assert_eq!(pricing.billing_of(&model("gpt-4o")), per_call(2));
        assert_eq!(pricing.billing_of(&model("gpt-4o-mini")), per_call(1));
        assert_eq!(Pricing::default().billing_of(&model("x")), per_call(1));
        let rates = TokenRates::new(500, 2_000, 100).unwrap();
        let pricing = pricing.with_rates("gpt-4o", rates).unwrap();
        assert_eq!(
            pricing.billing_of(&model("gpt-4o")),
            Billing::PerToken(rates)
        );
    }

    fn tokens(prompt: u64, completion: u64) -> TokenUsage {
        TokenUsage { prompt, completion }
    }

    #[test]
    fn tokens_cost_their_rates_rounded_up_to_a_whole_quota() {
        // 0.5 quota per 1,000 prompt tokens, 2 per 1,000 completion tokens.
        let rates = TokenRates::new(500, 2_000, 4_096).unwrap();
        assert_eq!(rates.charge(tokens(0, 0)), 0);
        assert_eq!(rates.charge(tokens(1, 0)), 1);
        assert_eq!(rates.charge(tokens(2_000, 0)), 1);
        assert_eq!(rates.charge(tokens(2_000, 1)), 2);
        assert_eq!(rates.charge(tokens(2_000, 500)), 2);
        assert_eq!(rates.charge(tokens(1_000_000, 1_000_000)), 2_500);
        // No overflow, however many tokens are claimed.
        assert_eq!(
            rates.charge(tokens(u64::MAX, u64::MAX)),
            46_116_860_184_273_880
        );
        let dear = TokenRates::new(u64::MAX, u64::MAX, 1).unwrap();
        assert_eq!(dear.charge(tokens(u64::MAX, u64::MAX)), i64::MAX);
    }

    #[test]
    fn a_budget_pays_for_as_many_completion_tokens_as_it_covers() {
        let rates = TokenRates::new(500, 2_000, 4_096).unwrap();
        // 3 quota: 1 for 2,000 prompt tokens, 2 for 1,000 completion tokens.
        assert_eq!(rates.completion_within(3, 2_000), 1_000);
        assert!(rates.charge(tokens(2_000, 1_000)) <= 3);
        assert!(rates.charge(tokens(2_000, 1_001)) > 3);
        assert_eq!(rates.completion_within(1_000, 10), 4_096, "capped");
        assert_eq!(rates.completion_within(0, 10), 0);
        assert_eq!(rates.completion_within(1, 3_000), 0, "not even the prompt");
        assert_eq!(rates.completion_within(-5, 0), 0);
        let free_answers = TokenRates::new(1_000, 0, 64).unwrap();
        assert_eq!(free_answers.completion_within(1, 1), 64);
    }

    #[test]
    fn free_calls_and_bad_names_are_refused() {
        assert_eq!(Pricing::new(0, []), Err(PricingError::Zero));
        assert!(matches!(
            Pricing::new(1, [("gpt-4o", 0)]),
            Err(PricingError::Model { .. })
        ));
        assert!(matches!(
            Pricing::new(1, [("bad model", 1)]),
            Err(PricingError::Model { .. })
        ));
        assert_eq!(TokenRates::new(0, 0, 10), Err(PricingError::Zero));
        assert_eq!(TokenRates::new(1, 1, 0), Err(PricingError::NoCompletion));
    }
}
