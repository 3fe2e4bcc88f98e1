//! The compensation jobs of DESIGN.md §4, each against the real server and sandbox.

use crate::helpers::TestApp;
use chatmall::config::Settings;
use domain::order::OrderStatus;
use sea_orm::ConnectionTrait;
use wechatpay::model::TradeState;
use wechatpay_sandbox::{Faults, TimeoutMode};

/// Jobs that run every 100 ms with no delays, and orders that expire after `ttl_secs` (on
/// the server's clock, which [`TestApp::pass_the_deadline`] moves past it).
fn fast_jobs(ttl_secs: i64) -> impl FnOnce(&mut Settings) {
    move |s| {
        s.order.ttl_secs = ttl_secs;
        s.jobs.missed_payment_interval_ms = 100;
        s.jobs.missed_payment_delay_secs = 0;
        s.jobs.expiry_interval_ms = 100;
        s.jobs.redelivery_interval_ms = 100;
        s.jobs.redelivery_delay_secs = 0;
        s.jobs.delivery_poll_ms = 60_000;
        s.wechatpay.timeout_ms = 300;
    }
}

#[tokio::test]
async fn a_payment_whose_notification_never_comes_is_found_by_query_and_delivered() {
    let app = TestApp::spawn_with(fast_jobs(600)).await;
    app.sandbox.set_faults(Faults {
        drop_notification: 1.0,
        ..Faults::default()
    });
    let user = "oMissedNotify";
    let order_no = app.place_order_ok(user, "1001").await;
    app.sandbox.pay(&order_no, None).unwrap();
    let order = app.wait_for_status(&order_no, OrderStatus::Delivered).await;
    let delivered_notices = app
        .sandbox
        .notifications()
        .into_iter()
        .filter(|n| n.out_trade_no == order_no)
        .filter(|n| {
            matches!(
                n.outcome,
                wechatpay_sandbox::DeliveryOutcome::Delivered { .. }
            )
        })
        .count();
    assert_eq!(delivered_notices, 0, "no notification reached the server");
    assert_eq!(app.quota(user).await.0, order.quota as i64);
    assert_eq!(app.ledger_rows(&order_no).await, 1);
}

#[tokio::test]
async fn an_unpaid_order_is_closed_at_wechat_and_locally_at_its_deadline() {
    let app = TestApp::spawn_with(fast_jobs(600)).await;
    let order_no = app.place_order_ok("oNeverPays", "1001").await;
    app.pass_the_deadline();
    let order = app.wait_for_status(&order_no, OrderStatus::Closed).await;
    assert!(order.closed_at.unwrap() >= order.expire_at);
    assert_eq!(
        app.sandbox.order(&order_no).unwrap().trade_state,
        TradeState::Closed
    );
    assert!(
        app.sandbox.pay(&order_no, None).is_err(),
        "a closed order cannot be paid"
    );
    assert_eq!(app.quota("oNeverPays").await, (0, 0));
}

#[tokio::test]
async fn a_prepay_that_never_reached_wechat_closes_locally_at_expiry() {
    let app = TestApp::spawn_with(fast_jobs(600)).await;
    app.sandbox.set_faults(Faults {
        prepay_timeout: 1.0,
        prepay_timeout_mode: TimeoutMode::BeforeCreate,
        prepay_timeout_ms: 1_000,
        ..Faults::default()
    });
    let (status, _) = app.place_order("oLostPrepay", "1001").await;
    assert_eq!(status, 503);
    let (_, list) = app.get("oLostPrepay", "/sale/query_order_list").await;
    let order_no = list["data"][0]["orderId"].as_str().unwrap().to_owned();
    assert!(
        app.sandbox.order(&order_no).is_none(),
        "WeChat never saw it"
    );
    app.pass_the_deadline();
    app.wait_for_status(&order_no, OrderStatus::Closed).await;
}

