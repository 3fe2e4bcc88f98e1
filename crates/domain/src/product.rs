//! The catalog: quota packages for sale.

use crate::money::Fen;
use std::fmt;

/// A product's id, as the original's integer `productId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProductId(i64);

/// The text is not a product id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a product id is a positive integer, got {0:?}")]
pub struct ProductIdError(pub String);

impl ProductId {
    /// Parses the `productId` form field.
    pub fn parse(text: &str) -> Result<Self, ProductIdError> {
        match text.trim().parse::<i64>() {
            Ok(id) if id > 0 => Ok(Self(id)),
            _ => Err(ProductIdError(text.chars().take(40).collect())),
        }
    }

    /// Wraps a stored id.
    pub fn new(id: i64) -> Result<Self, ProductIdError> {
        Self::parse(&id.to_string())
    }

    /// The integer id.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A chat model family a package grants access to (e.g. `gpt-4o`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelType(String);

/// The text is not a model type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a model type is 1 to 64 characters of [0-9A-Za-z._:-], got {0:?}")]
pub struct ModelTypeError(pub String);

impl ModelType {
    /// Parses one model name.
    pub fn parse(text: &str) -> Result<Self, ModelTypeError> {
        let text = text.trim();
        let ok = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(ModelTypeError(text.chars().take(80).collect()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses a comma-separated list (the stored form), sorted and without repeats.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, ModelTypeError> {
        let mut list = text
            .split(',')
            .filter(|part| !part.trim().is_empty())
            .map(Self::parse)
            .collect::<Result<Vec<_>, _>>()?;
        list.sort();
        list.dedup();
        Ok(list)
    }

    /// Joins a list into its stored form.
    pub fn join(list: &[Self]) -> String {
        list.iter().map(Self::as_str).collect::<Vec<_>>().join(",")
    }
}

/// How many chat calls a package grants.
pub type Quota = u32;

/// A quota package for sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: ProductId,
    pub name: String,
    pub description: String,
    pub quota: Quota,
    pub model_types: Vec<ModelType>,
    pub price: Fen,
    pub sort: i32,
    pub enabled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_ids_are_positive_integers() {
        assert_eq!(ProductId::parse("1001").unwrap().get(), 1001);
        assert!(ProductId::parse("0").is_err());
        assert!(ProductId::parse("abc").is_err());
        assert!(ProductId::parse("").is_err());
    }

    #[test]
    fn model_lists_parse_sorted_without_repeats() {
        let list = ModelType::parse_list("gpt-4o, glm-4,gpt-4o,").unwrap();
        assert_eq!(ModelType::join(&list), "glm-4,gpt-4o");
        assert!(ModelType::parse_list("bad model").is_err());
    }
}

/// A product as an operator writes it (a new one, or an edit): checked here, so the
/// catalog holds only sellable products. Orders keep their own copy of what they bought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductDraft {
    pub name: String,
    pub description: String,
    pub quota: Quota,
    pub model_types: Vec<ModelType>,
    pub price: Fen,
    pub sort: i32,
    pub enabled: bool,
}

/// Why a draft was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProductDraftError {
    #[error("a product's name is 1 to 64 characters")]
    Name,
    #[error("a product's description is at most 512 characters")]
    Description,
    #[error("a product's quota is 1 to 1000000")]
    Quota,
    #[error("a product's price is 1 fen to 100000 yuan")]
    Price,
    #[error("a product needs at least one model: {0}")]
    Models(String),
}

impl ProductDraft {
    /// Checks an operator's form.
    pub fn parse(
        name: &str,
        description: &str,
        quota: u32,
        models: &str,
        price_fen: u64,
        sort: i32,
        enabled: bool,
    ) -> Result<Self, ProductDraftError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(ProductDraftError::Name);
        }
        if description.chars().count() > 512 {
            return Err(ProductDraftError::Description);
        }
        if !(1..=1_000_000).contains(&quota) {
            return Err(ProductDraftError::Quota);
        }
        if !(1..=10_000_000).contains(&price_fen) {
            return Err(ProductDraftError::Price);
        }
        let model_types =
            ModelType::parse_list(models).map_err(|e| ProductDraftError::Models(e.to_string()))?;
        if model_types.is_empty() {
            return Err(ProductDraftError::Models("none given".into()));
        }
        Ok(Self {
            name: name.to_owned(),
            description: description.trim().to_owned(),
            quota,
            model_types,
            price: Fen::new(price_fen).map_err(|_| ProductDraftError::Price)?,
            sort,
            enabled,
        })
    }
}
