//! The HTTP API under `/api/v1`, with the original system's contract.

pub mod admin;
pub mod auth;
pub mod chat;
pub mod chatgpt;
pub mod cors;
pub mod current_user;
mod docs;
pub mod envelope;
mod health;
mod keys;
mod notify;
pub mod openapi;
pub mod portal;
pub mod reconciliations;
pub mod redeem;
pub mod refunds;
mod request_param;
mod sale;
mod usage;
pub mod v1;
pub mod views;

use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};

/// The API routes.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/auth/login", post(auth::login))
        .route(
            "/wx/portal/{appid}",
            get(portal::check)
                .post(portal::message)
                // Official-account messages are small; refuse anything else early.
                .layer(axum::extract::DefaultBodyLimit::max(64 * 1024)),
        )
        .route("/sale/query_product_list", get(sale::query_product_list))
        .route("/sale/create_pay_order", post(sale::create_pay_order))
        .route("/sale/place_order", post(sale::place_order))
        .route("/sale/query_order", get(sale::query_order))
        .route("/sale/check_payment", post(sale::check_payment))
        .route("/sale/query_order_list", get(sale::query_order_list))
        .route("/sale/pay_notify", post(notify::pay_notify))
        .route("/account/query", get(sale::query_account))
        .route("/account/usage", get(usage::list))
        .route("/account/redeem", post(redeem::redeem))
        .route("/keys", get(keys::list).post(keys::create))
        .route("/keys/{id}", axum::routing::delete(keys::revoke))
        .route(
            "/chatgpt/chat/completions",
            post(chatgpt::completions).layer(axum::extract::DefaultBodyLimit::max(chat::MAX_BODY)),
        )
        .route(
            "/chat/completions",
            post(chat::completions).layer(axum::extract::DefaultBodyLimit::max(chat::MAX_BODY)),
        )
        .route("/admin/jobs", get(admin::jobs))
        .route("/admin/troubled_orders", get(admin::troubled_orders))
        .route("/admin/unmatched_payments", get(admin::unmatched_payments))
        .route("/admin/orders/{order_id}", get(refunds::order))
        .route("/admin/orders/{order_id}/refunds", post(refunds::create))
        .route("/admin/refunds", get(refunds::list))
        .route("/admin/reconciliations", post(reconciliations::run))
        .route("/admin/reconciliations/{date}", get(reconciliations::show))
        .route(
            "/admin/redemption_batches",
            get(redeem::list_batches).post(redeem::create_batch),
        );
    Router::new()
        .nest("/api/v1", api)
        .merge(v1::router())
        .route("/healthz", get(health::alive))
        .route("/health", get(health::alive))
        .route("/readyz", get(health::ready))
        .route("/api/openapi.json", get(openapi_json))
        .route("/api/docs", get(docs::page))
        .with_state(state)
}

/// GET `/api/openapi.json`: the API described.
async fn openapi_json() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi::document(),
    )
}

/// The headers every response carries unless its handler set its own (the pages do): JSON,
/// text and errors are never a document that could run script, be framed or be sniffed.
pub fn security_headers(router: Router) -> Router {
    use axum::http::{HeaderValue, header};
    use tower_http::set_header::SetResponseHeaderLayer;
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; sandbox"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}
