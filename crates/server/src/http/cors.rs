//! CORS for front-ends served from elsewhere (`server.cors_allowed_origins`), such as the
//! original system's own pages pointed at this server. Empty = no CORS headers at all.

use anyhow::Context;
use axum::http::{HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The layer for `origins` (`"*"` = any origin), or none when the list is empty.
///
/// Credentials (cookies) are never allowed: the session token travels in the
/// `Authorization` header, which the browser sends only when the page's script adds it.
pub fn layer(origins: &[String]) -> anyhow::Result<Option<CorsLayer>> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow = if origins.iter().any(|o| o.trim() == "*") {
        AllowOrigin::any()
    } else {
        let list = origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(o.trim().trim_end_matches('/'))
                    .with_context(|| format!("server.cors_allowed_origins: bad origin {o:?}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        AllowOrigin::list(list)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(std::time::Duration::from_secs(600)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_means_off_and_bad_origins_are_refused() {
        assert!(layer(&[]).unwrap().is_none());
        assert!(layer(&["*".into()]).unwrap().is_some());
        assert!(layer(&["https://shop.example".into()]).unwrap().is_some());
        assert!(layer(&["bad\norigin".into()]).is_err());
    }
}
