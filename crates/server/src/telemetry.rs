//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`), as text or as
//! JSON lines; every line of a request carries its request id.

use crate::config::LogFormat;
use axum::http::HeaderName;
use tracing_subscriber::EnvFilter;

/// The header a request's id travels in (given by a proxy in front, or made here), and
/// is answered with.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
}

/// Installs the global subscriber; a second call is a no-op.
pub fn init(format: LogFormat) {
    use std::io::IsTerminal as _;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter("info,sqlx=warn,sea_orm=warn"))
        .with_writer(std::io::stderr);
    let _ = match format {
        // Colours for a person at a terminal; a log file gets plain text.
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        // The request's span (its id, method and path) is in every line of it.
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
}

/// For tests: output goes through the test harness, so it shows only for failing tests.
pub fn init_for_tests() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter("info,sqlx=warn,sea_orm=warn,tower_http=warn"))
        .with_test_writer()
        .try_init();
}

/// The span of one HTTP request: its id, method and path. The query string is left out
/// on purpose: it can carry login codes and order numbers that have no place in logs.
pub fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|id| id.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
}

/// Gives each request an id (unless a proxy in front gave one), for its log lines and
/// its answer's `x-request-id`.
pub fn with_request_ids(router: axum::Router) -> axum::Router {
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    router
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What a log line inside a request's span looks like, as `json` or text.
    fn logged_in_a_request(json: bool) -> String {
        let capture = Capture::default();
        let writer = capture.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(move || writer.clone())
            .with_ansi(false);
        let request = axum::http::Request::get("/api/v1/auth/login?code=123456")
            .header("x-request-id", "req-7f3a")
            .body(())
            .unwrap();
        let log = || {
            let _entered = super::request_span(&request).entered();
            tracing::info!("handled");
        };
        if json {
            let layer = layer.json().with_current_span(true);
            tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), log);
        } else {
            tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), log);
        }
        String::from_utf8(capture.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn request_spans_carry_the_id_and_leave_the_query_string_out() {
        let logged = logged_in_a_request(false);
        assert!(logged.contains("/api/v1/auth/login"), "{logged}");
        assert!(logged.contains("request_id=req-7f3a"), "{logged}");
        assert!(!logged.contains("123456"), "{logged}");
    }

    #[test]
    fn json_lines_carry_the_request_id() {
        let logged = logged_in_a_request(true);
        let line: serde_json::Value = serde_json::from_str(logged.trim()).unwrap();
        assert_eq!(line["span"]["request_id"], "req-7f3a", "{logged}");
        assert_eq!(line["span"]["path"], "/api/v1/auth/login", "{logged}");
        assert_eq!(line["fields"]["message"], "handled");
        assert!(!logged.contains("123456"), "{logged}");
    }
}
