//! `/orders`: the caller's orders (by script: they are personal).

use super::template::{Page, fill};
use super::{Pages, html_page};
use axum::extract::State;
use axum::response::Response;

const BODY: &str = include_str!("../../templates/orders.html");

/// GET `/orders`.
pub async fn page(State(_pages): State<Pages>) -> Response {
    html_page(
        Page {
            title: "我的订单 Orders",
            name: "orders",
            data: Vec::new(),
            body: fill(BODY, &[]),
        }
        .render(),
    )
}
