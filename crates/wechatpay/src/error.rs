//! What can go wrong with one call to WeChat Pay, sorted by what the caller must do next:
//! accept a refusal, or treat the outcome as unknown and retry or query.

use crate::verify::VerifyError;
use std::fmt;

/// Error code of a missing order (current docs).
pub const ORDER_NOT_EXIST: &str = "ORDER_NOT_EXIST";
/// Error code of a missing order (older docs); accepted as the same thing.
pub const ORDER_NOT_EXIST_LEGACY: &str = "ORDERNOTEXIST";

/// Why one call to WeChat Pay did not give a trusted, successful answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// WeChat answered 4xx (other than 429): it refused the request, and nothing changed.
    #[error(
        "WeChat Pay refused the request: HTTP {status} {code}: {message}{}",
        RequestId(request_id)
    )]
    Refused {
        /// The HTTP status.
        status: u16,
        /// WeChat's error code, e.g. `PARAM_ERROR`.
        code: String,
        /// WeChat's human-readable message.
        message: String,
        /// WeChat's optional `detail` object.
        detail: Option<serde_json::Value>,
        /// The `Request-ID` header, for support tickets.
        request_id: Option<String>,
    },
    /// HTTP 429 (`FREQUENCY_LIMITED`): back off; the request may or may not have been applied.
    #[error(
        "WeChat Pay rate-limited the request: {code}: {message}{}",
        RequestId(request_id)
    )]
    RateLimited {
        /// WeChat's error code, normally `FREQUENCY_LIMITED`.
        code: String,
        /// WeChat's human-readable message.
        message: String,
        /// The `Request-ID` header.
        request_id: Option<String>,
    },
    /// HTTP 5xx (`SYSTEM_ERROR`, `BANK_ERROR`, …): the outcome is unknown.
    #[error(
        "WeChat Pay failed: HTTP {status} {code}: {message}{}",
        RequestId(request_id)
    )]
    ServerError {
        /// The HTTP status.
        status: u16,
        /// WeChat's error code, empty when the body carried none.
        code: String,
        /// WeChat's message, or the start of the body when it was not WeChat's error JSON.
        message: String,
        /// The `Request-ID` header.
        request_id: Option<String>,
    },
    /// No answer within the configured timeout: the request may have reached WeChat.
    #[error("WeChat Pay did not answer in time")]
    Timeout,
    /// The connection failed or broke: the request may have reached WeChat.
    #[error("transport error talking to WeChat Pay: {0}")]
    Transport(String),
    /// The answer's signature did not verify: it is not known to come from WeChat.
    #[error("untrusted answer (HTTP {status}): {source}{}", RequestId(request_id))]
    UntrustedResponse {
        /// The HTTP status of the untrusted answer (itself untrusted).
        status: u16,
        /// Why verification failed.
        source: VerifyError,
        /// The `Request-ID` header (itself untrusted).
        request_id: Option<String>,
    },
    /// A signed answer that this client cannot understand (unparseable body, odd status).
    #[error("unusable answer (HTTP {status}): {reason}{}", RequestId(request_id))]
    BadResponse {
        /// The HTTP status.
        status: u16,
        /// What was wrong with it.
        reason: String,
        /// The `Request-ID` header.
        request_id: Option<String>,
    },
    /// The request could not be built, so it was never sent.
    #[error("the request could not be built: {0}")]
    InvalidRequest(String),
}

