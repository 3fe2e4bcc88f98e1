//! Refunds over real HTTP against the sandbox (issue 14 §1): an operator pays money back on
//! a delivered order, in part and in full; the refund's notification, its loss, a lost
//! answer, a lost request, duplicates, ABNORMAL and CLOSED each end where they should,
//! with the quota taken back once (and given back when the refund does not happen).

use crate::helpers::{DEADLINE, TestApp};
use chatmall::config::Secret;
use domain::order::OrderStatus;
use serde_json::{Value, json};
use std::time::Duration;
use wechatpay_sandbox::Faults;

const ADMIN: &str = "operator-token-refunds";

/// A server whose refund job looks at any open refund every 100 ms.
async fn app() -> TestApp {
    TestApp::spawn_with(|s| {
        s.admin.token = Secret::from(ADMIN.to_owned());
        s.jobs.refund_check_delay_secs = 0;
        s.jobs.refund_check_interval_ms = 100;
    })
    .await
}

/// A delivered order of product 1002 (100 quota for 990 fen) for `user`.
async fn delivered(app: &TestApp, user: &str) -> String {
    let order_no = app.place_order_ok(user, "1002").await;
    app.sandbox.pay(&order_no, None).unwrap();
    app.wait_for_status(&order_no, OrderStatus::Delivered).await;
    order_no
}

async fn refund(app: &TestApp, order_no: &str, body: Value) -> (u16, Value) {
    TestApp::send(
        app.http
            .post(format!(
                "{}/api/v1/admin/orders/{order_no}/refunds",
                app.base_url
            ))
            .bearer_auth(ADMIN)
            .json(&body),
    )
    .await
}

