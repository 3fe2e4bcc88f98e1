//! The OpenAI-compatible API under `/v1` (DESIGN.md §8), on the same metered chat as the
//! original's route: `POST /v1/chat/completions` (streamed or not) and `GET /v1/models`,
//! authenticated by the session token as a bearer key. Errors in OpenAI's shape
//! (`{"error":{"message","type","param","code"}}`), mapped in [`error`] and only there.

mod chat;
mod error;
mod models;

pub use error::OpenAiError;

use crate::state::AppState;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{get, post};
use domain::user::UserId;

/// The `/v1` routes (the caller adds the state).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/chat/completions",
            post(chat::completions)
                .layer(axum::extract::DefaultBodyLimit::max(super::chat::MAX_BODY)),
        )
        .route("/v1/models", get(models::list))
}

/// The user a `/v1` call is made for: `Authorization: Bearer <session token>`.
#[derive(Debug, Clone)]
pub struct Caller(pub UserId);

impl FromRequestParts<AppState> for Caller {
    type Rejection = OpenAiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        state
            .sessions
            .verify(header, state.clock.now())
            .map(Caller)
            .map_err(|e| OpenAiError::Unauthorized(e.to_string()))
    }
}
