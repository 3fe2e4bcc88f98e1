//! `/pay/{orderId}`: the order's QR code, a countdown, and the payment noticed by polling.

use super::template::{Page, fill};
use super::{Pages, html_page};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::order::OrderNo;

const BODY: &str = include_str!("../../templates/pay.html");

/// GET `/pay/{orderId}`: a shell; the page's script reads the order with the session token
/// (the order is personal, so it is never rendered here).
pub async fn page(State(pages): State<Pages>, Path(order_id): Path<String>) -> Response {
    let Ok(order_no) = OrderNo::parse(&order_id) else {
        return (StatusCode::NOT_FOUND, "no such order").into_response();
    };
    let sandbox = if pages.options.sandbox_pay { "1" } else { "" };
    html_page(
        Page {
            title: "支付 Pay",
            name: "pay",
            data: vec![
                ("order-id", order_no.to_string()),
                ("sandbox", sandbox.to_owned()),
            ],
            body: fill(BODY, &[]),
        }
        .render(),
    )
}
