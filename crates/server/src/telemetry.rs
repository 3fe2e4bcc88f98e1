//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

fn filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
}

/// Installs the global subscriber; a second call is a no-op.
pub fn init() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter("info,sqlx=warn,sea_orm=warn"))
        .with_writer(std::io::stderr)
        .try_init();
}

/// For tests: output goes through the test harness, so it shows only for failing tests.
pub fn init_for_tests() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter("info,sqlx=warn,sea_orm=warn,tower_http=warn"))
        .with_test_writer()
        .try_init();
}
