//! The sandbox's own routes (not WeChat protocol, unauthenticated): pay an order, the scan
//! page behind a code_url, faults, and read-only views of orders and deliveries.

use crate::config::Faults;
use crate::respond::json;
use crate::sandbox::{PayError, Sandbox};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use std::collections::HashMap;
use wechatpay::model::ErrorBody;

/// The body of `POST /sandbox/pay`: which order (one of the three), and who pays.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PayBody {
    /// The merchant order number.
    #[serde(default)]
    pub out_trade_no: Option<String>,
    /// The code_url returned by prepay.
    #[serde(default)]
    pub code_url: Option<String>,
    /// The bare `pr=` token.
    #[serde(default)]
    pub pr: Option<String>,
    /// The payer's openid (made up when absent).
    #[serde(default)]
    pub openid: Option<String>,
}

fn error(status: StatusCode, code: &str, message: String) -> Response {
    json(
        status,
        &ErrorBody {
            code: code.to_owned(),
            message,
            detail: None,
        },
    )
}

/// POST `/sandbox/pay` → 200 Transaction, or a JSON error saying why not.
pub async fn pay(State(sandbox): State<Sandbox>, body: axum::body::Bytes) -> Response {
    let body: PayBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => return error(StatusCode::BAD_REQUEST, "PARAM_ERROR", e.to_string()),
    };
    let openid = body.openid.as_deref();
    let result = match (&body.out_trade_no, &body.code_url, &body.pr) {
        (Some(no), _, _) => sandbox.pay(no, openid),
        (None, Some(url), _) => sandbox.pay_code_url(url, openid),
        (None, None, Some(token)) => sandbox.pay_code_url(token, openid),
        (None, None, None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "PARAM_ERROR",
                "one of out_trade_no, code_url, pr is required".to_owned(),
            );
        }
    };
    match result {
        Ok(transaction) => json(StatusCode::OK, &transaction),
        Err(e) => {
            let status = match e {
                PayError::NotFound(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::BAD_REQUEST,
            };
            error(status, e.code(), e.to_string())
        }
    }
}

/// GET `/sandbox/scan?pr=…`: what the WeChat app would show after scanning the QR code.
pub async fn scan(
    State(sandbox): State<Sandbox>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let order = query
        .get("pr")
        .and_then(|token| sandbox.order_by_token(token));
    let (status, page) = match order {
        Some(order) => (StatusCode::OK, crate::page::scan_page(&order)),
        None => (StatusCode::NOT_FOUND, crate::page::not_found_page()),
    };
    let csp = HeaderValue::from_static(crate::page::scan_page_csp());
    (
        status,
        [
            (header::CONTENT_SECURITY_POLICY, csp),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        Html(page),
    )
        .into_response()
}

/// GET `/sandbox/faults`.
pub async fn get_faults(State(sandbox): State<Sandbox>) -> Response {
    json(StatusCode::OK, &sandbox.faults())
}

/// POST `/sandbox/faults`: replaces the faults (missing fields take their defaults) and
/// echoes them.
pub async fn set_faults(State(sandbox): State<Sandbox>, Json(faults): Json<Faults>) -> Response {
    sandbox.set_faults(faults);
    json(StatusCode::OK, &sandbox.faults())
}

/// GET `/sandbox/orders`.
pub async fn orders(State(sandbox): State<Sandbox>) -> Response {
    json(StatusCode::OK, &sandbox.orders())
}

/// GET `/sandbox/notifications`.
pub async fn notifications(State(sandbox): State<Sandbox>) -> Response {
    json(StatusCode::OK, &sandbox.notifications())
}