async fn admin_order(app: &TestApp, order_no: &str) -> Value {
    let (status, body) = TestApp::send(
        app.http
            .get(format!("{}/api/v1/admin/orders/{order_no}", app.base_url))
            .bearer_auth(ADMIN),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

/// Waits (with a deadline) until refund `refund_no` of the order is in `status`.
async fn wait_for_refund(app: &TestApp, order_no: &str, refund_no: &str, status: &str) -> Value {
    let started = tokio::time::Instant::now();
    loop {
        let order = admin_order(app, order_no).await;
        let found = order["refunds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["refundNo"] == refund_no)
            .cloned()
            .expect("the refund is listed");
        if found["status"] == status {
            return found;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "refund {refund_no} is {} after {DEADLINE:?}, expected {status}",
            found["status"]
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ask(fen: u64) -> Value {
    json!({"amountFen": fen, "reason": "用户申请退款"})
}

#[tokio::test]
async fn a_delivered_order_is_refunded_in_part_then_in_full() {
    let app = app().await;
    let user = "oRefundedBuyer";
    let order_no = delivered(&app, user).await;

    let (status, body) = refund(&app, &order_no, ask(495)).await;
    assert_eq!(status, 200, "{body}");
    let first = &body["data"];
    assert_eq!(first["refundNo"], format!("{order_no}R01"));
    assert_eq!(first["status"], "PROCESSING");
    assert_eq!(
        (first["quotaBack"].as_u64(), first["forced"].as_bool()),
        (Some(50), Some(false))
    );
    // Taken back when asked for, so it cannot be spent meanwhile.
    assert_eq!(app.quota(user).await, (50, 50));

    let done = wait_for_refund(&app, &order_no, &format!("{order_no}R01"), "SUCCESS").await;
    assert!(
        done["channelRefundId"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert_eq!(
        done["channelReport"]["refund_status"], "SUCCESS",
        "the verified report is kept"
    );
    let order = admin_order(&app, &order_no).await;
    assert_eq!(
        (order["status"].as_str(), order["refundedFen"].as_u64()),
        (Some("PARTLY_REFUNDED"), Some(495))
    );

    // More than is left, or more than the unused quota is worth, is refused unforced.
    let (status, body) = refund(&app, &order_no, ask(496)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("0001")),
        "{body}"
    );
    let (status, body) = refund(&app, &order_no, ask(495)).await;
    assert_eq!(status, 200, "{body}");
    wait_for_refund(&app, &order_no, &format!("{order_no}R02"), "SUCCESS").await;
    assert_eq!(
        app.wait_for_status(&order_no, OrderStatus::Refunded)
            .await
            .status,
        OrderStatus::Refunded
    );
    assert_eq!(app.quota(user).await, (0, 0));
    let (_, mine) = app
        .get(user, &format!("/sale/query_order?orderId={order_no}"))
        .await;
    assert_eq!(mine["data"]["status"], "REFUNDED");
    let (status, _) = refund(&app, &order_no, ask(1)).await;
    assert_eq!(status, 422, "nothing is left to refund");

    // The order's history: every move once, with what caused it (the refunds settled by
    // WeChat's notification or the refund job's query, whichever came first).
    let order = admin_order(&app, &order_no).await;
    let history = order["history"].as_array().expect("a history");
    let order_moves: Vec<(&str, &str)> = history
        .iter()
        .filter(|e| e["refundNo"].is_null())
        .map(|e| {
            (
                e["transition"].as_str().unwrap(),
                e["cause"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order_moves.iter().map(|m| m.0).collect::<Vec<_>>(),
        ["prepay", "pay", "deliver", "refund part", "refund all"],
        "{history:#?}"
    );
    assert_eq!(order_moves[0].1, "buyer");
    assert!(
        order_moves[1].1.starts_with("notification:"),
        "{history:#?}"
    );
    assert_eq!(order_moves[2].1, "job:delivery");
    let paid = &history[1];
    assert_eq!(paid["to"], "PAID");
    assert_eq!(
        paid["detail"]["out_trade_no"],
        order_no.as_str(),
        "the payment as WeChat reported it"
    );
    let first_refund: Vec<&Value> = history
        .iter()
        .filter(|e| e["refundNo"] == format!("{order_no}R01").as_str())
        .collect();
    assert_eq!(first_refund[0]["transition"], "open");
    assert_eq!(first_refund[0]["cause"], "operator:admin-token");
    assert_eq!(first_refund.last().unwrap()["to"], "SUCCESS");
}

#[tokio::test]
async fn a_review_is_resolved_by_paying_the_whole_payment_back_and_nothing_is_ever_credited() {
    let app = app().await;
    let user = "oReviewedBuyer";
    let order_no = app
        .under_review(user, |t| t.mchid = "1230000109".into())
        .await;
    let order = admin_order(&app, &order_no).await;
    assert_eq!(order["reviewPaidFen"], 990, "{order:#}");
    let review = order["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(review["to"], "REVIEW");
    assert_eq!(
        review["detail"]["payment"]["mchid"], "1230000109",
        "the payment under review is kept as WeChat reported it"
    );

    // A part would leave money that is neither the shop's nor the payer's: refused.
    let (status, body) = refund(&app, &order_no, ask(495)).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("0001")));
    assert!(body["info"].as_str().unwrap().contains("990 fen"), "{body}");

    let (status, body) = refund(&app, &order_no, ask(990)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["quotaBack"], 0);
    let (status, _) = refund(&app, &order_no, ask(990)).await;
    assert_eq!(status, 422, "one refund of a review at a time");
    wait_for_refund(&app, &order_no, &format!("{order_no}R01"), "SUCCESS").await;
    app.wait_for_status(&order_no, OrderStatus::Refunded).await;
    assert_eq!(app.quota(user).await, (0, 0));
    assert_eq!(
        app.ledger_rows(&order_no).await,
        0,
        "no quota moved either way"
    );

    let order = admin_order(&app, &order_no).await;
    let moves: Vec<&str> = order["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["refundNo"].is_null())
        .map(|e| e["transition"].as_str().unwrap())
        .collect();
    assert_eq!(moves, ["prepay", "review", "refund review"], "{order:#}");
    let (status, _) = refund(&app, &order_no, ask(990)).await;
    assert_eq!(status, 422, "a resolved review is final");
}

#[tokio::test]
async fn a_forced_refund_takes_back_what_the_balance_holds_and_never_below_zero() {
    let app = app().await;
    let user = "oSpentMost";
    let order_no = delivered(&app, user).await;
    // 80 of the 100 spent (as chat calls would): 20 unused, worth 198 fen.
    use sea_orm::ConnectionTrait;
    app.state
        .shop
        .store()
        .db()
        .execute_unprepared(&format!(
            "UPDATE accounts SET surplus_quota = 20 WHERE user_id = '{user}'"
        ))
        .await
        .unwrap();
    let (status, body) = refund(&app, &order_no, ask(199)).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["info"].as_str().unwrap().contains("at most 198 fen"),
        "{body}"
    );

    let (status, body) = refund(
        &app,
        &order_no,
        json!({"amountFen": 990, "reason": "服务故障，全额退款", "force": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["data"]["quotaBack"].as_u64(),
            body["data"]["forced"].as_bool()
        ),
        (Some(20), Some(true))
    );
    assert_eq!(app.quota(user).await, (80, 0));
    app.wait_for_status(&order_no, OrderStatus::Refunded).await;
}

#[tokio::test]
async fn a_refund_whose_notification_is_lost_or_answer_lost_or_request_lost_still_completes() {
    let app = app().await;
    let order_no = delivered(&app, "oLostNotice").await;
    app.sandbox.set_faults(Faults {
        drop_notification: 1.0,
        ..Faults::default()
    });
    let (_, body) = refund(&app, &order_no, ask(100)).await;
    let no = body["data"]["refundNo"].as_str().unwrap().to_owned();
    wait_for_refund(&app, &order_no, &no, "SUCCESS").await;

    // The answer is lost: REQUESTED here, made at WeChat; the job's query finds it.
    app.sandbox.set_faults(Faults {
        refund_answer_lost: 1.0,
        ..Faults::default()
    });
    let (status, body) = refund(&app, &order_no, ask(100)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "REQUESTED");
    assert!(body["data"]["toDo"].as_str().is_some());
    let no = body["data"]["refundNo"].as_str().unwrap().to_owned();
    wait_for_refund(&app, &order_no, &no, "SUCCESS").await;

    // The request is lost (WeChat never made it): the job finds nothing and sends it
    // again, with the same number, once WeChat answers again.
    app.sandbox.set_faults(Faults {
        refund_error: 1.0,
        ..Faults::default()
    });
    let (_, body) = refund(&app, &order_no, ask(100)).await;
    assert_eq!(body["data"]["status"], "REQUESTED");
    let no = body["data"]["refundNo"].as_str().unwrap().to_owned();
    app.sandbox.set_faults(Faults::default());
    wait_for_refund(&app, &order_no, &no, "SUCCESS").await;
    let order = admin_order(&app, &order_no).await;
    assert_eq!(order["refundedFen"], 300);
    assert_eq!(app.quota("oLostNotice").await.1, 100 - 3 * 11);
}

#[tokio::test]
async fn duplicated_notifications_move_a_refund_once() {
    let app = app().await;
    let order_no = delivered(&app, "oTwiceTold").await;
    app.sandbox.set_faults(Faults {
        duplicate_notification: 1.0,
        ..Faults::default()
    });
    let (_, body) = refund(&app, &order_no, ask(990)).await;
    let no = body["data"]["refundNo"].as_str().unwrap().to_owned();
    wait_for_refund(&app, &order_no, &no, "SUCCESS").await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while app
        .sandbox
        .notifications()
        .iter()
        .filter(|n| n.event_type == "REFUND.SUCCESS" && n.out_trade_no == order_no)
        .filter(|n| {
            matches!(
                n.outcome,
                wechatpay_sandbox::DeliveryOutcome::Delivered { .. }
            )
        })
        .count()
        < 2
    {
        assert!(tokio::time::Instant::now() < deadline, "both copies arrive");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let order = admin_order(&app, &order_no).await;
    assert_eq!(
        (order["status"].as_str(), order["refundedFen"].as_u64()),
        (Some("REFUNDED"), Some(990))
    );
    assert_eq!(app.quota("oTwiceTold").await, (0, 0));
}

#[tokio::test]
async fn an_abnormal_refund_is_listed_for_the_operator_and_a_closed_one_gives_the_quota_back() {
    let app = app().await;
    let user = "oOddRefunds";
    let order_no = delivered(&app, user).await;
    app.sandbox.set_faults(Faults {
        refund_abnormal: 1.0,
        ..Faults::default()
    });
    let (_, body) = refund(&app, &order_no, ask(99)).await;
    let abnormal = body["data"]["refundNo"].as_str().unwrap().to_owned();
    wait_for_refund(&app, &order_no, &abnormal, "ABNORMAL").await;
    assert_eq!(app.quota(user).await.1, 90, "the quota stays taken back");
    let (status, listed) = TestApp::send(
        app.http
            .get(format!(
                "{}/api/v1/admin/refunds?status=ABNORMAL",
                app.base_url
            ))
            .bearer_auth(ADMIN),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(listed["data"][0]["refundNo"], abnormal.as_str());
    assert!(
        listed["data"][0]["toDo"]
            .as_str()
            .unwrap()
            .contains("another way")
    );

    app.sandbox.set_faults(Faults {
        refund_closed: 1.0,
        ..Faults::default()
    });
    let (_, body) = refund(&app, &order_no, ask(99)).await;
    let closed = body["data"]["refundNo"].as_str().unwrap().to_owned();
    wait_for_refund(&app, &order_no, &closed, "CLOSED").await;
    assert_eq!(
        app.quota(user).await.1,
        90,
        "a closed refund's quota came back"
    );
    let order = admin_order(&app, &order_no).await;
    assert_eq!(
        (order["status"].as_str(), order["refundedFen"].as_u64()),
        (Some("DELIVERED"), Some(0))
    );
}

#[tokio::test]
async fn refunds_need_the_admin_token_a_delivered_order_and_a_sound_body() {
    let app = app().await;
    let order_no = delivered(&app, "oAskedBadly").await;
    let no_token = app
        .http
        .post(format!(
            "{}/api/v1/admin/orders/{order_no}/refunds",
            app.base_url
        ))
        .json(&ask(1))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    for (body, status) in [
        (json!({"amountFen": 0, "reason": "x"}), 400),
        (json!({"amountFen": 1, "reason": ""}), 400),
        (json!({"amountFen": -1, "reason": "x"}), 400),
        (json!({"amountFen": 1}), 400),
        (json!({"amountFen": 1, "reason": "x", "extra": 1}), 400),
    ] {
        let (got, answer) = refund(&app, &order_no, body.clone()).await;
        assert_eq!(got, status, "{body} → {answer}");
        assert_eq!(answer["code"], "0002");
    }
    let (status, _) = refund(&app, "20990101000000000000000", ask(1)).await;
    assert_eq!(status, 404);
    let unpaid = app.place_order_ok("oAskedBadly", "1001").await;
    let (status, body) = refund(&app, &unpaid, ask(1)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        admin_order(&app, &order_no).await["refunds"],
        json!([]),
        "nothing was stored"
    );
    assert_eq!(app.quota("oAskedBadly").await, (100, 100));
}
