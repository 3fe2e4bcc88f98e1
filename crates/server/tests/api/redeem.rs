//! Redemption codes over HTTP (issue 14 §4): an operator issues a batch, users redeem its
//! codes once each (also under 50 concurrent tries of one code), failures are limited.

use crate::helpers::TestApp;
use chatmall::config::Secret;
use serde_json::{Value, json};

const ADMIN: &str = "operator-token-redeem";

async fn app() -> TestApp {
    TestApp::spawn_with(|s| {
        s.admin.token = Secret::from(ADMIN.to_owned());
        s.redeem.max_failures = 3;
    })
    .await
}

async fn issue(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    TestApp::send(
        app.http
            .post(format!("{}/api/v1/admin/redemption_batches", app.base_url))
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

fn batch(count: u32) -> Value {
    json!({
        "count": count,
        "quota": 50,
        "modelTypes": ["gpt-4o-mini"],
        "expiresAt": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339(),
    })
}

async fn redeem(app: &TestApp, user: &str, code: &str) -> (u16, Value, Option<String>) {
    app.post_form(user, "/account/redeem", &[("code", code)])
        .await
}

fn codes(issued: &Value) -> Vec<String> {
    issued["data"]["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_operator_issues_codes_once_and_each_credits_once() {
    let app = app().await;
    let (status, issued) = issue(&app, ADMIN, batch(3)).await;
    assert_eq!(status, 200, "{issued}");
    let codes = codes(&issued);
    assert_eq!(codes.len(), 3);
    for code in &codes {
        assert_eq!(code.len(), 19, "four groups of four: {code}");
        assert_eq!(code.matches('-').count(), 3, "{code}");
    }
    assert_eq!(issued["data"]["quota"], 50);
    assert_eq!(issued["data"]["redeemed"], 0);

    // Typed loosely: lowercase, spaces for hyphens.
    let typed = codes[0].to_lowercase().replace('-', " ");
    let (status, body, _) = redeem(&app, "oRedeemsOne", &typed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["quota"], 50);
    assert_eq!(body["data"]["surplusQuota"], 50);
    assert_eq!(body["data"]["modelTypes"], json!(["gpt-4o-mini"]));
    assert_eq!(app.quota("oRedeemsOne").await, (50, 50));

    // Used: refused, and nothing more is credited, to this user or another.
    let (status, body, _) = redeem(&app, "oRedeemsOne", &codes[0]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("0001")),
        "{body}"
    );
    let (status, _, _) = redeem(&app, "oSecondComer", &codes[0]).await;
    assert_eq!(status, 422);
    assert_eq!(app.quota("oRedeemsOne").await, (50, 50));
    assert_eq!(app.quota("oSecondComer").await, (0, 0));

    let (status, listed) = TestApp::send(
        app.http
            .get(format!("{}/api/v1/admin/redemption_batches", app.base_url))
            .bearer_auth(ADMIN),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(listed["data"][0]["batchId"], issued["data"]["batchId"]);
    assert_eq!(listed["data"][0]["redeemed"], 1);
    assert!(
        listed["data"][0].get("codes").is_none(),
        "codes are shown once"
    );
}

#[tokio::test]
async fn fifty_concurrent_redemptions_of_one_code_succeed_once() {
    let app = app().await;
    let (_, issued) = issue(&app, ADMIN, batch(1)).await;
    let code = codes(&issued).remove(0);
    let users: Vec<String> = (0..50).map(|i| format!("oRacer{i:02}")).collect();
    let tries = users.iter().map(|user| redeem(&app, user, &code));
    let outcomes = futures::future::join_all(tries).await;
    let won = outcomes
        .iter()
        .filter(|(status, _, _)| *status == 200)
        .count();
    let used = outcomes
        .iter()
        .filter(|(status, _, _)| *status == 422)
        .count();
    assert_eq!((won, used), (1, 49), "{outcomes:?}");
    let mut credited = 0;
    for user in &users {
        credited += app.quota(user).await.0;
    }
    assert_eq!(credited, 50, "one code, one credit");
}

#[tokio::test]
async fn failed_redemptions_are_limited_per_user() {
    let app = app().await;
    let (_, issued) = issue(&app, ADMIN, batch(1)).await;
    let good = codes(&issued).remove(0);
    let (status, body, _) = redeem(&app, "oGuesser", "not a code").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("0002")));
    for _ in 0..2 {
        let (status, _, _) = redeem(&app, "oGuesser", "AAAA-BBBB-CCCC-DDDD").await;
        assert_eq!(status, 422);
    }
    // Three failures: the fourth try is refused unchecked, even with a good code.
    let (status, body, retry_after) = redeem(&app, "oGuesser", &good).await;
    assert_eq!(status, 429, "{body}");
    assert!(retry_after.unwrap().parse::<i64>().unwrap() >= 1);
    assert_eq!(app.quota("oGuesser").await, (0, 0));
    // Nobody else is held back.
    let (status, _, _) = redeem(&app, "oHonest", &good).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn batches_need_the_admin_token_and_sound_terms() {
    let app = app().await;
    assert_eq!(issue(&app, "wrong", batch(1)).await.0, 401);
    for bad in [
        json!({"count": 0, "quota": 50, "modelTypes": ["gpt-4o-mini"], "expiresAt": "2099-01-01T00:00:00Z"}),
        json!({"count": 1, "quota": 0, "modelTypes": ["gpt-4o-mini"], "expiresAt": "2099-01-01T00:00:00Z"}),
        json!({"count": 1, "quota": 5, "modelTypes": [], "expiresAt": "2099-01-01T00:00:00Z"}),
        json!({"count": 1, "quota": 5, "modelTypes": ["gpt-4o-mini"], "expiresAt": "2001-01-01T00:00:00Z"}),
        json!({"count": 1, "quota": 5, "modelTypes": ["gpt-4o-mini"], "expiresAt": "tomorrow"}),
        json!({"count": 1, "quota": 5, "modelTypes": ["gpt-4o-mini"]}),
    ] {
        let (status, body) = issue(&app, ADMIN, bad.clone()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("0002")),
            "{bad} → {body}"
        );
    }
    let (_, listed) = TestApp::send(
        app.http
            .get(format!("{}/api/v1/admin/redemption_batches", app.base_url))
            .bearer_auth(ADMIN),
    )
    .await;
    assert_eq!(listed["data"], json!([]), "no refused batch was stored");
}
