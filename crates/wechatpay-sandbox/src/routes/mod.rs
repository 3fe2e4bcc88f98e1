//! The HTTP routes: `/v3/*` (WeChat Pay protocol: authenticated and signed) and
//! `/sandbox/*` (the sandbox's own helpers: open, unsigned).

pub mod bills;
pub mod certificates;
pub mod refunds;
pub mod sandbox;
pub mod transactions;

use crate::respond::ApiError;
use crate::sandbox::Sandbox;
use axum::Router;
use axum::routing::{get, post};
use std::collections::HashMap;

/// All routes with their middleware, state applied.
pub fn router(state: Sandbox) -> Router {
    let v3 = Router::new()
        .route("/v3/pay/transactions/native", post(transactions::prepay))
        .route(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}",
            get(transactions::query_by_out_trade_no),
        )
        .route(
            "/v3/pay/transactions/id/{transaction_id}",
            get(transactions::query_by_id),
        )
        .route(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}/close",
            post(transactions::close),
        )
        .route("/v3/refund/domestic/refunds", post(refunds::create))
        .route(
            "/v3/refund/domestic/refunds/{out_refund_no}",
            get(refunds::query),
        )
        .route("/v3/certificates", get(certificates::list))
        .route("/v3/bill/tradebill", get(bills::trade_bill))
        // Layers run outside-in from the last one: signing wraps authentication, so a
        // 401 is signed too.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::authenticate,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::respond::sign_response,
        ));
    // WeChat sends a bill file without signature headers (its hash, in the signed answer
    // that named it, is the proof): authenticated, not signed.
    let files = Router::new()
        .route("/v3/billdownload/file", get(bills::download))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::authenticate,
        ));
    let own = Router::new()
        .route("/sandbox/pay", post(sandbox::pay))
        .route("/sandbox/scan", get(sandbox::scan))
        .route(
            "/sandbox/faults",
            get(sandbox::get_faults).post(sandbox::set_faults),
        )
        .route("/sandbox/orders", get(sandbox::orders))
        .route("/sandbox/notifications", get(sandbox::notifications));
    v3.merge(files).merge(own).with_state(state)
}

/// The `mchid` query parameter, which queries must carry and which must be ours.
pub(crate) fn require_mchid(
    sandbox: &Sandbox,
    query: &HashMap<String, String>,
) -> Result<(), ApiError> {
    let mchid = query
        .get("mchid")
        .ok_or_else(|| ApiError::param("缺少参数 mchid (query parameter mchid is required)"))?;
    check_mchid(sandbox, mchid)
}

/// A body or query `mchid` must be the sandbox's merchant.
pub(crate) fn check_mchid(sandbox: &Sandbox, mchid: &str) -> Result<(), ApiError> {
    if mchid != sandbox.keys().mchid {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "MCH_NOT_EXISTS",
            format!("商户号 {mchid} 不存在或与签名商户号不一致"),
        ));
    }
    Ok(())
}

/// Parses a JSON body, turning any failure into PARAM_ERROR with serde's explanation.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::param(format!("请求体格式错误: {e}")))
}
