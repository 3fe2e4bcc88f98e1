//! The trade bill and its download.

use crate::respond::{ApiError, json};
use crate::sandbox::Sandbox;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

/// GET `/v3/bill/tradebill?bill_date=yyyy-MM-dd[&bill_type=ALL][&tar_type=GZIP]`.
pub async fn trade_bill(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let date = query
        .get("bill_date")
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| ApiError::param("bill_date must be yyyy-MM-dd"))?;
    match query.get("bill_type").map(String::as_str) {
        None | Some("ALL") => {}
        Some(other) => {
            return Err(ApiError::param(format!(
                "bill_type {other:?}: the sandbox makes ALL bills"
            )));
        }
    }
    let gzip = match query.get("tar_type").map(String::as_str) {
        None => false,
        Some("GZIP") => true,
        Some(other) => return Err(ApiError::param(format!("tar_type {other:?} is not GZIP"))),
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| ApiError::param("no Host header"))?;
    let answer = sandbox.trade_bill(date, gzip, &format!("http://{host}"));
    Ok(json(StatusCode::OK, &answer))
}

/// GET `/v3/billdownload/file?token=…`: the file's bytes.
pub async fn download(
    State(sandbox): State<Sandbox>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let file = query
        .get("token")
        .and_then(|token| sandbox.bill_download(token))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "下载链接无效或已过期 (unknown token)",
            )
        })?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], file).into_response())
}
