//! `GET /qr.svg?text=weixin://…`: a WeChat Pay code_url as an SVG QR code.
//!
//! Only `weixin://` URLs of bounded length are drawn, so this is not an open QR service
//! for arbitrary content (phishing links with this site's name on them).

use axum::extract::Query;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use qrcode::QrCode;
use qrcode::render::svg;
use serde::Deserialize;

/// Longer than any code_url WeChat hands out.
const MAX_TEXT: usize = 256;

/// `?text=`.
#[derive(Debug, Deserialize)]
pub struct QrQuery {
    text: Option<String>,
}

/// GET `/qr.svg`.
pub async fn svg(Query(query): Query<QrQuery>) -> Response {
    let Some(text) = query.text else {
        return (StatusCode::BAD_REQUEST, "text is required").into_response();
    };
    match render(&text) {
        Some(image) => {
            let mut response = image.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            );
            // A code_url's picture never changes, but it is short-lived and personal.
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=3600"),
            );
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(super::assets::IMAGE_CSP),
            );
            response
        }
        None => (
            StatusCode::BAD_REQUEST,
            "only weixin:// URLs are drawn here",
        )
            .into_response(),
    }
}

/// The SVG of `text`, if it is a drawable WeChat URL.
fn render(text: &str) -> Option<String> {
    let acceptable = text.starts_with("weixin://")
        && text.len() <= MAX_TEXT
        && text.bytes().all(|b| b.is_ascii_graphic());
    if !acceptable {
        return None;
    }
    let code = QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<svg::Color>()
            .min_dimensions(240, 240)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_weixin_urls_are_drawn() {
        let svg = render("weixin://wxpay/bizpayurl?pr=abc123").expect("drawn");
        assert!(svg.starts_with("<?xml") || svg.starts_with("<svg"));
        assert!(svg.contains("<svg"));
        assert!(render("https://evil.example/").is_none());
        assert!(render("javascript:alert(1)").is_none());
        assert!(render("weixin://a b").is_none());
        assert!(render(&format!("weixin://{}", "a".repeat(300))).is_none());
    }
}
