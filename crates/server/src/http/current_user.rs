//! The logged-in user, taken from the `Authorization` header (raw JWT or `Bearer …`).

use super::envelope::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use domain::user::UserId;

/// The user a request's session token speaks for.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub UserId);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

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
            .map(CurrentUser)
            .map_err(|e| ApiError::NotLoggedIn(e.to_string()))
    }
}
