//! Why a chat call was refused or failed before its answer started streaming. The HTTP
//! mapping (status, contract code, text) is in `http::chat`, in one place.

use super::upstream::UpstreamError;
/// A chat call that did not start streaming.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("{0}")]
    NotLoggedIn(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("no chat quota yet: buy a package first")]
    NoAccount,
    #[error("chat quota used up: buy another package")]
    NoQuota,
    #[error("your packages do not include model {0}")]
    ModelNotGranted(String),
    #[error("your account is frozen")]
    Frozen,
    #[error("model {0} is not served here")]
    ModelNotServed(String),
    /// The upstream failed before its first token; the quota was given back.
    #[error("{0}")]
    Upstream(UpstreamError),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}
