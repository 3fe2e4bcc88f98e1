//! The operators' console over real HTTP (issue 15 §1): accounts with roles, login under
//! failure limits, session cookies, CSRF on every state-changing request, and the audit
//! log of every action — through the console's forms and the admin API alike.

use crate::helpers::TestApp;
use chatmall::config::Secret;
use domain::operator::{OperatorName, Password, Role};
use domain::order::OrderStatus;
use serde_json::{Value, json};

const TOKEN: &str = "operator-token-console";
const PASSWORD: &str = "a long operator password";

async fn app() -> TestApp {
    app_with(|_| {}).await
}

async fn app_with(adjust: impl FnOnce(&mut chatmall::config::Settings)) -> TestApp {
    TestApp::spawn_with(|s| {
        s.admin.token = Secret::from(TOKEN.to_owned());
        adjust(s);
    })
    .await
}

/// A client that neither follows redirects nor keeps cookies: each test sees every answer.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn create(app: &TestApp, name: &str, role: Role) {
    app.state
        .console
        .save_operator(
            &OperatorName::parse(name).unwrap(),
            role,
            &Password::new(PASSWORD.into()).unwrap(),
            false,
        )
        .await
        .unwrap();
}

/// A logged-in browser: its cookies and the CSRF token its pages carry.
struct Browser {
    cookies: String,
    csrf: String,
    set_cookies: Vec<String>,
}

async fn try_login(app: &TestApp, name: &str, password: &str) -> reqwest::Response {
    client()
        .post(format!("{}/admin/login", app.base_url))
        .form(&[
            ("name", name),
            ("password", password),
            ("next", "/admin/orders"),
        ])
        .send()
        .await
        .unwrap()
}

async fn login(app: &TestApp, name: &str) -> Browser {
    let response = try_login(app, name, PASSWORD).await;
    assert_eq!(
        response.status().as_u16(),
        303,
        "{}",
        response.text().await.unwrap()
    );
    assert_eq!(response.headers()["location"], "/admin/orders");
    let set_cookies: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let pair = |name: &str| {
        set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(|c| c.split(';').next().unwrap().to_owned())
            .unwrap_or_else(|| panic!("cookie {name} in {set_cookies:?}"))
    };
    let session = pair("chatmall_console");
    let csrf = pair("chatmall_csrf");
    Browser {
        cookies: format!("{session}; {csrf}"),
        csrf: csrf.split_once('=').unwrap().1.to_owned(),
        set_cookies,
    }
}

