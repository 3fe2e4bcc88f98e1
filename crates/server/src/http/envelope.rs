//! The original contract's envelope `{"code","info","data"}`, and the one place where
//! errors become HTTP responses (and are logged, once).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Response codes of the original contract.
pub mod code {
    pub const OK: &str = "0000";
    pub const ERROR: &str = "0001";
    pub const BAD_PARAMETER: &str = "0002";
    pub const TOKEN_ERROR: &str = "0003";
    pub const OFF_SALE: &str = "OE001";
}

/// `{"code","info","data"}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Envelope<T> {
    pub code: &'static str,
    pub info: String,
    pub data: Option<T>,
}

/// What a handler of the envelope contract answers.
pub type ApiResult<T> = Result<Json<Envelope<T>>, ApiError>;

/// A successful answer carrying `data`.
pub fn ok<T: Serialize>(data: T) -> Json<Envelope<T>> {
    Json(Envelope {
        code: code::OK,
        info: "success".into(),
        data: Some(data),
    })
}

/// Why an API call failed; each maps to one HTTP status and one contract code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadParameter(String),
    #[error("{0}")]
    NotLoggedIn(String),
    /// Logged in, but not allowed (a viewer asking to act, a form without its CSRF token).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    OffSale(String),
    /// Try again: a dependency did not answer (the state is safe).
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Refused(String),
    /// Asked too often: `Retry-After` says when to ask again.
    #[error("{info}")]
    TooMany { info: String, retry_after_secs: i64 },
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadParameter(_) => (StatusCode::BAD_REQUEST, code::BAD_PARAMETER),
            Self::NotLoggedIn(_) => (StatusCode::UNAUTHORIZED, code::TOKEN_ERROR),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, code::ERROR),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, code::BAD_PARAMETER),
            Self::OffSale(_) => (StatusCode::CONFLICT, code::OFF_SALE),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, code::ERROR),
            Self::Refused(_) => (StatusCode::UNPROCESSABLE_ENTITY, code::ERROR),
            Self::TooMany { .. } => (StatusCode::TOO_MANY_REQUESTS, code::ERROR),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, code::ERROR),
        }
    }

    /// Its HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status_and_code().0
    }

    /// Logs it, once, where it becomes a response: the chain goes to the log, never to
    /// the client.
    pub fn log(&self) {
        match self {
            Self::Internal(e) => tracing::error!(error = ?e, "request failed"),
            other => {
                tracing::info!(status = other.status().as_u16(), error = %other, "request refused")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        self.log();
        let retry_after = match &self {
            Self::TooMany {
                retry_after_secs, ..
            } => Some((*retry_after_secs).max(1)),
            _ => None,
        };
        let mut response = refusal(status, code, self.to_string());
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

/// `axum`'s path extractor, refusing a bad segment with the envelope (not axum's text).
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// `axum`'s query extractor, refusing a bad query with the envelope (not axum's text).
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        Self::BadParameter(rejection.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        Self::BadParameter(rejection.body_text())
    }
}

/// The one shape of every refusal on `/api/v1`: `status` with `{"code","info","data":null}`.
pub fn refusal(status: StatusCode, code: &'static str, info: String) -> Response {
    let body = Envelope::<()> {
        code,
        info,
        data: None,
    };
    (status, Json(body)).into_response()
}
