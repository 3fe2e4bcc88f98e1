//! Why a chat request did not start streaming: refused at the edge (no session, a bad
//! body) or by the metered chat. The HTTP mapping (status, contract code, text) is in
//! `http::chat`, in one place.

use super::upstream::UpstreamError;

/// A chat request that did not start streaming.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("{0}")]
    NotLoggedIn(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Call(#[from] domain::service::ChatError<UpstreamError>),
}