impl Browser {
    async fn get(&self, app: &TestApp, path: &str) -> (u16, String) {
        let response = client()
            .get(format!("{}{path}", app.base_url))
            .header("cookie", &self.cookies)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// POSTs a console form; (status, Location).
    async fn post(&self, app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let response = client()
            .post(format!("{}{path}", app.base_url))
            .header("cookie", &self.cookies)
            .form(form)
            .send()
            .await
            .unwrap();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (response.status().as_u16(), location)
    }
}

async fn delivered(app: &TestApp, user: &str) -> String {
    let order_no = app.place_order_ok(user, "1002").await;
    app.sandbox.pay(&order_no, None).unwrap();
    app.wait_for_status(&order_no, OrderStatus::Delivered).await;
    order_no
}

async fn audit(app: &TestApp) -> Vec<domain::operator::AuditEntry> {
    app.state.console.audit_log(None, 100).await.unwrap()
}

#[tokio::test]
async fn an_operator_logs_in_with_a_strict_http_only_cookie_and_out_again() {
    let app = app().await;
    create(&app, "alice", Role::Admin).await;

    // No session: every console page sends the browser to the login page, and back.
    let response = client()
        .get(format!("{}/admin/orders?q=x", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        response.headers()["location"],
        "/admin/login?next=%2Fadmin%2Forders%3Fq%3Dx"
    );

    let browser = login(&app, "Alice").await;
    for cookie in &browser.set_cookies {
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Strict"), "{cookie}");
        assert!(cookie.contains("Path=/"), "{cookie}");
        // Served over plain HTTP here: a Secure cookie would never come back.
        assert!(!cookie.contains("Secure"), "{cookie}");
        assert!(cookie.contains("Max-Age=43200"), "{cookie}");
    }
    let (status, html) = browser.get(&app, "/admin").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("alice · admin"), "{html}");
    assert_eq!(audit(&app).await[0].action, "login");

    // Logout needs the CSRF token too; then the cookie is worth nothing.
    let (status, _) = browser
        .post(&app, "/admin/logout", &[("csrf", "wrong")])
        .await;
    assert_eq!(status, 403);
    assert_eq!(browser.get(&app, "/admin").await.0, 200, "still logged in");
    let (status, location) = browser
        .post(&app, "/admin/logout", &[("csrf", &browser.csrf)])
        .await;
    assert_eq!((status, location.as_str()), (303, "/admin/login"));
    assert_eq!(browser.get(&app, "/admin").await.0, 303);
    assert_eq!(audit(&app).await[0].action, "logout");
}

#[tokio::test]
async fn a_session_expires_and_a_reset_password_ends_it() {
    let app = app().await;
    create(&app, "bob", Role::Viewer).await;
    let browser = login(&app, "bob").await;
    assert_eq!(browser.get(&app, "/admin").await.0, 200);
    app.clock
        .advance(chrono::Duration::hours(12) + chrono::Duration::seconds(1));
    assert_eq!(browser.get(&app, "/admin").await.0, 303, "expired");

    let browser = login(&app, "bob").await;
    app.state
        .console
        .save_operator(
            &OperatorName::parse("bob").unwrap(),
            Role::Admin,
            &Password::new("another long password".into()).unwrap(),
            true,
        )
        .await
        .unwrap();
    assert_eq!(
        browser.get(&app, "/admin").await.0,
        303,
        "ended by the reset"
    );
    assert_eq!(
        try_login(&app, "bob", PASSWORD).await.status().as_u16(),
        401
    );
    assert_eq!(
        try_login(&app, "bob", "another long password")
            .await
            .status()
            .as_u16(),
        303
    );
}

#[tokio::test]
async fn failed_logins_are_limited_per_account_and_per_address() {
    let app = app_with(|s| {
        s.admin.max_failures_per_account = 3;
        s.admin.max_failures_per_address = 5;
    })
    .await;
    create(&app, "carol", Role::Admin).await;
    create(&app, "dave", Role::Admin).await;

    for _ in 0..3 {
        let response = try_login(&app, "carol", "not the password").await;
        assert_eq!(response.status().as_u16(), 401);
        let html = response.text().await.unwrap();
        // One answer for a wrong name and a wrong password.
        assert!(html.contains("Wrong name or password"), "{html}");
    }
    assert_eq!(
        try_login(&app, "nobody", "not the password")
            .await
            .status()
            .as_u16(),
        401
    );
    // The account is limited now, even with its right password...
    let limited = try_login(&app, "carol", PASSWORD).await;
    assert_eq!(limited.status().as_u16(), 429);
    assert_eq!(limited.headers()["retry-after"], "900");
    // ...while another account still logs in from the same address.
    login(&app, "dave").await;
    // A fifth failure from the address limits every account from it.
    assert_eq!(
        try_login(&app, "dave", "not the password")
            .await
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        try_login(&app, "dave", PASSWORD).await.status().as_u16(),
        429
    );

    // The window passes: the right password works again.
    app.clock.advance(chrono::Duration::seconds(901));
    login(&app, "carol").await;
    assert!(audit(&app).await.iter().all(|e| e.action == "login"));
}

#[tokio::test]
async fn a_viewer_sees_everything_and_changes_nothing() {
    let app = app().await;
    create(&app, "vera", Role::Viewer).await;
    let order_no = delivered(&app, "o_console_viewer").await;
    let browser = login(&app, "vera").await;

    for path in ["/admin", "/admin/orders", "/admin/troubled", "/admin/audit"] {
        let (status, html) = browser.get(&app, path).await;
        assert_eq!(status, 200, "{path}: {html}");
    }
    let (status, html) = browser
        .get(&app, &format!("/admin/orders/{order_no}"))
        .await;
    assert_eq!(status, 200);
    assert!(
        html.contains("viewer-note") && !html.contains("refund-form"),
        "{html}"
    );
    // The dashboard counts the paid order, and draws it.
    let (_, html) = browser.get(&app, "/admin").await;
    assert!(html.contains("id=\"today-paid\"><b>1</b>"), "{html}");
    assert!(html.contains("id=\"today-revenue\"><b>¥9.90</b>"), "{html}");
    assert!(html.contains("id=\"quota-sold\"><b>100</b>"), "{html}");
    assert!(html.contains("<svg id=\"revenue-chart\""), "{html}");

    // With a valid CSRF token, a viewer's form is still refused; so is the admin API.
    let (status, _) = browser
        .post(
            &app,
            &format!("/admin/orders/{order_no}/refund"),
            &[
                ("csrf", &browser.csrf),
                ("amount_fen", "990"),
                ("reason", "test"),
            ],
        )
        .await;
    assert_eq!(status, 403);
    let response = client()
        .post(format!(
            "{}/api/v1/admin/orders/{order_no}/refunds",
            app.base_url
        ))
        .header("cookie", &browser.cookies)
        .header("x-csrf-token", &browser.csrf)
        .json(&json!({"amountFen": 990, "reason": "test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    // Reads of the admin API are a viewer's.
    let response = client()
        .get(format!("{}/api/v1/admin/orders/{order_no}", app.base_url))
        .header("cookie", &browser.cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    assert_eq!(app.order(&order_no).await.status, OrderStatus::Delivered);
    assert!(audit(&app).await.iter().all(|e| e.action == "login"));
}

#[tokio::test]
async fn a_form_or_api_call_without_the_sessions_csrf_token_is_refused() {
    let app = app().await;
    create(&app, "erin", Role::Admin).await;
    let order_no = delivered(&app, "o_console_csrf").await;
    let browser = login(&app, "erin").await;
    let other = login(&app, "erin").await;

    let path = format!("/admin/orders/{order_no}/refund");
    for csrf in ["", "forged", other.csrf.as_str()] {
        let (status, _) = browser
            .post(
                &app,
                &path,
                &[("csrf", csrf), ("amount_fen", "990"), ("reason", "x")],
            )
            .await;
        assert_eq!(status, 403, "csrf {csrf:?}");
    }
    // The admin API through the cookie: a read needs no token, a write does.
    let api = format!("{}/api/v1/admin/reconciliations", app.base_url);
    let body = json!({"date": "2026-12-01"});
    let refused = client()
        .post(&api)
        .header("cookie", &browser.cookies)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    assert_eq!(app.order(&order_no).await.status, OrderStatus::Delivered);
    assert!(audit(&app).await.iter().all(|e| e.action == "login"));

    let accepted = client()
        .post(&api)
        .header("cookie", &browser.cookies)
        .header("x-csrf-token", &browser.csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status().as_u16(), 200);
    let entry = &audit(&app).await[0];
    assert_eq!(
        (entry.actor.as_str(), entry.action.as_str()),
        ("erin", "reconciliation.run")
    );
    assert_eq!(entry.target, "2026-12-01");
    let after: Value = serde_json::from_str(entry.after.as_deref().unwrap()).unwrap();
    assert_eq!(after["date"], "2026-12-01");
}

#[tokio::test]
async fn an_admins_refund_shows_in_the_audit_log_and_the_orders_history() {
    let app = app().await;
    create(&app, "frank", Role::Admin).await;
    let order_no = delivered(&app, "o_console_refund").await;
    let browser = login(&app, "frank").await;

    let (status, html) = browser
        .get(&app, &format!("/admin/orders/{order_no}"))
        .await;
    assert_eq!(status, 200);
    assert!(
        html.contains("refund-form") && !html.contains("recheck-form"),
        "{html}"
    );

    let (status, location) = browser
        .post(
            &app,
            &format!("/admin/orders/{order_no}/refund"),
            &[
                ("csrf", &browser.csrf),
                ("amount_fen", "300"),
                ("reason", "duplicate purchase"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert!(
        location.starts_with(&format!("/admin/orders/{order_no}?done=")),
        "{location}"
    );

    let entry = &audit(&app).await[0];
    assert_eq!(
        (entry.actor.as_str(), entry.action.as_str()),
        ("frank", "refund")
    );
    assert_eq!(entry.target, order_no);
    let before: Value = serde_json::from_str(entry.before.as_deref().unwrap()).unwrap();
    assert_eq!(before["status"], "DELIVERED");
    let after: Value = serde_json::from_str(entry.after.as_deref().unwrap()).unwrap();
    assert_eq!(
        (after["amountFen"].as_u64(), after["requestedBy"].as_str()),
        (Some(300), Some("frank"))
    );

    // The order's page shows the refund and its history names the operator.
    let (_, html) = browser
        .get(&app, &format!("/admin/orders/{order_no}"))
        .await;
    assert!(html.contains("operator:frank"), "{html}");
    assert!(html.contains("duplicate purchase"), "{html}");
    let (_, html) = browser.get(&app, "/admin/audit?actor=frank").await;
    assert!(
        html.contains(&order_no) && html.contains("refund"),
        "{html}"
    );

    // The admin token is its own actor.
    let (status, body) = TestApp::send(
        app.http
            .post(format!(
                "{}/api/v1/admin/orders/{order_no}/refunds",
                app.base_url
            ))
            .bearer_auth(TOKEN)
            .json(&json!({"amountFen": 100, "reason": "goodwill"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let entry = &audit(&app).await[0];
    assert_eq!(
        (entry.actor.as_str(), entry.action.as_str()),
        ("admin-token", "refund")
    );
}

#[tokio::test]
async fn an_admin_resolves_a_review_by_paying_the_whole_payment_back_with_a_reason() {
    let app = app_with(|s| {
        s.jobs.refund_check_delay_secs = 0;
        s.jobs.refund_check_interval_ms = 100;
    })
    .await;
    create(&app, "frank", Role::Admin).await;
    let order_no = app
        .under_review("o_console_review", |t| {
            t.appid = "wx0000000000000000".into()
        })
        .await;
    let browser = login(&app, "frank").await;
    let page = format!("/admin/orders/{order_no}");
    let (status, html) = browser.get(&app, &page).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("review-form") && !html.contains("id=\"refund-form\""),
        "{html}"
    );
    assert!(
        html.contains("¥9.90"),
        "what the payment carried is shown: {html}"
    );

    // No reason, no resolution.
    let form = format!("/admin/orders/{order_no}/refund");
    let (status, _) = browser
        .post(
            &app,
            &form,
            &[("csrf", &browser.csrf), ("amount_fen", "990")],
        )
        .await;
    assert_ne!(status, 303);
    assert_eq!(app.order(&order_no).await.status, OrderStatus::Review);

    let (status, location) = browser
        .post(
            &app,
            &form,
            &[
                ("csrf", &browser.csrf),
                ("amount_fen", "990"),
                ("reason", "paid to the wrong app"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{location}");
    app.wait_for_status(&order_no, OrderStatus::Refunded).await;
    assert_eq!(app.quota("o_console_review").await, (0, 0));
    let entry = &audit(&app).await[0];
    assert_eq!(
        (entry.actor.as_str(), entry.action.as_str()),
        ("frank", "refund")
    );
    let before: Value = serde_json::from_str(entry.before.as_deref().unwrap()).unwrap();
    assert_eq!(before["status"], "REVIEW");
    let (_, html) = browser.get(&app, &page).await;
    assert!(
        html.contains("paid to the wrong app") && html.contains("refund review"),
        "{html}"
    );
}

#[tokio::test]
async fn an_admin_rechecks_an_unpaid_order_at_wechat_from_the_console() {
    // No job would look at the order within the test: only the operator's re-check can.
    let app = app_with(|s| s.jobs.missed_payment_delay_secs = 3_600).await;
    create(&app, "grace", Role::Admin).await;
    let order_no = app.place_order_ok("o_console_recheck", "1002").await;
    // Paid at WeChat, but the notification is lost.
    app.sandbox.set_faults(wechatpay_sandbox::Faults {
        drop_notification: 1.0,
        ..Default::default()
    });
    app.sandbox.pay(&order_no, None).unwrap();
    let browser = login(&app, "grace").await;
    let (status, location) = browser
        .post(
            &app,
            &format!("/admin/orders/{order_no}/recheck"),
            &[("csrf", &browser.csrf)],
        )
        .await;
    assert_eq!(status, 303, "{location}");
    assert!(location.contains("done="), "{location}");
    let order = app.wait_for_status(&order_no, OrderStatus::Delivered).await;
    assert!(order.paid_at.is_some());
    let entry = &audit(&app).await[0];
    assert_eq!(
        (entry.actor.as_str(), entry.action.as_str()),
        ("grace", "order.recheck")
    );
    assert_eq!(entry.before.as_deref(), Some("\"PAY_WAIT\""));
}

#[tokio::test]
async fn an_admin_edits_the_catalog_and_placed_orders_keep_their_price() {
    let app = app().await;
    create(&app, "hank", Role::Admin).await;
    create(&app, "vic", Role::Viewer).await;
    let placed = app.place_order_ok("o_console_catalog", "1002").await;
    let admin = login(&app, "hank").await;
    let viewer = login(&app, "vic").await;

    let edit = [
        ("name", "100 次对话"),
        ("description", "dearer now"),
        ("quota", "100"),
        ("models", "gpt-4o-mini"),
        ("price_fen", "1500"),
        ("sort", "2"),
        ("on_sale", "true"),
    ];
    let with = |csrf: &str| {
        let mut form = vec![("csrf", csrf.to_owned())];
        form.extend(edit.iter().map(|(k, v)| (*k, (*v).to_owned())));
        form
    };
    let as_refs =
        |form: &[(&'static str, String)]| -> Vec<(&'static str, String)> { form.to_vec() };
    let viewer_form = as_refs(&with(&viewer.csrf));
    let refs: Vec<(&str, &str)> = viewer_form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        viewer.post(&app, "/admin/products/1002", &refs).await.0,
        403
    );

    let admin_form = with(&admin.csrf);
    let refs: Vec<(&str, &str)> = admin_form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, location) = admin.post(&app, "/admin/products/1002", &refs).await;
    assert_eq!(status, 303);
    assert!(location.contains("done="), "{location}");

    // The placed order keeps its price; a new one pays the new price.
    assert_eq!(app.order(&placed).await.amount.fen(), 990);
    let newer = app.place_order_ok("o_console_catalog2", "1002").await;
    assert_eq!(app.order(&newer).await.amount.fen(), 1500);
    let entry = &audit(&app).await[0];
    assert_eq!(
        (
            entry.actor.as_str(),
            entry.action.as_str(),
            entry.target.as_str()
        ),
        ("hank", "product.edit", "1002")
    );
    let before: Value = serde_json::from_str(entry.before.as_deref().unwrap()).unwrap();
    let after: Value = serde_json::from_str(entry.after.as_deref().unwrap()).unwrap();
    assert_eq!(
        (before["priceFen"].as_u64(), after["priceFen"].as_u64()),
        (Some(990), Some(1500))
    );

    // A new product, on sale, is in the shop's catalog; a bad one changes nothing.
    let (status, location) = admin
        .post(
            &app,
            "/admin/products",
            &[
                ("csrf", &admin.csrf),
                ("name", "Console pack"),
                ("quota", "7"),
                ("models", "gpt-4o-mini"),
                ("price_fen", "70"),
                ("on_sale", "true"),
            ],
        )
        .await;
    assert_eq!(
        (status, location.contains("done=")),
        (303, true),
        "{location}"
    );
    let (_, catalog) = app
        .get("o_console_catalog", "/sale/query_product_list")
        .await;
    assert!(catalog.to_string().contains("Console pack"), "{catalog}");
    let (status, location) = admin
        .post(
            &app,
            "/admin/products",
            &[
                ("csrf", &admin.csrf),
                ("name", ""),
                ("quota", "7"),
                ("models", "gpt-4o-mini"),
                ("price_fen", "70"),
            ],
        )
        .await;
    assert_eq!(
        (status, location.contains("problem=")),
        (303, true),
        "{location}"
    );
    assert_eq!(audit(&app).await[0].action, "product.create");
}

#[tokio::test]
async fn an_admin_adjusts_quota_freezes_an_account_and_revokes_its_key() {
    let app = app().await;
    create(&app, "ivy", Role::Admin).await;
    let user = "o_console_account";
    delivered(&app, user).await;
    let (status, key) = TestApp::send(
        app.http
            .post(format!("{}/api/v1/keys", app.base_url))
            .bearer_auth(app.token_for(user))
            .form(&[("name", "laptop")]),
    )
    .await;
    assert_eq!(status, 200, "{key}");
    let key_id = key["data"]["id"].as_i64().unwrap();
    let admin = login(&app, "ivy").await;
    let page = format!("/admin/accounts/{user}");
    let (status, html) = admin.get(&app, &page).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("order_delivery") && html.contains("laptop"),
        "{html}"
    );

    let (status, location) = admin
        .post(
            &app,
            &format!("{page}/adjust"),
            &[
                ("csrf", &admin.csrf),
                ("delta", "50"),
                ("reason", "support ticket 7"),
            ],
        )
        .await;
    assert_eq!(
        (status, location.contains("done=")),
        (303, true),
        "{location}"
    );
    assert_eq!(app.quota(user).await, (150, 150));
    let (status, location) = admin
        .post(
            &app,
            &format!("{page}/adjust"),
            &[
                ("csrf", &admin.csrf),
                ("delta", "-1000"),
                ("reason", "too much"),
            ],
        )
        .await;
    assert_eq!(
        (status, location.contains("problem=")),
        (303, true),
        "{location}"
    );
    assert_eq!(
        app.quota(user).await,
        (150, 150),
        "a take beyond the balance changes nothing"
    );
    let (status, _) = admin
        .post(
            &app,
            &format!("{page}/adjust"),
            &[
                ("csrf", &admin.csrf),
                ("delta", "-30"),
                ("reason", "correction"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(app.quota(user).await, (120, 120));
    let entry = &audit(&app).await[0];
    assert_eq!(
        (entry.action.as_str(), entry.target.as_str()),
        ("account.adjust", user)
    );
    let after: Value = serde_json::from_str(entry.after.as_deref().unwrap()).unwrap();
    assert_eq!(
        (
            after["delta"].as_i64(),
            after["surplusQuota"].as_i64(),
            after["reason"].as_str()
        ),
        (Some(-30), Some(120), Some("correction"))
    );

    assert_eq!(
        admin
            .post(&app, &format!("{page}/freeze"), &[("csrf", &admin.csrf)])
            .await
            .0,
        303
    );
    let (_, html) = admin.get(&app, &page).await;
    assert!(html.contains("FROZEN"), "{html}");
    assert_eq!(audit(&app).await[0].action, "account.freeze");
    assert_eq!(
        admin
            .post(&app, &format!("{page}/unfreeze"), &[("csrf", &admin.csrf)])
            .await
            .0,
        303
    );
    assert_eq!(audit(&app).await[0].action, "account.unfreeze");

    let revoke = format!("{page}/keys/{key_id}/revoke");
    assert_eq!(
        admin.post(&app, &revoke, &[("csrf", &admin.csrf)]).await.0,
        303
    );
    let (_, keys) = app.get(user, "/keys").await;
    assert!(keys["data"][0]["revokedAt"].is_string(), "{keys}");
    assert_eq!(audit(&app).await[0].action, "key.revoke");
}

#[tokio::test]
async fn an_admin_issues_codes_and_reconciles_a_day_from_the_console() {
    let app = app().await;
    create(&app, "jane", Role::Admin).await;
    let admin = login(&app, "jane").await;
    let expires = (chrono::Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    let response = client()
        .post(format!("{}/admin/batches", app.base_url))
        .header("cookie", &admin.cookies)
        .form(&[
            ("csrf", admin.csrf.as_str()),
            ("count", "2"),
            ("quota", "9"),
            ("models", "gpt-4o-mini"),
            ("expires", expires.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    let codes = html
        .split("<pre class=\"card\" id=\"codes\">")
        .nth(1)
        .unwrap()
        .split("</pre>")
        .next()
        .unwrap();
    let code = codes.lines().next().unwrap().trim().to_owned();
    let (status, body, _) = app
        .post_form("o_console_codes", "/account/redeem", &[("code", &code)])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.quota("o_console_codes").await.1, 9);
    let entry = &audit(&app).await[0];
    assert_eq!(entry.action, "redemption.batch");
    assert!(
        !entry.after.as_deref().unwrap().contains(&code),
        "codes never reach the audit log"
    );

    let yesterday = (domain::reconciliation::beijing_date(chrono::Utc::now())
        - chrono::Duration::days(1))
    .to_string();
    let (status, location) = admin
        .post(
            &app,
            "/admin/reconciliations",
            &[("csrf", &admin.csrf), ("date", &yesterday)],
        )
        .await;
    assert_eq!(status, 303);
    assert!(location.contains("done="), "{location}");
    let (status, html) = admin
        .get(&app, &format!("/admin/reconciliations?date={yesterday}"))
        .await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"verdict\""), "{html}");
    assert_eq!(audit(&app).await[0].action, "reconciliation.run");
}

async fn login_from(app: &TestApp, address: &str, name: &str, password: &str) -> u16 {
    client()
        .post(format!("{}/admin/login", app.base_url))
        .header("x-forwarded-for", address)
        .form(&[("name", name), ("password", password)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn failing_on_purpose_locks_an_account_out_from_that_block_only() {
    let app = app_with(|s| {
        s.login.trust_forwarded_for = true;
        s.admin.max_failures_per_account = 3;
    })
    .await;
    create(&app, "kate", Role::Admin).await;
    for _ in 0..3 {
        assert_eq!(login_from(&app, "10.0.0.7", "kate", "guess").await, 401);
    }
    assert_eq!(
        login_from(&app, "10.0.0.9", "kate", PASSWORD).await,
        429,
        "same /24"
    );
    // The operator, elsewhere, still gets in.
    assert_eq!(login_from(&app, "10.0.1.7", "kate", PASSWORD).await, 303);
}

#[tokio::test]
async fn a_cross_site_login_an_adjustment_of_nobody_and_a_stale_form_change_nothing() {
    let app = app().await;
    create(&app, "liam", Role::Admin).await;
    let cross = client()
        .post(format!("{}/admin/login", app.base_url))
        .header("sec-fetch-site", "cross-site")
        .form(&[("name", "liam"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status().as_u16(), 403);
    assert!(cross.headers().get("set-cookie").is_none());

    let admin = login(&app, "liam").await;
    let (status, _) = admin
        .post(
            &app,
            "/admin/accounts/o_console_nobody/adjust",
            &[("csrf", &admin.csrf), ("delta", "5"), ("reason", "x")],
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(app.quota("o_console_nobody").await, (0, 0));

    // A form posted after the session ended goes to the login page, and then to the
    // console's front page (a GET of the form's route would be refused).
    app.clock.advance(chrono::Duration::hours(13));
    let (status, location) = admin
        .post(
            &app,
            "/admin/products",
            &[("csrf", &admin.csrf), ("name", "late")],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/admin/login?next=%2Fadmin")
    );
    assert!(audit(&app).await.iter().all(|e| e.action == "login"));
}
