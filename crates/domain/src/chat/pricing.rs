//! What a chat call costs: a price per model, else the default (1, as the original).

use crate::product::{ModelType, ModelTypeError};
use std::collections::BTreeMap;

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

/// The configured prices are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("a chat price is at least 1 quota")]
    Zero,
    #[error("chat pricing for {model:?}: {reason}")]
    Model { model: String, reason: String },
}

/// Prices by model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricing {
    default: Price,
    per_model: BTreeMap<ModelType, Price>,
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
                Ok((model, price))
            })
            .collect::<Result<_, PricingError>>()?;
        Ok(Self { default, per_model })
    }

    /// What one call to `model` costs.
    pub fn price_of(&self, model: &ModelType) -> Price {
        self.per_model.get(model).copied().unwrap_or(self.default)
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
        assert_eq!(pricing.price_of(&model("gpt-4o")).get(), 2);
        assert_eq!(pricing.price_of(&model("gpt-4o-mini")).get(), 1);
        assert_eq!(Pricing::default().price_of(&model("x")), Price::ONE);
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
    }
}
