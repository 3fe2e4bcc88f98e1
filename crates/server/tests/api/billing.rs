//! Calls billed by the token over real HTTP (`/v1`): the reservation before the upstream
//! call, the answer limit lowered to what the balance pays for, the settlement from the
//! upstream's usage or our count, the rest given back once; exact under concurrency,
//! failover and a client that leaves.

use crate::chat::{app_adjusted, grant, upstream, usage, wait_for_usage};
use crate::fake_models::{FakeUpstream, Mode};
use crate::helpers::TestApp;
use chatmall::config::{BillingKind, ChatModelSettings, ChatUpstreamSettings, Settings};
use domain::chat::{TokenRates, TokenUsage, UsageStatus};
use serde_json::{Value, json};

/// gpt-4o at 1 quota per 1,000 prompt tokens and 100 per 1,000 completion tokens (a tenth
/// of a quota each), reserving for at most 50.
fn by_the_token(settings: &mut Settings) {
    let entry = settings.chat.models.entry("gpt-4o".into()).or_default();
    entry.billing = BillingKind::Tokens;
    entry.prompt_price = Some(1.0);
    entry.completion_price = Some(100.0);
    entry.max_tokens = Some(50);
}

fn rates() -> TokenRates {
    TokenRates::new(1_000, 100_000, 50).unwrap()
}

/// Our count of the prompt `hello` from the user: the content, the role, OpenAI's framing.
fn prompt_tokens() -> u64 {
    chatmall::chat::tokens_in("hello") + chatmall::chat::tokens_in("user") + 3 + 3
}

fn charge(prompt: u64, completion: u64) -> i64 {
    rates().charge(TokenUsage { prompt, completion })
}

fn ask(stream: bool) -> Value {
    json!({"model": "gpt-4o", "stream": stream,
        "messages": [{"role": "user", "content": "hello"}]})
}

