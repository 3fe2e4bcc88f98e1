//! Native prepay, the two queries, and close.

use super::{check_mchid, parse_json, require_mchid};
use crate::respond::{ApiError, json};
use crate::sandbox::Sandbox;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset};
use std::collections::HashMap;
use std::time::Duration;
use wechatpay::model::{CloseRequest, NativePrepayRequest, NativePrepayResponse};

/// Checks a prepay request as WeChat does; returns the parsed `time_expire`.
pub fn validate_prepay(
    sandbox: &Sandbox,
    request: &NativePrepayRequest,
) -> Result<Option<DateTime<FixedOffset>>, ApiError> {
    let chars = |s: &str| s.chars().count();
    if request.appid.is_empty() || request.appid.len() > 32 {
        return Err(ApiError::param("appid must be 1-32 characters"));
    }
    if request.mchid.is_empty() || request.mchid.len() > 32 {
        return Err(ApiError::param("mchid must be 1-32 characters"));
    }
    let description = chars(&request.description);
    if description == 0 || description > 127 {
        return Err(ApiError::param(format!(
            "description must be 1-127 characters, got {description}"
        )));
    }
    let no = &request.out_trade_no;
    if !(6..=32).contains(&no.len())
        || !no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-|*".contains(&b))
    {
        return Err(ApiError::param(format!(
            "out_trade_no {no:?} must be 6-32 characters of [0-9A-Za-z_-|*]"
        )));
    }
    let url = &request.notify_url;
    // Real WeChat requires https; the sandbox also takes http for loopback receivers.
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(ApiError::param("notify_url must be an http(s) URL"));
    }
    if url.contains('?') {
        return Err(ApiError::param("notify_url must not carry a query string"));
    }
    if url.len() > 256 {
        return Err(ApiError::param("notify_url must be at most 256 characters"));
    }
    if request.amount.total < 1 {
        return Err(ApiError::param("amount.total must be at least 1 (fen)"));
    }
    if let Some(currency) = &request.amount.currency
        && currency != "CNY"
    {
        return Err(ApiError::param(format!(
            "amount.currency must be CNY, got {currency:?}"
        )));
    }
    if let Some(attach) = &request.attach
        && chars(attach) > 128
    {
        return Err(ApiError::param("attach must be at most 128 characters"));
    }
    let deadline = match &request.time_expire {
        None => None,
        Some(text) => Some(DateTime::parse_from_rfc3339(text).map_err(|e| {
            ApiError::param(format!(
                "time_expire {text:?} is not RFC 3339 (e.g. 2018-06-08T10:34:56+08:00): {e}"
            ))
        })?),
    };
    check_mchid(sandbox, &request.mchid)?;
    if request.appid != sandbox.keys().appid {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "APPID_MCHID_NOT_MATCH",
            format!("appid {} 与 mchid 不匹配", request.appid),
        ));
    }
    Ok(deadline)
}

/// POST `/v3/pay/transactions/native`.
pub async fn prepay(State(sandbox): State<Sandbox>, body: Bytes) -> Result<Response, ApiError> {
    let request: NativePrepayRequest = parse_json(&body)?;
    let deadline = validate_prepay(&sandbox, &request)?;
    let faults = sandbox.faults();
    if sandbox.roll(faults.prepay_error) {
        return Err(ApiError::system("系统错误 (injected fault)"));
    }
    if sandbox.roll(faults.prepay_timeout) {
        if faults.prepay_timeout_mode == crate::config::TimeoutMode::AfterCreate {
            // The order exists; only the answer is lost.
            sandbox.prepay(request, deadline)?;
        }
        tokio::time::sleep(Duration::from_millis(faults.prepay_timeout_ms)).await;
        return Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "SYSTEM_ERROR",
            "gateway timeout (injected fault)",
        ));
    }
    let code_url = sandbox.prepay(request, deadline)?;
    Ok(json(StatusCode::OK, &NativePrepayResponse { code_url }))
}

fn query_fault(sandbox: &Sandbox) -> Result<(), ApiError> {
    if sandbox.roll(sandbox.faults().query_error) {
        return Err(ApiError::system("系统错误 (injected fault)"));
    }
    Ok(())
}

/// GET `/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=…`.
pub async fn query_by_out_trade_no(
    State(sandbox): State<Sandbox>,
    Path(out_trade_no): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    require_mchid(&sandbox, &query)?;
    query_fault(&sandbox)?;
    let transaction = sandbox.query_out_trade_no(&out_trade_no)?;
    Ok(json(StatusCode::OK, &transaction))
}

/// GET `/v3/pay/transactions/id/{transaction_id}?mchid=…`.
pub async fn query_by_id(
    State(sandbox): State<Sandbox>,
    Path(transaction_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    require_mchid(&sandbox, &query)?;
    query_fault(&sandbox)?;
    let transaction = sandbox.query_transaction_id(&transaction_id)?;
    Ok(json(StatusCode::OK, &transaction))
}

/// POST `/v3/pay/transactions/out-trade-no/{out_trade_no}/close` → 204.
pub async fn close(
    State(sandbox): State<Sandbox>,
    Path(out_trade_no): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: CloseRequest = parse_json(&body)?;
    check_mchid(&sandbox, &request.mchid)?;
    sandbox.close(&out_trade_no)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
