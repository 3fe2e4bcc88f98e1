//! "I have paid" (issue 14 §2): `POST /api/v1/sale/check_payment` asks WeChat about the
//! buyer's order now. The jobs are slowed to hours here, so a payment whose notification
//! was lost is found by this check alone.

use crate::helpers::{DEADLINE, TestApp};
use domain::order::OrderStatus;
use serde_json::Value;
use wechatpay_sandbox::Faults;

/// A server whose compensation jobs would not look at an order for an hour, and a sandbox
/// that loses every notification.
async fn app_without_help() -> TestApp {
    let app = TestApp::spawn_with(|s| {
        s.jobs.missed_payment_delay_secs = 3_600;
        s.jobs.redelivery_delay_secs = 3_600;
        s.order.buyer_check_interval_secs = 5;
    })
    .await;
    app.sandbox.set_faults(Faults {
        drop_notification: 1.0,
        ..Faults::default()
    });
    app
}

async fn check(app: &TestApp, user: &str, order_no: &str) -> (u16, Value, Option<String>) {
    app.post_form(user, "/sale/check_payment", &[("orderId", order_no)])
        .await
}

#[tokio::test]
async fn a_paid_order_whose_notification_was_lost_is_credited_when_the_buyer_asks() {
    let app = app_without_help().await;
    let user = "oSaysPaid";
    let order_no = app.place_order_ok(user, "1001").await;
    app.sandbox.pay(&order_no, None).unwrap();

    let (status, body, _) = check(&app, user, &order_no).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"], "0000");
    assert_eq!(body["data"]["found"], "paid");
    assert_eq!(body["data"]["order"]["orderId"], order_no.as_str());
    assert_eq!(body["data"]["order"]["status"], "PAID");

    // Delivery was woken: credited within the deadline, once.
    let started = std::time::Instant::now();
    let order = app.wait_for_status(&order_no, OrderStatus::Delivered).await;
    assert!(started.elapsed() < DEADLINE);
    assert_eq!(app.quota(user).await.0, order.quota as i64);
    assert_eq!(app.ledger_rows(&order_no).await, 1);

    // A settled order is reported as it is, without WeChat and without the limit.
    let (status, body, _) = check(&app, user, &order_no).await;
    assert_eq!(
        (status, body["data"]["found"].as_str()),
        (200, Some("settled"))
    );
    assert_eq!(body["data"]["order"]["status"], "DELIVERED");
    assert_eq!(app.ledger_rows(&order_no).await, 1);
}

#[tokio::test]
async fn an_unpaid_order_is_checked_at_most_once_per_interval() {
    let app = app_without_help().await;
    let user = "oImpatient";
    let order_no = app.place_order_ok(user, "1001").await;

    let (status, body, _) = check(&app, user, &order_no).await;
    assert_eq!(
        (status, body["data"]["found"].as_str()),
        (200, Some("unpaid"))
    );
    assert_eq!(body["data"]["order"]["status"], "PAY_WAIT");

    // Again at once: refused, unchecked, with when to come back.
    app.sandbox.pay(&order_no, None).unwrap();
    let (status, body, retry_after) = check(&app, user, &order_no).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "0001");
    assert_eq!(retry_after.as_deref(), Some("5"));
    assert_eq!(app.order(&order_no).await.status, OrderStatus::PayWait);

    // Once the interval has passed on the server's clock, the check goes through.
    app.clock.advance(chrono::Duration::seconds(5));
    let (status, body, _) = check(&app, user, &order_no).await;
    assert_eq!(
        (status, body["data"]["found"].as_str()),
        (200, Some("paid"))
    );
    app.wait_for_status(&order_no, OrderStatus::Delivered).await;
    assert_eq!(app.ledger_rows(&order_no).await, 1);
}

#[tokio::test]
async fn only_the_owner_may_ask_and_bad_asks_are_refused() {
    let app = app_without_help().await;
    let order_no = app.place_order_ok("oOwner", "1001").await;

    let (status, body, _) = check(&app, "oSomeoneElse", &order_no).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("0002")),
        "{body}"
    );
    let (status, body, _) = check(&app, "oOwner", "no order!").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("0002")),
        "{body}"
    );

    let missing = app
        .http
        .post(format!("{}/api/v1/sale/check_payment", app.base_url))
        .bearer_auth(app.token_for("oOwner"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    let anonymous = app
        .http
        .post(format!("{}/api/v1/sale/check_payment", app.base_url))
        .form(&[("orderId", order_no.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // None of it counted as the owner's check, nor changed the order.
    let (status, body, _) = check(&app, "oOwner", &order_no).await;
    assert_eq!(
        (status, body["data"]["found"].as_str()),
        (200, Some("unpaid"))
    );
}
