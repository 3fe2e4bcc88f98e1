//! The OpenAI-compatible API under `/v1` (DESIGN.md §8), on the same metered chat as the
//! original's route: `POST /v1/chat/completions` (streamed or not),
//! `POST /v1/images/generations` and `GET /v1/models`,
//! authenticated by a user's API key or the session token as the bearer key. Errors in OpenAI's shape
//! (`{"error":{"message","type","param","code"}}`), mapped in [`error`] and only there.

pub(crate) mod chat;
mod error;
pub(crate) mod images;
pub(crate) mod models;

pub use error::OpenAiError;

use super::current_user::authorization;
use crate::state::AppState;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{get, post};
use domain::api_key::{ApiKey, Caller, KEY_PREFIX};
use domain::ports::ApiKeys;

/// The `/v1` routes (the caller adds the state).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/chat/completions",
            post(chat::completions)
                .layer(axum::extract::DefaultBodyLimit::max(super::chat::MAX_BODY)),
        )
        .route(
            "/v1/images/generations",
            post(images::generations)
                .layer(axum::extract::DefaultBodyLimit::max(super::chat::MAX_BODY)),
        )
        .route("/v1/models", get(models::list))
}

/// Who a `/v1` call is made for: `Authorization: Bearer <key>` with one of the user's API
/// keys (`sk-cm-…`), or with the session token (our pages).
#[derive(Debug, Clone)]
pub struct V1Caller(pub Caller);

impl FromRequestParts<AppState> for V1Caller {
    type Rejection = OpenAiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = authorization(parts);
        let bearer = header.strip_prefix("Bearer ").unwrap_or(header).trim();
        if bearer.starts_with(KEY_PREFIX) {
            return key_caller(state, bearer).await.map(V1Caller);
        }
        state
            .sessions
            .verify(header, state.clock.now())
            .map(|user| V1Caller(user.into()))
            .map_err(|e| OpenAiError::Unauthorized(e.to_string()))
    }
}

/// The caller an API key speaks for: a live key found by its digest.
async fn key_caller(state: &AppState, key: &str) -> Result<Caller, OpenAiError> {
    let store = state.shop.store();
    let found = store.key_by_digest(&crate::api_keys::digest(key)).await?;
    let Some(key) = found.filter(ApiKey::is_live) else {
        // Never the key itself, not even in part.
        return Err(OpenAiError::Unauthorized(
            "no such API key, or it was revoked".into(),
        ));
    };
    // The last-use time is for the owner's list; the call does not wait for it.
    let (store, id, now) = (store.clone(), key.id, state.clock.now());
    tokio::spawn(async move {
        if let Err(e) = store.touch_key(id, now).await {
            tracing::warn!(key = %id, error = ?e, "could not record an API key's use");
        }
    });
    Ok(Caller {
        user: key.user_id.clone(),
        key: Some(key),
    })
}
