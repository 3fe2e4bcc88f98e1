//! Checkout and the whole purchase, through the original contract.

use crate::helpers::TestApp;
use domain::order::OrderStatus;
use wechatpay_sandbox::{Faults, TimeoutMode};

#[tokio::test]
async fn a_user_buys_a_package_pays_by_qr_and_gets_the_quota_once() {
    let app = TestApp::spawn().await;
    let user = "oBuyer_happy_path";

    let (status, products) = app.get(user, "/sale/query_product_list").await;
    assert_eq!(status, 200);
    assert_eq!(products["code"], "0000");
    let product = &products["data"][1];
    let (product_id, quota) = (
        product["productId"].to_string(),
        product["quota"].as_i64().unwrap(),
    );
    assert!(product["price"].is_number(), "{product}");

    let (status, created) = app.create_pay_order(user, &product_id).await;
    assert_eq!(status, 200, "{created}");
    let code_url = created["data"].as_str().unwrap();
    assert!(
        code_url.starts_with("weixin://wxpay/bizpayurl?pr="),
        "{code_url}"
    );

    let (_, list) = app.get(user, "/sale/query_order_list").await;
    let order_no = list["data"][0]["orderId"].as_str().unwrap().to_owned();
    assert_eq!(list["data"][0]["status"], "PAY_WAIT");
    assert_eq!(list["data"][0]["codeUrl"], code_url);

    app.sandbox
        .pay(&order_no, None)
        .expect("the sandbox takes the payment");
    let order = app.wait_for_status(&order_no, OrderStatus::Delivered).await;
    assert!(order.transaction_id.is_some() && order.paid_at.is_some());

    assert_eq!(app.quota(user).await, (quota, quota));
    assert_eq!(app.ledger_rows(&order_no).await, 1);
    let (_, account) = app.get(user, "/account/query").await;
    assert_eq!(account["data"]["surplusQuota"], quota);
    let (_, shown) = app
        .get(user, &format!("/sale/query_order?orderId={order_no}"))
        .await;
    assert_eq!(shown["data"]["status"], "DELIVERED");
    assert!(shown["data"]["codeUrl"].is_null());
}

#[tokio::test]
async fn a_second_checkout_returns_the_same_live_qr_code() {
    let app = TestApp::spawn().await;
    let first = app.place_order("oRepeat", "1001").await.1;
    let again = app.place_order("oRepeat", "1001").await.1;
    assert_eq!(first["data"]["orderId"], again["data"]["orderId"]);
    assert_eq!(first["data"]["codeUrl"], again["data"]["codeUrl"]);
    assert_eq!(again["data"]["reused"], true);
    // Another product is another order.
    let other = app.place_order("oRepeat", "1002").await.1;
    assert_ne!(first["data"]["orderId"], other["data"]["orderId"]);
}

#[tokio::test]
async fn a_prepay_timeout_leaves_a_created_order_that_the_next_checkout_reuses() {
    for mode in [TimeoutMode::BeforeCreate, TimeoutMode::AfterCreate] {
        let app = TestApp::spawn_with(|s| s.wechatpay.timeout_ms = 300).await;
        app.sandbox.set_faults(Faults {
            prepay_timeout: 1.0,
            prepay_timeout_mode: mode,
            prepay_timeout_ms: 3_000,
            ..Faults::default()
        });
        let user = "oTimeout";
        let (status, body) = app.place_order(user, "1001").await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["code"], "0001");
        assert!(
            body["info"]
                .as_str()
                .unwrap()
                .contains("did not answer in time"),
            "{body}"
        );

        let (_, list) = app.get(user, "/sale/query_order_list").await;
        assert_eq!(list["data"].as_array().unwrap().len(), 1);
        let leftover = list["data"][0]["orderId"].as_str().unwrap().to_owned();
        assert_eq!(app.order(&leftover).await.status, OrderStatus::Created);

        app.sandbox.set_faults(Faults::default());
        let (status, body) = app.place_order(user, "1001").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["data"]["orderId"],
            leftover.as_str(),
            "the leftover order is re-used ({mode:?})"
        );
        assert_eq!(body["data"]["reused"], true);
        let order = app.order(&leftover).await;
        assert_eq!(order.status, OrderStatus::PayWait);
        assert_eq!(order.prepay_attempts, 2);

        app.sandbox.pay(&leftover, None).unwrap();
        app.wait_for_status(&leftover, OrderStatus::Delivered).await;
    }
}

#[tokio::test]
async fn a_failed_or_unsigned_prepay_answer_is_reported_as_what_it_was() {
    let app = TestApp::spawn().await;
    app.sandbox.set_faults(Faults {
        prepay_error: 1.0,
        ..Faults::default()
    });
    let (status, body) = app.place_order("oFailed", "1001").await;
    assert_eq!(status, 503, "{body}");
    let info = body["info"].as_str().unwrap();
    assert!(info.contains("failed (HTTP 500 SYSTEM_ERROR)"), "{info}");
    assert!(info.contains("unknown"), "{info}");
    assert!(!info.contains("in time"), "{info}");

    // The same error with a signature that does not verify: nothing of it is trusted.
    app.sandbox.corrupt_next_response_signature();
    let (status, body) = app.place_order("oFailed", "1001").await;
    assert_eq!(status, 503, "{body}");
    let info = body["info"].as_str().unwrap();
    assert!(
        info.contains("answered HTTP 500 without a valid WeChat Pay signature"),
        "{info}"
    );
    assert!(!info.contains("SYSTEM_ERROR"), "{info}");

    // Both left one order to retry; once WeChat answers, it is the same order.
    app.sandbox.set_faults(Faults::default());
    let (status, body) = app.place_order("oFailed", "1001").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["reused"], true, "{body}");
}

#[tokio::test]
async fn bad_input_gets_the_contract_envelope_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (status, body) = app.place_order("oBad", "abc").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("0002")),
        "{body}"
    );
    let (status, body) = app.place_order("oBad", "999999").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("0002")),
        "{body}"
    );
    let (status, body) = app.get("oBad", "/sale/query_order?orderId=nope").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("0002")),
        "{body}"
    );

    let response = app
        .http
        .post(format!("{}/api/v1/sale/create_pay_order", app.base_url))
        .header("Authorization", "Bearer not-a-token")
        .form(&[("productId", "1001")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "0003");

    let (_, list) = app.get("oBad", "/sale/query_order_list").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn one_users_order_is_invisible_to_another() {
    let app = TestApp::spawn().await;
    let order_no = app.place_order_ok("oOwner", "1001").await;
    let (status, body) = app
        .get(
            "oSomeoneElse",
            &format!("/sale/query_order?orderId={order_no}"),
        )
        .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn purchases_still_work_after_the_server_restarts_on_the_same_data() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_path_buf();
    let mut delivered = Vec::new();
    for round in 0..2 {
        let dir = dir.clone();
        let app = TestApp::spawn_with(move |s| s.server.data_dir = dir).await;
        let user = format!("oRestart{round}");
        let order_no = app.place_order_ok(&user, "1001").await;
        app.sandbox.pay(&order_no, None).unwrap();
        let order = app.wait_for_status(&order_no, OrderStatus::Delivered).await;
        delivered.push(order.transaction_id.unwrap());
    }
    assert_ne!(
        delivered[0], delivered[1],
        "the embedded sandbox must not reissue transaction ids after a restart"
    );
}
