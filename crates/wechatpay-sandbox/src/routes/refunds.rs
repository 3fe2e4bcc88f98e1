//! Refund and refund query.

use super::parse_json;
use crate::respond::{ApiError, json};
use crate::sandbox::Sandbox;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use wechatpay::model::RefundRequest;

/// POST `/v3/refund/domestic/refunds`.
pub async fn create(State(sandbox): State<Sandbox>, body: Bytes) -> Result<Response, ApiError> {
    let request: RefundRequest = parse_json(&body)?;
    let no = &request.out_refund_no;
    if !(1..=64).contains(&no.len())
        || !no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b))
    {
        return Err(ApiError::param(
            "out_refund_no must be 1-64 characters of [0-9A-Za-z_-|*@]",
        ));
    }
    let refund = sandbox.refund(request)?;
    Ok(json(StatusCode::OK, &refund))
}

/// GET `/v3/refund/domestic/refunds/{out_refund_no}`.
pub async fn query(
    State(sandbox): State<Sandbox>,
    Path(out_refund_no): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &sandbox.query_refund(&out_refund_no)?))
}
