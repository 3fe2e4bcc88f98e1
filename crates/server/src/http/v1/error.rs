//! OpenAI's error answers: the one mapping of `/v1` failures to a status, a `type` and a
//! `code`, logged once here.

use crate::chat::frames::client_text;
use crate::chat::upstream::UpstreamError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::service::ChatError;
use serde_json::json;

/// Why a `/v1` call failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenAiError {
    /// No usable key or session token (its text says which; never the key).
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Call(#[from] ChatError<UpstreamError>),
    /// A whole (non-streamed) answer broke off after it began: the call counts.
    #[error("{0}")]
    BrokeOff(UpstreamError),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl OpenAiError {
    /// Status, `type`, `code` and the message, as OpenAI words its own.
    fn parts(&self) -> (StatusCode, &'static str, &'static str, String) {
        use ChatError as C;
        let not_found = |model: &str| {
            (
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "model_not_found",
                format!("The model `{model}` does not exist or you do not have access to it."),
            )
        };
        let upstream = |e: &UpstreamError, charge: &str| {
            let status = if e.is_timeout() {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            };
            let message = format!("{}; {charge}.", client_text(e));
            (status, "api_error", "upstream_error", message)
        };
        let quota = |why: String| {
            (
                StatusCode::TOO_MANY_REQUESTS,
                "insufficient_quota",
                "insufficient_quota",
                why,
            )
        };
        match self {
            Self::Unauthorized(why) => (
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                "invalid_api_key",
                format!("Incorrect API key or session token: {why}."),
            ),
            Self::BadRequest(why) => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "invalid_request",
                why.clone(),
            ),
            Self::Call(C::ModelNotServed(model) | C::ModelNotGranted(model)) => not_found(model),
            Self::Call(
                e @ (C::NoAccount | C::NoQuota { .. } | C::TrialUsedUp { .. } | C::KeyCapReached),
            ) => quota(format!("You exceeded your current quota: {e}.")),
            Self::Call(C::Frozen) => (
                StatusCode::FORBIDDEN,
                "invalid_request_error",
                "account_frozen",
                "Your account is frozen; ask the shop's support to unfreeze it.".into(),
            ),
            Self::Call(e @ C::SensitiveWords) => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "content_policy_violation",
                format!("{e}."),
            ),
            Self::Call(C::Model(e)) => upstream(e, "nothing was charged"),
            Self::BrokeOff(e) => upstream(e, "it broke off after it began, so the call counts"),
            Self::Call(C::Store(_)) | Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal_error",
                "The server had an error while processing your request.".into(),
            ),
        }
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let (status, kind, code, message) = self.parts();
        match &self {
            Self::Call(ChatError::Store(e)) | Self::Internal(e) => {
                tracing::error!(error = ?e, "v1 call failed");
            }
            // Logged with its details where it happened (the chat service).
            Self::Call(ChatError::Model(_)) | Self::BrokeOff(_) => {}
            other => tracing::info!(status = status.as_u16(), error = %other, "v1 call refused"),
        }
        let body =
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
        (status, Json(body)).into_response()
    }
}
