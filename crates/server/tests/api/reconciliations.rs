//! Reconciliation against the sandbox's trade bill over HTTP (issue 14 §3): a clean day
//! agrees; a payment whose notification was lost is confirmed and delivered once; a row
//! left out, an amount changed and a corrupted hash are each reported, never ignored.

use crate::helpers::TestApp;
use chatmall::config::Secret;
use domain::order::OrderStatus;
use serde_json::{Value, json};
use wechatpay_sandbox::Faults;

const ADMIN: &str = "operator-token-books";

async fn app() -> TestApp {
    TestApp::spawn_with(|s| {
        s.admin.token = Secret::from(ADMIN.to_owned());
        // Only reconciliation may find a lost payment here.
        s.jobs.missed_payment_delay_secs = 3_600;
        s.jobs.refund_check_delay_secs = 0;
        s.jobs.refund_check_interval_ms = 100;
    })
    .await
}

fn today() -> String {
    domain::reconciliation::beijing_date(chrono::Utc::now()).to_string()
}

async fn reconcile(app: &TestApp, date: &str) -> (u16, Value) {
    TestApp::send(
        app.http
            .post(format!("{}/api/v1/admin/reconciliations", app.base_url))
            .bearer_auth(ADMIN)
            .json(&json!({ "date": date })),
    )
    .await
}

async fn stored(app: &TestApp, date: &str) -> (u16, Value) {
    TestApp::send(
        app.http
            .get(format!(
                "{}/api/v1/admin/reconciliations/{date}",
                app.base_url
            ))
            .bearer_auth(ADMIN),
    )
    .await
}

async fn delivered(app: &TestApp, user: &str, product: &str) -> String {
    let order_no = app.place_order_ok(user, product).await;
    app.sandbox.pay(&order_no, None).unwrap();
    app.wait_for_status(&order_no, OrderStatus::Delivered).await;
    order_no
}