async fn post(app: &TestApp, user: &str, body: &Value) -> reqwest::Response {
    app.http
        .post(format!("{}/v1/chat/completions", app.base_url))
        .bearer_auth(app.token_for(user))
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_call_reserves_its_longest_answer_and_pays_the_upstreams_count() {
    let fake = FakeUpstream::spawn(Mode::Answer(30)).await;
    let app = app_adjusted(&fake, by_the_token).await;
    grant(&app, "oTokens", 100, "gpt-4o").await;
    let response = post(&app, "oTokens", &ask(true)).await;
    assert_eq!(response.status(), 200);
    // (30 words fit in 50 tokens: the answer ends with `stop`.)
    // While it streams, the reservation is spent: the prompt and 50 completion tokens.
    let reserved = charge(prompt_tokens(), 50);
    assert_eq!(reserved, 6);
    assert_eq!(app.quota("oTokens").await, (100, 100 - reserved));
    assert_eq!(fake.last_body()["max_tokens"], 50);
    let text = response.text().await.unwrap();
    assert!(text.contains(r#""finish_reason":"stop""#), "{text}");
    let row = wait_for_usage(&app, "oTokens", UsageStatus::Ok).await;
    // The fake reports 7 prompt tokens and a token per word: 0.007 + 3 → 4.
    assert_eq!(
        row.tokens,
        Some(TokenUsage {
            prompt: 7,
            completion: 30
        })
    );
    assert_eq!(row.quota_spent, 4);
    assert_eq!(app.quota("oTokens").await, (100, 96));
}

#[tokio::test]
async fn a_small_balance_gets_a_shorter_answer_never_an_overdraft() {
    let fake = FakeUpstream::spawn(Mode::Answer(100)).await;
    let app = app_adjusted(&fake, by_the_token).await;
    grant(&app, "oTokensLow", 3, "gpt-4o").await;
    let response = post(&app, "oTokensLow", &ask(false)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    // 3 quota pay for the prompt and this many tenths of a quota.
    let affordable = rates().completion_within(3, prompt_tokens());
    assert_eq!(affordable, 29);
    assert_eq!(fake.last_body()["max_tokens"], affordable);
    assert_eq!(body["usage"]["completion_tokens"], affordable);
    // The model stopped at the lowered limit, and the client is told so.
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(app.quota("oTokensLow").await, (3, 0));
    let refused = post(&app, "oTokensLow", &ask(false)).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(app.quota("oTokensLow").await, (3, 0));
    // A caller's own lower limit is kept, under the name it used.
    grant(&app, "oTokensShort", 100, "gpt-4o").await;
    let mut short = ask(false);
    short["max_completion_tokens"] = json!(5);
    assert_eq!(post(&app, "oTokensShort", &short).await.status(), 200);
    assert_eq!(fake.last_body()["max_completion_tokens"], 5);
    assert_eq!(app.quota("oTokensShort").await, (100, 100 - charge(7, 5)));
}

#[tokio::test]
async fn an_upstream_that_reports_no_tokens_is_paid_by_our_count() {
    let fake = FakeUpstream::spawn(Mode::Unmetered(10)).await;
    let app = app_adjusted(&fake, by_the_token).await;
    grant(&app, "oTokensCount", 100, "gpt-4o").await;
    let response = post(&app, "oTokensCount", &ask(true)).await;
    let text = response.text().await.unwrap();
    assert!(text.contains("w9 "), "{text}");
    let row = wait_for_usage(&app, "oTokensCount", UsageStatus::Ok).await;
    let answer: String = (0..10).map(|i| format!("w{i} ")).collect();
    let counted = TokenUsage {
        prompt: prompt_tokens(),
        completion: chatmall::chat::tokens_in(&answer),
    };
    assert_eq!(row.tokens, Some(counted));
    assert_eq!(row.quota_spent, rates().charge(counted));
    assert_eq!(app.quota("oTokensCount").await.1, 100 - row.quota_spent);
}

#[tokio::test]
async fn a_client_that_leaves_pays_for_what_was_streamed() {
    let fake = FakeUpstream::spawn(Mode::StallAfter(5)).await;
    let app = app_adjusted(&fake, by_the_token).await;
    grant(&app, "oTokensLeft", 100, "gpt-4o").await;
    let mut response = post(&app, "oTokensLeft", &ask(true)).await;
    let mut seen = String::new();
    while !seen.contains("w4 ") {
        let chunk = response.chunk().await.unwrap().expect("the stream goes on");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(response);
    let row = wait_for_usage(&app, "oTokensLeft", UsageStatus::Cancelled).await;
    let streamed = TokenUsage {
        prompt: prompt_tokens(),
        completion: chatmall::chat::tokens_in("w0 w1 w2 w3 w4 "),
    };
    assert_eq!(row.tokens, Some(streamed));
    assert_eq!(row.quota_spent, rates().charge(streamed));
    assert!(
        row.quota_spent < charge(prompt_tokens(), 50),
        "less than reserved"
    );
    assert_eq!(app.quota("oTokensLeft").await.1, 100 - row.quota_spent);
}

#[tokio::test]
async fn concurrent_calls_settle_exactly_and_never_overdraw() {
    let fake = FakeUpstream::spawn(Mode::Answer(20)).await;
    let app = app_adjusted(&fake, by_the_token).await;
    grant(&app, "oTokensRace", 40, "gpt-4o").await;
    let calls = futures::future::join_all((0..20).map(|_| async {
        let response = post(&app, "oTokensRace", &ask(false)).await;
        response.status().as_u16()
    }))
    .await;
    let answered = calls.iter().filter(|s| **s == 200).count();
    assert!(calls.iter().all(|s| *s == 200 || *s == 429), "{calls:?}");
    let rows = usage(&app, "oTokensRace").await;
    assert_eq!(rows.len(), answered);
    let mut spent = 0;
    for row in &rows {
        assert_eq!(row.status, UsageStatus::Ok, "{row:?}");
        let tokens = row.tokens.expect("settled with tokens");
        // Each paid the upstream's count (capped answers included), never above its
        // reservation.
        assert_eq!(row.quota_spent, rates().charge(tokens), "{row:?}");
        assert!(row.quota_spent <= charge(prompt_tokens(), 50));
        spent += row.quota_spent;
    }
    let (total, surplus) = app.quota("oTokensRace").await;
    assert_eq!((total, surplus), (40, 40 - spent), "the books balance");
    assert!(surplus >= 0);
    // 40 quota hold 6 reservations at once at least; each full answer costs 3.
    assert!(answered >= 6, "{answered} answered");
}

#[tokio::test]
async fn a_call_that_fails_over_is_settled_once_from_the_upstream_that_answered() {
    let primary = FakeUpstream::spawn(Mode::Status(503)).await;
    let backup = FakeUpstream::spawn(Mode::Answer(20)).await;
    let backup_url = backup.base_url.clone();
    let app = app_adjusted(&primary, move |settings| {
        settings.chat.upstreams[0].name = "primary".into();
        settings.chat.upstreams.push(ChatUpstreamSettings {
            name: "backup".into(),
            prefix: "backup-only".into(),
            ..upstream(&backup_url)
        });
        settings.chat.models.insert(
            "gpt-4o".into(),
            ChatModelSettings {
                upstream: "primary".into(),
                fallbacks: vec!["backup".into()],
                ..ChatModelSettings::default()
            },
        );
        by_the_token(settings);
    })
    .await;
    grant(&app, "oTokensFailover", 100, "gpt-4o").await;
    let response = post(&app, "oTokensFailover", &ask(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!((primary.requests(), backup.requests()), (1, 1));
    let rows = usage(&app, "oTokensFailover").await;
    assert_eq!(rows.len(), 1, "one call, one row");
    assert_eq!(rows[0].quota_spent, charge(7, 20));
    assert_eq!(
        app.quota("oTokensFailover").await,
        (100, 100 - charge(7, 20))
    );
}

#[tokio::test]
async fn the_usage_list_shows_each_calls_tokens_and_charge() {
    let fake = FakeUpstream::spawn(Mode::Answer(30)).await;
    let app = app_adjusted(&fake, by_the_token).await;
    grant(&app, "oTokensList", 100, "gpt-4o").await;
    assert_eq!(post(&app, "oTokensList", &ask(false)).await.status(), 200);
    let (status, body) = app.get("oTokensList", "/account/usage?limit=5").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (200, Some("0000")),
        "{body}"
    );
    let rows = body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            &rows[0]["model"],
            &rows[0]["status"],
            &rows[0]["quotaSpent"],
            &rows[0]["promptTokens"],
            &rows[0]["completionTokens"],
            &rows[0]["trial"],
        ),
        (
            &json!("gpt-4o"),
            &json!("OK"),
            &json!(4),
            &json!(7),
            &json!(30),
            &json!(false)
        )
    );
    for bad in ["0", "201", "x"] {
        let (status, body) = app
            .get("oTokensList", &format!("/account/usage?limit={bad}"))
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("0002")),
            "{bad}: {body}"
        );
    }
    let (status, _) = TestApp::send(
        app.http
            .get(format!("{}/api/v1/account/usage", app.base_url))
            .bearer_auth("not-a-token"),
    )
    .await;
    assert_eq!(status, 401);
}
