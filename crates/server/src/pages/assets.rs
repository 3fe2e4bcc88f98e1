//! The pages' static files, embedded in the binary and served with long cache lifetimes
//! (each page links them with `?v=` the content hash, so a new build is fetched anew).

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::LazyLock;

/// `(name, content type, bytes)` of every embedded asset.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/app.css"),
    ),
    (
        "common.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/common.js"),
    ),
    (
        "markdown.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/markdown.js"),
    ),
    (
        "login.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/login.js"),
    ),
    (
        "mall.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/mall.js"),
    ),
    (
        "pay.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/pay.js"),
    ),
    (
        "chat.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/chat.js"),
    ),
    (
        "account.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/account.js"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/console.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/console.css"),
    ),
    (
        "orders.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/orders.js"),
    ),
    (
        "official-account-qr.svg",
        "image/svg+xml",
        include_bytes!("../../assets/official-account-qr.svg"),
    ),
];

/// A hash of all assets (FNV-1a, hex): the `?v=` cache buster.
pub fn version() -> &'static str {
    static VERSION: LazyLock<String> = LazyLock::new(|| {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for (_, _, bytes) in ASSETS {
            for byte in bytes.iter() {
                hash ^= u64::from(*byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        format!("{:012x}", hash & 0xffff_ffff_ffff)
    });
    &VERSION
}

/// GET `/assets/{name}`.
pub async fn serve(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, bytes)) => immutable(content_type, Bytes::from_static(bytes)),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn immutable(content_type: &str, bytes: Bytes) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if content_type.starts_with("image/") {
        // An SVG opened on its own is a document of this origin: it must not run script
        // (which could read the session token) nor load anything.
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(IMAGE_CSP),
        );
    }
    response
}

/// The policy of every image this process serves.
pub const IMAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// Where the login page's official-account QR image comes from.
#[derive(Debug, Clone)]
pub enum OfficialQr {
    /// The embedded placeholder.
    Placeholder,
    /// A URL the page links as it is.
    Url(String),
    /// A local file, read once at start and served at [`LOCAL_QR_PATH`].
    File {
        content_type: &'static str,
        bytes: Bytes,
    },
}

/// Where a configured local QR image is served.
pub const LOCAL_QR_PATH: &str = "/official-account-qr";

impl OfficialQr {
    /// From `pages.official_account_qr`.
    pub fn from_setting(setting: &str) -> anyhow::Result<Self> {
        let setting = setting.trim();
        if setting.is_empty() {
            return Ok(Self::Placeholder);
        }
        if setting.starts_with("https://") || setting.starts_with("http://") {
            return Ok(Self::Url(setting.to_owned()));
        }
        if setting.starts_with('/') && !std::path::Path::new(setting).is_file() {
            // An absolute URL path on this host (e.g. behind a proxy), not a local file.
            return Ok(Self::Url(setting.to_owned()));
        }
        let lower = setting.to_ascii_lowercase();
        let content_type = if lower.ends_with(".png") {
            "image/png"
        } else if lower.ends_with(".jpg") || lower.ends_with(".jpeg") {
            "image/jpeg"
        } else if lower.ends_with(".gif") {
            "image/gif"
        } else if lower.ends_with(".svg") {
            "image/svg+xml"
        } else {
            anyhow::bail!(
                "pages.official_account_qr: {setting} is neither a URL nor a .png/.jpg/.gif/.svg file"
            );
        };
        let bytes = std::fs::read(setting)
            .map_err(|e| anyhow::anyhow!("pages.official_account_qr: read {setting}: {e}"))?;
        Ok(Self::File {
            content_type,
            bytes: Bytes::from(bytes),
        })
    }

    /// The `src` of the login page's `<img>`.
    pub fn src(&self) -> String {
        match self {
            Self::Placeholder => format!("/assets/official-account-qr.svg?v={}", version()),
            Self::Url(url) => url.clone(),
            Self::File { .. } => LOCAL_QR_PATH.to_owned(),
        }
    }
}

/// The route serving a configured local QR image (none otherwise).
pub fn official_qr_router(qr: OfficialQr) -> Router {
    match qr {
        OfficialQr::File {
            content_type,
            bytes,
        } => Router::new().route(
            LOCAL_QR_PATH,
            get(move || {
                let bytes = bytes.clone();
                async move {
                    let mut response = immutable(content_type, bytes);
                    // The file may be replaced between restarts under the same path.
                    response
                        .headers_mut()
                        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                    response
                }
            }),
        ),
        _ => Router::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_setting_is_understood() {
        assert!(matches!(
            OfficialQr::from_setting("").unwrap(),
            OfficialQr::Placeholder
        ));
        assert!(matches!(
            OfficialQr::from_setting("https://example.com/qr.png").unwrap(),
            OfficialQr::Url(_)
        ));
        assert!(OfficialQr::from_setting("qr.bmp").is_err());
        assert!(OfficialQr::from_setting("/no/such/file.png").is_ok());
        assert!(OfficialQr::from_setting("no/such/file.png").is_err());
    }
}
