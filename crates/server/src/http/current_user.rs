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
        state
            .sessions
            .verify(authorization(parts), state.clock.now())
            .map(CurrentUser)
            .map_err(|e| ApiError::NotLoggedIn(e.to_string()))
    }
}

/// The `Authorization` header's value, or "" (the token travels raw or as `Bearer …`).
pub fn authorization(parts: &Parts) -> &str {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim()
}

/// The user a request's session token speaks for, if it sends one: no `Authorization`
/// (or an empty one) is `None`, a bad token is refused (`0003`), as the original's public
/// routes did.
#[derive(Debug, Clone)]
pub struct OptionalUser(pub Option<UserId>);

impl FromRequestParts<AppState> for OptionalUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if authorization(parts).is_empty() {
            return Ok(Self(None));
        }
        CurrentUser::from_request_parts(parts, state)
            .await
            .map(|CurrentUser(user)| Self(Some(user)))
    }
}
