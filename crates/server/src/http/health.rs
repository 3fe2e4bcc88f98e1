//! `/healthz` (the process lives) and `/readyz` (it can read and write its database now).

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// GET `/healthz` (and `/health`): the process answers.
#[utoipa::path(
    get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process answers", content_type = "text/plain", body = String))
)]
pub async fn alive() -> &'static str {
    "ok"
}

/// GET `/readyz`: a real write and read of the database, 200 or 503 with the reason.
#[utoipa::path(
    get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "The database takes a write and a read now", body = crate::http::openapi::Readiness),
        (status = 503, description = "It does not, and why", body = crate::http::openapi::Readiness)
    )
)]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state
        .shop
        .store()
        .probe(state.node_id, state.clock.now())
        .await
    {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "not ready", "reason": format!("{e:#}")})),
            )
        }
    }
}
