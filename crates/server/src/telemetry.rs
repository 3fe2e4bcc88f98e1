//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

fn filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
}

/// Installs the global subscriber; a second call is a no-op.
pub fn init() {
    use std::io::IsTerminal as _;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter("info,sqlx=warn,sea_orm=warn"))
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal; a log file or collector gets plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// For tests: output goes through the test harness, so it shows only for failing tests.
pub fn init_for_tests() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter("info,sqlx=warn,sea_orm=warn,tower_http=warn"))
        .with_test_writer()
        .try_init();
}

/// The span of one HTTP request: method and path only. The query string is left out on
/// purpose: it can carry login codes and order numbers that have no place in logs.
pub fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_spans_leave_the_query_string_out() {
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
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || writer.clone())
                .with_ansi(false),
        );
        tracing::subscriber::with_default(subscriber, || {
            let request = axum::http::Request::get("/api/v1/auth/login?code=123456")
                .body(())
                .unwrap();
            let _entered = super::request_span(&request).entered();
            tracing::info!("handled");
        });
        let logged = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("/api/v1/auth/login"), "{logged}");
        assert!(!logged.contains("123456"), "{logged}");
    }
}
