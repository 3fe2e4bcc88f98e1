//! `GET /metrics`: what the shop does, in Prometheus' text format. Every name starts with
//! `chatmall_`; the README lists them. The code records through the `metrics` facade
//! where things happen (the store's transitions, the payment channel, the chat, the jobs,
//! the notification handler); this module installs the recorder and serves it.

use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Bucket bounds of every `_seconds` histogram: from a database write to a slow upstream.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use (servers started in one process, as
/// the tests start them, share it).
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics stays empty");
        }
        describe();
        // Histograms keep their samples until this folds them in: without a scraper they
        // would grow without bound.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let upkeep = handle.clone();
            runtime.spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(5));
                loop {
                    every.tick().await;
                    upkeep.run_upkeep();
                }
            });
        }
        handle
    })
}

/// The route (the caller adds the state).
pub fn router() -> axum::Router<AppState> {
    axum::Router::new().route("/metrics", axum::routing::get(scrape))
}

/// GET `/metrics`.
async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    // Gauges read at scrape time. A database that cannot answer leaves the last value and
    // is seen by /readyz; the scrape still answers.
    match state.troubled_count().await {
        Ok(troubled) => metrics::gauge!("chatmall_orders_troubled").set(troubled as f64),
        Err(e) => tracing::warn!(error = ?e, "metrics: could not count the troubled orders"),
    }
    for pool in state.shop.store().pool_use() {
        metrics::gauge!("chatmall_db_connections", "pool" => pool.name, "state" => "open")
            .set(pool.open as f64);
        metrics::gauge!("chatmall_db_connections", "pool" => pool.name, "state" => "idle")
            .set(pool.idle as f64);
        metrics::gauge!("chatmall_db_connections_max", "pool" => pool.name).set(pool.max as f64);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle().render(),
    )
}

/// The help text of each metric, in the exposition's `# HELP` lines.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "chatmall_order_transitions_total",
        "Order state transitions committed, by transition and the state entered"
    );
    describe_counter!(
        "chatmall_payments_total",
        "Payments WeChat vouched for, by how they came (notify, missed_payment, \
         buyer_check, expiry, reconciliation) and what they did: paid, already_paid, \
         review, unmatched, error"
    );
    describe_counter!(
        "chatmall_refund_transitions_total",
        "Refund state changes committed, by the state entered"
    );
    describe_counter!(
        "chatmall_notifications_total",
        "WeChat Pay notifications, by outcome: accepted, repeat, review, unmatched, refund, \
         nothing, refused, unreadable, error"
    );
    describe_counter!(
        "chatmall_wechatpay_calls_total",
        "Calls to WeChat Pay, by endpoint and outcome: ok, not_found, refused, unknown"
    );
    describe_histogram!(
        "chatmall_wechatpay_call_duration_seconds",
        Unit::Seconds,
        "Time of each call to WeChat Pay, by endpoint"
    );
    describe_counter!(
        "chatmall_job_rounds_total",
        "Rounds of each background job, by outcome: ok or error"
    );
    describe_counter!(
        "chatmall_job_items_total",
        "What the jobs' rounds handled, by job and result: scanned, fixed, failed"
    );
    describe_counter!(
        "chatmall_chat_calls_total",
        "Chat calls ended, by model and outcome: ok, failed, cancelled, refunded"
    );
    describe_histogram!(
        "chatmall_chat_first_token_seconds",
        Unit::Seconds,
        "Time from a chat call's start to the model's first token, by model"
    );
    describe_counter!(
        "chatmall_chat_upstream_errors_total",
        "Chat upstreams that failed before the first token, by upstream"
    );
    describe_counter!(
        "chatmall_chat_quota_spent_total",
        "Quota spent by ended chat calls, by model"
    );
    describe_counter!(
        "chatmall_chat_tokens_total",
        "Tokens of ended chat calls, by model and kind: prompt or completion"
    );
    describe_gauge!(
        "chatmall_chat_open_streams",
        "Chat answers being streamed now"
    );
    describe_gauge!(
        "chatmall_orders_troubled",
        "Orders whose checks failed jobs.troubled_after_attempts times (counted up to 1,000)"
    );
    describe_gauge!(
        "chatmall_db_connections",
        "Database connections, by pool and state: open or idle"
    );
    describe_gauge!(
        "chatmall_db_connections_max",
        "The most connections each database pool opens"
    );
}
