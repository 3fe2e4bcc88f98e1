//! Observability (issue 15 §4): `GET /metrics` in Prometheus' text format, whose counters
//! move with a purchase and a chat call; `/metrics` on an address of its own; a request
//! id on every answer.

use crate::helpers::{DEADLINE, TestApp};
use domain::order::OrderStatus;
use serde_json::json;

async fn scrape(http: &reqwest::Client, url: &str) -> String {
    let response = http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    response.text().await.unwrap()
}

/// The sum of the series of `name` whose labels include every one of `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, number) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
            let wanted = metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            wanted.then(|| number.parse::<f64>().ok()).flatten()
        })
        .sum()
}

#[tokio::test]
async fn the_counters_move_with_a_purchase_and_a_chat_call() {
    let app = TestApp::spawn().await;
    let url = format!("{}/metrics", app.base_url);
    let before = scrape(&app.http, &url).await;

    let user = "oMetrics";
    let order_no = app.place_order_ok(user, "1001").await;
    app.sandbox.pay(&order_no, None).unwrap();
    let started = std::time::Instant::now();
    app.wait_for_status(&order_no, OrderStatus::Delivered).await;
    assert!(started.elapsed() < DEADLINE);
    let response = app
        .http
        .post(format!("{}/v1/chat/completions", app.base_url))
        .bearer_auth(app.token_for(user))
        .json(&json!({"model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let after = scrape(&app.http, &url).await;
    // Other tests in this process move the same counters: each must have grown by at least
    // what this one did.
    let grew = |name: &str, labels: &[(&str, &str)], by: f64| {
        let (was, is) = (value(&before, name, labels), value(&after, name, labels));
        assert!(is >= was + by, "{name}{labels:?}: {was} → {is}\n{after}");
    };
    for (transition, to) in [
        ("prepay", "PAY_WAIT"),
        ("pay", "PAID"),
        ("deliver", "DELIVERED"),
    ] {
        grew(
            "chatmall_order_transitions_total",
            &[("transition", transition), ("to", to)],
            1.0,
        );
    }
    grew(
        "chatmall_notifications_total",
        &[("outcome", "accepted")],
        1.0,
    );
    grew(
        "chatmall_wechatpay_calls_total",
        &[("endpoint", "prepay"), ("outcome", "ok")],
        1.0,
    );
    grew(
        "chatmall_wechatpay_call_duration_seconds_count",
        &[("endpoint", "prepay")],
        1.0,
    );
    let model = [("model", "gpt-4o-mini")];
    grew(
        "chatmall_chat_calls_total",
        &[("model", "gpt-4o-mini"), ("outcome", "ok")],
        1.0,
    );
    grew("chatmall_chat_quota_spent_total", &model, 1.0);
    grew("chatmall_chat_first_token_seconds_count", &model, 1.0);
    grew(
        "chatmall_chat_tokens_total",
        &[("model", "gpt-4o-mini"), ("kind", "completion")],
        1.0,
    );
    // The delivery job runs rounds; the pool's gauges are read at each scrape.
    assert!(value(&after, "chatmall_job_rounds_total", &[("outcome", "ok")]) >= 1.0);
    assert!(
        value(&after, "chatmall_db_connections_max", &[]) >= 1.0,
        "{after}"
    );
    assert!(after.contains("\nchatmall_orders_troubled 0\n"), "{after}");
    assert!(after.contains("# HELP chatmall_order_transitions_total"));
}

#[tokio::test]
async fn metrics_can_have_an_address_of_their_own() {
    let app = TestApp::spawn_with(|s| s.metrics.listen = "127.0.0.1:0".into()).await;
    let own = app.metrics_url.clone().expect("metrics on their own port");
    assert!(!own.starts_with(&app.base_url));
    let text = scrape(&app.http, &own).await;
    assert!(
        text.contains("# TYPE chatmall_db_connections gauge"),
        "{text}"
    );
    // Then not on the shop's port.
    let shop = app
        .http
        .get(format!("{}/metrics", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(shop.status(), 404);
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_given_one_is_kept() {
    let app = TestApp::spawn().await;
    let url = format!("{}/health", app.base_url);
    let made = app.http.get(&url).send().await.unwrap();
    let id = made.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let again = app.http.get(&url).send().await.unwrap();
    assert_ne!(
        again.headers()["x-request-id"],
        id.as_str(),
        "one per request"
    );
    let given = app
        .http
        .get(&url)
        .header("x-request-id", "from-the-proxy-42")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "from-the-proxy-42");
}
