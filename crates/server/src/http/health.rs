//! `/healthz` (the process lives) and `/readyz` (it can read and write its database now).

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// GET `/healthz` (and `/health`): the process answers.
pub async fn alive() -> &'static str {
    "ok"
}

/// GET `/readyz`: a real write and read of the database, 200 or 503 with the reason.
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
