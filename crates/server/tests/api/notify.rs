//! The notify path under duplicates and attacks: credited once, or not at all.

use crate::helpers::TestApp;
use domain::order::OrderStatus;
use serde_json::Value;
use wechatpay::keys::PrivateKey;
use wechatpay::model::Transaction;
use wechatpay_sandbox::Faults;

/// An order paid at the sandbox whose own notification is dropped, so the test sends it.
async fn paid_but_not_notified(app: &TestApp, user: &str) -> (String, Transaction) {
    app.sandbox.set_faults(Faults {
        drop_notification: 1.0,
        ..Faults::default()
    });
    let order_no = app.place_order_ok(user, "1002").await;
    let transaction = app.sandbox.pay(&order_no, None).unwrap();
    assert_eq!(app.order(&order_no).await.status, OrderStatus::PayWait);
    (order_no, transaction)
}

fn header<'a>(headers: &'a mut [(String, String)], name: &str) -> &'a mut String {
    &mut headers
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .unwrap_or_else(|| panic!("header {name}"))
        .1
}

#[tokio::test]
async fn the_same_notification_five_times_at_once_credits_once() {
    let app = TestApp::spawn().await;
    let user = "oDuplicate";
    let (order_no, transaction) = paid_but_not_notified(&app, user).await;
    let (headers, body) = app.sandbox.build_notification(&transaction);

    let sends = (0..5).map(|_| app.post_notification(&headers, &body));
    let statuses = futures::future::join_all(sends).await;
    assert!(statuses.iter().all(|s| *s == 204), "{statuses:?}");

    let order = app.wait_for_status(&order_no, OrderStatus::Delivered).await;
    assert_eq!(app.ledger_rows(&order_no).await, 1);
    assert_eq!(
        app.quota(user).await,
        (order.quota as i64, order.quota as i64)
    );
    // And a late sixth, after delivery, is a harmless 204 too.
    assert_eq!(app.post_notification(&headers, &body).await, 204);
    assert_eq!(app.ledger_rows(&order_no).await, 1);
}

async fn assert_untouched(app: &TestApp, user: &str, order_no: &str) {
    assert_eq!(app.order(order_no).await.status, OrderStatus::PayWait);
    assert_eq!(app.quota(user).await, (0, 0));
    assert_eq!(app.ledger_rows(order_no).await, 0);
}

#[tokio::test]
async fn forged_expired_and_tampered_notifications_are_refused_with_401() {
    let app = TestApp::spawn().await;
    let user = "oAttacked";
    let (order_no, transaction) = paid_but_not_notified(&app, user).await;
    let (genuine_headers, body) = app.sandbox.build_notification(&transaction);

    // Forged: the same message signed by a key that is not WeChat Pay's.
    let mut forged = genuine_headers.clone();
    let message = wechatpay::verify::response_message(
        &header(&mut forged, "Wechatpay-Timestamp").clone(),
        &header(&mut forged, "Wechatpay-Nonce").clone(),
        body.as_bytes(),
    );
    *header(&mut forged, "Wechatpay-Signature") = PrivateKey::generate().sign_base64(&message);
    assert_eq!(app.post_notification(&forged, &body).await, 401);

    // Expired: genuinely signed, but six minutes old.
    let stale = app
        .sandbox
        .sign(body.as_bytes(), chrono::Utc::now().timestamp() - 360);
    assert_eq!(app.post_notification(&stale, &body).await, 401);

    // Tampered ciphertext, re-signed so only the AEAD tag can catch it.
    let mut envelope: Value = serde_json::from_str(&body).unwrap();
    let ciphertext = envelope["resource"]["ciphertext"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut bytes =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, ciphertext).unwrap();
    bytes[3] ^= 0x20;
    envelope["resource"]["ciphertext"] =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes).into();
    let tampered = envelope.to_string();
    let signed = app
        .sandbox
        .sign(tampered.as_bytes(), chrono::Utc::now().timestamp());
    assert_eq!(app.post_notification(&signed, &tampered).await, 401);

    // A probe (WECHATPAY/SIGNTEST) and a body changed after signing.
    let mut probe = genuine_headers.clone();
    *header(&mut probe, "Wechatpay-Signature") = "WECHATPAY/SIGNTEST/abcdef".into();
    assert_eq!(app.post_notification(&probe, &body).await, 401);
    let altered = body.replacen("TRANSACTION.SUCCESS", "TRANSACTION.SUCCESs", 1);
    assert_eq!(app.post_notification(&genuine_headers, &altered).await, 401);

    assert_untouched(&app, user, &order_no).await;
    // The genuine one still works afterwards.
    assert_eq!(app.post_notification(&genuine_headers, &body).await, 204);
    app.wait_for_status(&order_no, OrderStatus::Delivered).await;
}

#[tokio::test]
async fn a_genuine_paid_notification_without_an_id_or_an_amount_is_refused_with_400_and_changes_nothing()
 {
    type Break = fn(&mut Transaction);
    let cases: [(&str, Break); 3] = [
        ("no amount", |t| t.amount = None),
        ("a negative amount", |t| {
            t.amount.as_mut().unwrap().total = Some(-1)
        }),
        ("no transaction id", |t| t.transaction_id = None),
    ];
    let app = TestApp::spawn().await;
    let user = "oBrokenProtocol";
    let (order_no, transaction) = paid_but_not_notified(&app, user).await;
    for (what, broken) in cases {
        let mut sent = transaction.clone();
        broken(&mut sent);
        let (headers, body) = app.sandbox.build_notification(&sent);
        assert_eq!(app.post_notification(&headers, &body).await, 400, "{what}");
    }
    assert_untouched(&app, user, &order_no).await;
}