impl Error {
    /// Whether WeChat may have applied the request: retry with the same ids, or query.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Error::Refused { .. } | Error::InvalidRequest(_) => false,
            Error::RateLimited { .. }
            | Error::ServerError { .. }
            | Error::Timeout
            | Error::Transport(_)
            | Error::UntrustedResponse { .. }
            | Error::BadResponse { .. } => true,
        }
    }

    /// Whether WeChat said the order (or refund) does not exist.
    pub fn is_order_not_exist(&self) -> bool {
        matches!(
            self,
            Error::Refused { code, .. } if code == ORDER_NOT_EXIST || code == ORDER_NOT_EXIST_LEGACY
        )
    }

    /// WeChat's error code, when WeChat gave one in a trusted answer.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Refused { code, .. }
            | Error::RateLimited { code, .. }
            | Error::ServerError { code, .. }
                if !code.is_empty() =>
            {
                Some(code)
            }
            _ => None,
        }
    }

    /// The HTTP status of the answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Refused { status, .. }
            | Error::ServerError { status, .. }
            | Error::UntrustedResponse { status, .. }
            | Error::BadResponse { status, .. } => Some(*status),
            Error::RateLimited { .. } => Some(429),
            Error::Timeout | Error::Transport(_) | Error::InvalidRequest(_) => None,
        }
    }

    /// The `Request-ID` header of the answer, for a support ticket.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Refused { request_id, .. }
            | Error::RateLimited { request_id, .. }
            | Error::ServerError { request_id, .. }
            | Error::UntrustedResponse { request_id, .. }
            | Error::BadResponse { request_id, .. } => request_id.as_deref(),
            Error::Timeout | Error::Transport(_) | Error::InvalidRequest(_) => None,
        }
    }
}

/// Appends ` (Request-ID …)` to a message when there is one.
struct RequestId<'a>(&'a Option<String>);

impl fmt::Display for RequestId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) => write!(f, " (Request-ID {id})"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, code: &str) -> Error {
        Error::Refused {
            status,
            code: code.into(),
            message: "no".into(),
            detail: None,
            request_id: Some("08F1B2C3-404".into()),
        }
    }

    #[test]
    fn refusals_are_final() {
        for (status, code) in [
            (400, "PARAM_ERROR"),
            (401, "SIGN_ERROR"),
            (403, "OUT_TRADE_NO_USED"),
            (404, "ORDER_NOT_EXIST"),
        ] {
            let error = refused(status, code);
            assert!(!error.outcome_unknown(), "{status} {code}");
            assert_eq!(error.code(), Some(code));
            assert_eq!(error.status(), Some(status));
        }
    }

    #[test]
    fn server_errors_rate_limits_and_transport_failures_leave_the_outcome_unknown() {
        let unknown = [
            Error::ServerError {
                status: 500,
                code: "SYSTEM_ERROR".into(),
                message: "busy".into(),
                request_id: None,
            },
            Error::RateLimited {
                code: "FREQUENCY_LIMITED".into(),
                message: "slow down".into(),
                request_id: None,
            },
            Error::Timeout,
            Error::Transport("connection reset".into()),
            Error::UntrustedResponse {
                status: 200,
                source: VerifyError::BadSignature,
                request_id: None,
            },
            Error::BadResponse {
                status: 200,
                reason: "not JSON".into(),
                request_id: None,
            },
        ];
        for error in unknown {
            assert!(error.outcome_unknown(), "{error}");
            assert!(!error.is_order_not_exist());
        }
        assert!(!Error::InvalidRequest("x".into()).outcome_unknown());
    }

    #[test]
    fn both_spellings_of_order_not_exist_are_recognised() {
        assert!(refused(404, "ORDER_NOT_EXIST").is_order_not_exist());
        assert!(refused(404, "ORDERNOTEXIST").is_order_not_exist());
        assert!(!refused(400, "PARAM_ERROR").is_order_not_exist());
    }

    #[test]
    fn the_request_id_is_kept_and_shown() {
        let error = refused(404, "ORDER_NOT_EXIST");
        assert_eq!(error.request_id(), Some("08F1B2C3-404"));
        assert!(error.to_string().contains("Request-ID 08F1B2C3-404"));
        let untrusted = Error::UntrustedResponse {
            status: 200,
            source: VerifyError::BadSignature,
            request_id: None,
        };
        assert_eq!(untrusted.code(), None);
        assert!(!untrusted.to_string().contains("Request-ID"));
    }
}
