//! What the API shows of domain objects: the original contract's field names
//! (`productId`, `productName`, …), plus a few fields of our own that older front-ends ignore.

use chrono::{DateTime, Utc};
use domain::money::Fen;
use domain::order::Order;
use domain::product::{ModelType, Product};
use serde::Serialize;
use serde_json::value::RawValue;

/// A price in yuan as a JSON number with two decimals (`9.90`), made from integer fen
/// without ever passing through a float.
pub fn yuan(amount: Fen) -> Box<RawValue> {
    RawValue::from_string(amount.to_string()).expect("a decimal number is valid JSON")
}

fn models(list: &[ModelType]) -> Vec<String> {
    list.iter().map(|m| m.as_str().to_owned()).collect()
}

/// An item of `query_product_list`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductView {
    pub product_id: i64,
    pub product_name: String,
    pub product_desc: String,
    pub quota: u32,
    #[schema(value_type = f64, example = 9.9)]
    pub price: Box<RawValue>,
    pub price_fen: u64,
    pub model_types: Vec<String>,
}

impl From<&Product> for ProductView {
    fn from(p: &Product) -> Self {
        Self {
            product_id: p.id.get(),
            product_name: p.name.clone(),
            product_desc: p.description.clone(),
            quota: p.quota,
            price: yuan(p.price),
            price_fen: p.price.fen(),
            model_types: models(&p.model_types),
        }
    }
}

/// An order as its owner sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub order_id: String,
    pub status: &'static str,
    pub product_id: i64,
    pub product_name: String,
    pub quota: u32,
    pub model_types: Vec<String>,
    #[schema(value_type = f64, example = 9.9)]
    pub amount: Box<RawValue>,
    pub amount_fen: u64,
    /// The QR code's content while the order can be paid.
    pub code_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expire_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl OrderView {
    /// The view of `order` at `now`.
    pub fn of(order: &Order, now: DateTime<Utc>) -> Self {
        Self {
            order_id: order.order_no.to_string(),
            status: order.status.as_str(),
            product_id: order.product_id.get(),
            product_name: order.product_name.clone(),
            quota: order.quota,
            model_types: models(&order.model_types),
            amount: yuan(order.amount),
            amount_fen: order.amount.fen(),
            code_url: order.live_code_url(now).map(str::to_owned),
            created_at: order.created_at,
            expire_at: order.expire_at,
            paid_at: order.paid_at,
            delivered_at: order.delivered_at,
            closed_at: order.closed_at,
        }
    }
}

/// The answer to a checkout (`place_order`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PayOrderView {
    pub order_id: String,
    pub code_url: String,
    #[schema(value_type = f64, example = 9.9)]
    pub amount: Box<RawValue>,
    pub amount_fen: u64,
    pub expire_at: DateTime<Utc>,
    pub reused: bool,
}

/// A user's quota account.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    pub open_id: String,
    pub total_quota: i64,
    pub surplus_quota: i64,
    pub model_types: Vec<String>,
    pub status: &'static str,
}

impl From<&domain::account::Account> for AccountView {
    fn from(a: &domain::account::Account) -> Self {
        Self {
            open_id: a.user_id.to_string(),
            total_quota: a.total_quota,
            surplus_quota: a.surplus_quota,
            model_types: models(&a.model_types),
            status: a.status.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_exact_decimal_numbers() {
        let json = serde_json::to_string(&yuan(Fen::new(990).unwrap())).unwrap();
        assert_eq!(json, "9.90");
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(value.is_number());
    }
}
