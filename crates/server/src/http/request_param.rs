//! Reading one parameter the way the original's Spring `@RequestParam` does: from the query
//! string, else from the form body.

use axum::http::Uri;
use serde::de::DeserializeOwned;

/// The parameter `field` picks out of the form `F`, from the query string, else the body.
pub fn request_param<F: DeserializeOwned>(
    uri: &Uri,
    body: &[u8],
    field: fn(F) -> Option<String>,
) -> Option<String> {
    let from_query = uri
        .query()
        .and_then(|q| serde_urlencoded::from_str::<F>(q).ok())
        .and_then(field);
    from_query.or_else(|| serde_urlencoded::from_bytes::<F>(body).ok().and_then(field))
}