#[tokio::test]
async fn a_payment_that_turns_up_after_the_order_closed_is_honoured() {
    let app = TestApp::spawn_with(fast_jobs(600)).await;
    let user = "oLatePayer";
    let order_no = app.place_order_ok(user, "1003").await;
    app.pass_the_deadline();
    app.wait_for_status(&order_no, OrderStatus::Closed).await;
    // WeChat reports a payment anyway (paid at the last second, notified late).
    let mut paid = app.sandbox.order(&order_no).unwrap();
    paid.trade_state = TradeState::Success;
    paid.transaction_id = Some("4200000000202611280000000001".into());
    paid.success_time = Some(chrono::Utc::now().to_rfc3339());
    let (headers, body) = app.sandbox.build_notification(&paid);
    assert_eq!(app.post_notification(&headers, &body).await, 204);
    let order = app.wait_for_status(&order_no, OrderStatus::Delivered).await;
    assert_eq!(app.quota(user).await.0, order.quota as i64);
}

#[tokio::test]
async fn a_paid_order_whose_event_was_lost_is_delivered_by_the_sweep() {
    let app = TestApp::spawn_with(|s| {
        fast_jobs(600)(s);
        // Only the sweep delivers: the relay is effectively asleep.
        s.jobs.delivery_poll_ms = 3_600_000;
        s.jobs.missed_payment_interval_ms = 3_600_000;
    })
    .await;
    app.sandbox.set_faults(Faults {
        drop_notification: 1.0,
        ..Faults::default()
    });
    let user = "oLostEvent";
    let order_no = app.place_order_ok(user, "1002").await;
    let transaction = app.sandbox.pay(&order_no, None).unwrap();
    // Simulate losing the outbox event together with the relay's wake-up: the payment is
    // applied directly, then its event row is removed before any relay sees it.
    let db = app.state.shop.store().db();
    let payment = infra::wechatpay_channel::confirmation_of(&transaction)
        .unwrap()
        .unwrap();
    app.state
        .shop
        .confirm_payment(&payment, &domain::order::Cause::Query("missed_payment"))
        .await
        .unwrap();
    db.execute_unprepared("DELETE FROM outbox").await.unwrap();
    app.wait_for_status(&order_no, OrderStatus::Delivered).await;
    assert_eq!(app.ledger_rows(&order_no).await, 1);
}

#[tokio::test]
async fn query_failures_are_retried_with_backoff_and_the_payment_is_still_found() {
    let app = TestApp::spawn_with(fast_jobs(600)).await;
    let faults = |query_error| Faults {
        drop_notification: 1.0,
        query_error,
        ..Faults::default()
    };
    // Every query fails until three failed checks are counted (a random failure rate made
    // this test fail whenever the dice kept saying no until the deadline)…
    app.sandbox.set_faults(faults(1.0));
    let order_no = app.place_order_ok("oFlakyQuery", "1001").await;
    app.sandbox.pay(&order_no, None).unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let failed = app
            .state
            .job_stats
            .snapshot()
            .get("missed_payment")
            .map_or(0, |t| t.failed);
        if failed >= 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{failed} failed checks"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(app.order(&order_no).await.status, OrderStatus::PayWait);
    // …then WeChat answers again, and the next retry finds the payment.
    app.sandbox.set_faults(faults(0.0));
    app.wait_for_status(&order_no, OrderStatus::Delivered).await;
}