fn kinds(report: &Value) -> Vec<String> {
    report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_clean_day_agrees_with_the_bill_refunds_included() {
    let app = app().await;
    let first = delivered(&app, "oBooks1", "1001").await;
    delivered(&app, "oBooks2", "1002").await;
    delivered(&app, "oBooks3", "1002").await;
    let _unpaid = app.place_order_ok("oBooks4", "1003").await;
    let (status, body) = TestApp::send(
        app.http
            .post(format!(
                "{}/api/v1/admin/orders/{first}/refunds",
                app.base_url
            ))
            .bearer_auth(ADMIN)
            .json(&json!({"amountFen": 50, "reason": "对账测试"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = reconcile(&app, &today()).await;
    assert_eq!(status, 200, "{body}");
    let report = &body["data"];
    assert_eq!(report["agrees"], true, "{report}");
    assert_eq!(kinds(report), Vec::<String>::new());
    assert_eq!(
        (
            report["billPayments"].as_u64(),
            report["ourPayments"].as_u64()
        ),
        (Some(3), Some(3))
    );
    assert_eq!(
        (
            report["billPaidFen"].as_i64(),
            report["ourPaidFen"].as_i64()
        ),
        (Some(99 + 990 + 990), Some(99 + 990 + 990))
    );
    assert_eq!(
        (
            report["billRefunds"].as_u64(),
            report["billRefundedFen"].as_i64()
        ),
        (Some(1), Some(50))
    );
    assert_eq!(report["ourRefundedFen"], 50);
    // Stored, and served as stored.
    let (status, again) = stored(&app, &today()).await;
    assert_eq!(status, 200);
    assert_eq!(again["data"]["billPaidFen"], report["billPaidFen"]);
    assert_eq!(again["data"]["runAt"], report["runAt"]);
}

#[tokio::test]
async fn a_payment_only_wechat_knew_is_confirmed_and_delivered_once() {
    let app = app().await;
    app.sandbox.set_faults(Faults {
        drop_notification: 1.0,
        ..Faults::default()
    });
    let user = "oBooksLost";
    let order_no = app.place_order_ok(user, "1002").await;
    app.sandbox.pay(&order_no, None).unwrap();
    assert_eq!(app.order(&order_no).await.status, OrderStatus::PayWait);

    let (status, body) = reconcile(&app, &today()).await;
    assert_eq!(status, 200, "{body}");
    let report = &body["data"];
    assert_eq!(report["confirmed"], 1, "{report}");
    assert_eq!(kinds(report), vec!["paid_there_not_here"]);
    assert_eq!(
        report["differences"][0]["action"],
        "confirmed through the normal path"
    );
    assert_eq!(
        report["agrees"], true,
        "what was fixed is not left for an operator"
    );
    app.wait_for_status(&order_no, OrderStatus::Delivered).await;
    assert_eq!(app.quota(user).await, (100, 100));

    // Again: nothing left to confirm, and still one credit.
    let (_, body) = reconcile(&app, &today()).await;
    assert_eq!(
        (
            body["data"]["confirmed"].as_u64(),
            body["data"]["agrees"].as_bool()
        ),
        (Some(0), Some(true))
    );
    assert_eq!(app.ledger_rows(&order_no).await, 1);
}

#[tokio::test]
async fn a_row_left_out_or_an_amount_changed_is_listed_and_a_corrupt_hash_refused() {
    let app = app().await;
    let left_out = delivered(&app, "oBooksOut", "1001").await;
    let changed = delivered(&app, "oBooksChanged", "1002").await;

    app.sandbox.set_faults(Faults {
        bill_leave_out: Some(left_out.clone()),
        bill_change_amount: Some(changed.clone()),
        ..Faults::default()
    });
    let (status, body) = reconcile(&app, &today()).await;
    assert_eq!(status, 200, "{body}");
    let report = &body["data"];
    assert_eq!(report["agrees"], false);
    let mut found = kinds(report);
    found.sort();
    assert_eq!(
        found,
        vec!["amount_differs", "missing_there", "totals_differ"],
        "{report}"
    );
    let missing = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "missing_there")
        .unwrap();
    assert_eq!(missing["orderId"], left_out.as_str());
    assert_eq!(missing["action"], "listed for an operator");

    // A bill whose SHA1 is not its file's is refused: nothing is compared or stored anew.
    app.sandbox.set_faults(Faults {
        bill_corrupt_hash: true,
        ..Faults::default()
    });
    let (status, body) = reconcile(&app, &today()).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["info"].as_str().unwrap().contains("SHA1"), "{body}");
    let (_, kept) = stored(&app, &today()).await;
    assert_eq!(kept["data"]["agrees"], false, "the earlier report stands");
}

#[tokio::test]
async fn reconciliation_needs_the_admin_token_and_a_past_or_present_day() {
    let app = app().await;
    let no_token = app
        .http
        .post(format!("{}/api/v1/admin/reconciliations", app.base_url))
        .json(&json!({"date": today()}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    for bad in ["2026-13-01", "yesterday", "2099-01-01"] {
        let (status, body) = reconcile(&app, bad).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("0002")),
            "{bad}: {body}"
        );
    }
    let (status, _) = stored(&app, "2020-01-01").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_daily_job_reconciles_yesterday_once_its_bill_is_ready() {
    let app = TestApp::spawn_with(|s| {
        s.admin.token = Secret::from(ADMIN.to_owned());
        s.jobs.reconciliation_interval_ms = 100;
    })
    .await;
    let order_no = delivered(&app, "oBooksDaily", "1002").await;
    let day = today();
    // The server's clock moves to 10:30 the next day, Beijing time: the bill of the day of
    // the payment is ready, and the job takes that day as yesterday.
    let next_morning =
        chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d").unwrap() + chrono::Duration::days(1);
    let at = next_morning
        .and_hms_opt(10, 30, 0)
        .unwrap()
        .and_local_timezone(chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    app.clock.advance(at - chrono::Utc::now());
    let started = tokio::time::Instant::now();
    let report = loop {
        let (status, body) = stored(&app, &day).await;
        if status == 200 {
            break body["data"].clone();
        }
        assert!(
            started.elapsed() < crate::helpers::DEADLINE,
            "the job did not reconcile {day}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(report["agrees"], true, "{report}");
    assert_eq!(report["billPayments"], 1);
    assert_eq!(report["ourPaidFen"], 990);
    assert_eq!(app.ledger_rows(&order_no).await, 1);
}