#[tokio::test]
async fn a_payment_that_does_not_match_its_order_goes_to_review_and_is_never_delivered() {
    type Tamper = fn(&mut Transaction);
    let cases: [(&str, Tamper); 4] = [
        ("amount", |t| t.amount.as_mut().unwrap().total = Some(1)),
        ("mchid", |t| t.mchid = "1230000109".into()),
        ("appid", |t| t.appid = "wx0000000000000000".into()),
        ("currency", |t| {
            t.amount.as_mut().unwrap().currency = Some("USD".into())
        }),
    ];
    let app = TestApp::spawn().await;
    for (what, tamper) in cases {
        let user = format!("oMismatch_{what}");
        let (order_no, mut transaction) = paid_but_not_notified(&app, &user).await;
        tamper(&mut transaction);
        let (headers, body) = app.sandbox.build_notification(&transaction);
        assert_eq!(app.post_notification(&headers, &body).await, 204, "{what}");
        let order = app.order(&order_no).await;
        assert_eq!(order.status, OrderStatus::Review, "{what}");
        assert!(
            order.review_reason.as_deref().unwrap().contains(what),
            "{what}: {:?}",
            order.review_reason
        );
        // Repeats change nothing, and even the genuine payment cannot deliver it now.
        assert_eq!(app.post_notification(&headers, &body).await, 204);
        let genuine = app.sandbox.order(&order_no).unwrap();
        let (headers, body) = app.sandbox.build_notification(&genuine);
        assert_eq!(app.post_notification(&headers, &body).await, 204);
        assert_eq!(app.order(&order_no).await.status, OrderStatus::Review);
        assert_eq!(app.quota(&user).await, (0, 0), "{what}");
        assert_eq!(app.ledger_rows(&order_no).await, 0);
    }
}

#[tokio::test]
async fn a_transaction_already_paying_another_order_puts_the_second_in_review_without_retries() {
    let app = TestApp::spawn().await;
    let (first, paid) = paid_but_not_notified(&app, "oSameTxFirst").await;
    let (headers, body) = app.sandbox.build_notification(&paid);
    assert_eq!(app.post_notification(&headers, &body).await, 204);
    app.wait_for_status(&first, OrderStatus::Delivered).await;

    // A validly signed notification for a second order naming the first one's transaction:
    // answered once and for all (204, not a 5xx WeChat would retry), never delivered.
    let user = "oSameTxSecond";
    let (second, mut reused) = paid_but_not_notified(&app, user).await;
    reused.transaction_id = paid.transaction_id.clone();
    let (headers, body) = app.sandbox.build_notification(&reused);
    assert_eq!(app.post_notification(&headers, &body).await, 204);
    let order = app.order(&second).await;
    assert_eq!(order.status, OrderStatus::Review);
    let reason = order.review_reason.unwrap_or_default();
    let taken = paid.transaction_id.unwrap();
    assert!(reason.contains(&taken), "{reason}");
    assert_eq!(app.quota(user).await, (0, 0));
    assert_eq!(app.ledger_rows(&second).await, 0);
    let kept = app.order(&first).await.transaction_id;
    assert_eq!(kept.as_ref().map(|t| t.as_str()), Some(taken.as_str()));
}

#[tokio::test]
async fn a_verified_payment_for_no_order_of_ours_is_kept_and_answered_so_wechat_stops() {
    let app = TestApp::spawn_with(|s| {
        s.admin.token = chatmall::config::Secret::from("admin-secret-0123".to_owned())
    })
    .await;
    // WeChat reports a payment of an order this database never had (a restored backup's).
    let (_, mut transaction) = paid_but_not_notified(&app, "oLostOrder").await;
    transaction.out_trade_no = "2026010100000000099999".into();
    transaction.transaction_id = Some("4200009999202601010000000001".into());
    transaction.other.insert(
        "promotion_detail".into(),
        serde_json::json!([{"amount": 1}]),
    );
    let (headers, body) = app.sandbox.build_notification(&transaction);
    assert_eq!(app.post_notification(&headers, &body).await, 204);
    // WeChat may still send it again: answered the same, kept once.
    let (headers, body) = app.sandbox.build_notification(&transaction);
    assert_eq!(app.post_notification(&headers, &body).await, 204);

    let (status, listed) = TestApp::send(
        app.http
            .get(format!("{}/api/v1/admin/unmatched_payments", app.base_url))
            .bearer_auth("admin-secret-0123"),
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    let rows = listed["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{listed}");
    let row = &rows[0];
    assert_eq!(row["outTradeNo"], "2026010100000000099999");
    assert_eq!(row["transactionId"], "4200009999202601010000000001");
    assert_eq!(
        row["totalFen"],
        transaction.amount.as_ref().unwrap().total.unwrap()
    );
    assert_eq!(row["source"], "notify");
    assert_eq!(row["timesSeen"], 2);
    // The whole decrypted transaction is kept, fields this client does not model too.
    assert_eq!(row["resource"]["promotion_detail"][0]["amount"], 1);
    assert_eq!(row["resource"]["trade_state"], "SUCCESS");
    // Nobody was credited.
    assert_eq!(app.quota("oLostOrder").await, (0, 0));
}