#[tokio::test]
async fn an_order_whose_checks_keep_failing_is_surfaced_to_operators() {
    let app = TestApp::spawn_with(|s| {
        fast_jobs(600)(s);
        s.jobs.troubled_after_attempts = 2;
        s.admin.token = chatmall::config::Secret::from("operator-token-1234".to_owned());
    })
    .await;
    app.sandbox.set_faults(Faults {
        drop_notification: 1.0,
        query_error: 1.0,
        ..Faults::default()
    });
    let order_no = app.place_order_ok("oTroubled", "1001").await;
    app.sandbox.pay(&order_no, None).unwrap();

    let admin = |path: &'static str, token: &'static str| {
        let request = app
            .http
            .get(format!("{}/api/v1/admin/{path}", app.base_url));
        async move {
            let response = request.bearer_auth(token).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    };
    assert_eq!(admin("troubled_orders", "wrong").await.0, 401);
    let deadline = tokio::time::Instant::now() + crate::helpers::DEADLINE;
    loop {
        let (status, body) = admin("troubled_orders", "operator-token-1234").await;
        assert_eq!(status, 200, "{body}");
        let listed = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["orderId"] == order_no.as_str())
            .cloned();
        if let Some(order) = listed {
            assert!(order["checkAttempts"].as_u64().unwrap() >= 2);
            assert!(
                order["lastError"]
                    .as_str()
                    .unwrap()
                    .contains("SYSTEM_ERROR"),
                "{order}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never listed as troubled: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, jobs) = admin("jobs", "operator-token-1234").await;
    assert!(
        jobs["data"]["missed_payment"]["failed"].as_u64().unwrap() >= 2,
        "{jobs}"
    );

    // Once WeChat answers again, the order is delivered and leaves the list.
    app.sandbox.set_faults(Faults {
        drop_notification: 1.0,
        ..Faults::default()
    });
    app.wait_for_status(&order_no, OrderStatus::Delivered).await;
    // The outbox relay runs on the same runner as every job, so its counters show too
    // (recorded when its round ends, just after the delivery).
    let deadline = tokio::time::Instant::now() + crate::helpers::DEADLINE;
    loop {
        let (_, jobs) = admin("jobs", "operator-token-1234").await;
        if jobs["data"]["delivery"]["fixed"].as_u64().unwrap_or(0) >= 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no delivery counters: {jobs}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn without_admin_token_the_admin_api_takes_no_bearer_only_operator_sessions() {
    let app = TestApp::spawn().await;
    let url = format!("{}/api/v1/admin/jobs", app.base_url);
    // An empty setting is no token: no bearer, however it is spelled, gets in.
    for bearer in [None, Some(""), Some("anything")] {
        let mut request = app.http.get(&url);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "bearer {bearer:?}");
    }
}

#[tokio::test]
async fn a_chat_call_left_started_by_a_stopped_server_is_ended_by_the_sweep() {
    use chatmall::jobs::interrupted_chats;
    use domain::chat::{Price, Spend, UsageStatus};
    use domain::ports::ChatAccounts;
    use domain::product::ModelType;
    use domain::user::UserId;
    let app = TestApp::spawn().await;
    let store = app.state.shop.store();
    let who = UserId::parse("oInterruptedChat").unwrap();
    let model = ModelType::parse("gpt-4o-mini").unwrap();
    let now = chrono::Utc::now();
    store
        .grant_quota(
            &who,
            5,
            std::slice::from_ref(&model),
            "test_grant",
            "r1",
            now,
        )
        .await
        .unwrap();
    let long_ago = now
        - chrono::Duration::from_std(interrupted_chats::MAX_CALL).unwrap()
        - chrono::Duration::minutes(1);
    let spend = |at| store.spend(&who, &model, Price::ONE, None, at);
    let (Spend::Spent(stale), Spend::Spent(live)) =
        (spend(long_ago).await.unwrap(), spend(now).await.unwrap())
    else {
        panic!("both spends go through");
    };

    // The server's own sweep may have run meanwhile: judge by the rows, then by a round
    // that must find nothing left.
    interrupted_chats::round(&app.state.shop).await.unwrap();
    let rows = store.usage_of(&who, 10).await.unwrap();
    let status = |id| rows.iter().find(|r| r.id == id).unwrap().status;
    assert_eq!(status(stale), UsageStatus::Failed);
    assert_eq!(
        status(live),
        UsageStatus::Started,
        "a call in progress is left alone"
    );
}
