//! Our pages' chat route (`/api/v1/chat/completions`) over real HTTP: quota checks,
//! spending, refunds, SSE streaming and cancellation, against a fake OpenAI-compatible
//! upstream that can stream, fail, hang and error.

use crate::fake_models::{API_KEY, FakeUpstream, Mode};
use crate::helpers::{DEADLINE, TestApp};
use chatmall::config::{ChatModelSettings, ChatUpstreamSettings, Secret, Settings};
use domain::account::AccountStatus;
use domain::chat::{ChatUsage, UsageStatus};
use domain::ports::AccountAdmin as _;
use domain::ports::ChatAccounts;
use domain::product::ModelType;
use domain::user::UserId;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Our pages' route.
const ROUTE: &str = "/api/v1/chat/completions";

/// A server whose chat goes to `fake` (short time limits for the hanging cases).
pub async fn app_with(fake: &FakeUpstream) -> TestApp {
    app_adjusted(fake, |_| {}).await
}

/// As [`app_with`], with `adjust` changing the settings last.
pub async fn app_adjusted(fake: &FakeUpstream, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let base_url = fake.base_url.clone();
    TestApp::spawn_with(move |settings: &mut Settings| {
        settings.chat.upstreams = vec![upstream(&base_url)];
        settings.chat.first_byte_timeout_ms = 500;
        settings.chat.idle_timeout_ms = 2_000;
        adjust(settings);
    })
    .await
}

/// An upstream for every model at `base_url`, with the fakes' key.
pub fn upstream(base_url: &str) -> ChatUpstreamSettings {
    ChatUpstreamSettings {
        base_url: base_url.to_owned(),
        api_key: Secret::from(API_KEY.to_owned()),
        ..ChatUpstreamSettings::default()
    }
}

pub async fn grant(app: &TestApp, user: &str, quota: u32, models: &str) {
    let models = ModelType::parse_list(models).unwrap();
    app.state
        .shop
        .store()
        .grant_quota(
            &UserId::parse(user).unwrap(),
            quota,
            &models,
            "test_grant",
            user,
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .expect("a fresh grant");
}

pub async fn usage(app: &TestApp, user: &str) -> Vec<ChatUsage> {
    app.state
        .shop
        .store()
        .usage_of(&UserId::parse(user).unwrap(), 100)
        .await
        .unwrap()
}

/// Waits (with a deadline) until the user's newest call has `status`.
pub async fn wait_for_usage(app: &TestApp, user: &str, status: UsageStatus) -> ChatUsage {
    let started = tokio::time::Instant::now();
    loop {
        let rows = usage(app, user).await;
        if let Some(row) = rows.first().filter(|r| r.status == status) {
            return row.clone();
        }
        assert!(
            started.elapsed() < DEADLINE,
            "usage of {user}: {rows:?}, expected {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn chat(app: &TestApp, user: &str, model: &str) -> reqwest::Response {
    app.http
        .post(format!("{}{ROUTE}", app.base_url))
        .bearer_auth(app.token_for(user))
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap()
}

/// The events of an SSE body: (event type, data).
async fn events(response: reqwest::Response) -> Vec<(String, String)> {
    let text = response.text().await.unwrap();
    text.split("\n\n")
        .filter(|block| !block.is_empty())
        .map(|block| {
            let mut kind = "message".to_owned();
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(k) = line.strip_prefix("event: ") {
                    kind = k.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push(d);
                }
            }
            (kind, data.join("\n"))
        })
        .collect()
}

async fn refused(response: reqwest::Response) -> (u16, Value) {
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_chat_streams_the_answer_and_spends_exactly_its_price() {
    let fake = FakeUpstream::spawn(Mode::Answer(3)).await;
    let app = app_with(&fake).await;
    grant(&app, "oChatHappy", 3, "gpt-4o-mini").await;

    let response = chat(&app, "oChatHappy", "gpt-4o-mini").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = events(response).await;
    let data: Vec<&str> = events.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(data, ["w0 ", "w1 ", "w2 ", "[DONE]"]);

    assert_eq!(app.quota("oChatHappy").await, (3, 2));
    let row = wait_for_usage(&app, "oChatHappy", UsageStatus::Ok).await;
    assert_eq!(row.quota_spent, 1);
    assert!(row.first_token_ms.is_some() && row.finished_at.is_some());
    let (headers, body) = fake.last.lock().unwrap().clone().unwrap();
    assert_eq!(headers["authorization"], format!("Bearer {API_KEY}"));
    assert_eq!(body["stream"], true);
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["messages"][0]["content"], "hello");
}

#[tokio::test]
async fn the_configured_price_is_spent() {
    let fake = FakeUpstream::spawn(Mode::Answer(1)).await;
    let base_url = fake.base_url.clone();
    let app = TestApp::spawn_with(move |settings| {
        settings.chat.upstreams = vec![ChatUpstreamSettings {
            prefix: "gpt-".into(),
            ..upstream(&base_url)
        }];
        let priced = ChatModelSettings {
            price: Some(3),
            ..ChatModelSettings::default()
        };
        settings.chat.models.insert("gpt-4o".into(), priced);
    })
    .await;
    grant(&app, "oChatPrice", 5, "gpt-4o").await;
    assert_eq!(chat(&app, "oChatPrice", "gpt-4o").await.status(), 200);
    assert_eq!(app.quota("oChatPrice").await, (5, 2));
    let (status, body) = refused(chat(&app, "oChatPrice", "gpt-4o").await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (402, Some("0001")),
        "{body}"
    );
    // No upstream serves o3-mini and the sandbox is off once upstreams are configured.
    let (status, body) = refused(chat(&app, "oChatPrice", "o3-mini").await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("0002")),
        "{body}"
    );
}

#[tokio::test]
async fn refusals_are_specific_and_spend_nothing() {
    let fake = FakeUpstream::spawn(Mode::Answer(1)).await;
    let app = app_adjusted(&fake, |s| s.trial.calls = 0).await;

    let (status, body) = refused(chat(&app, "oChatNobody", "gpt-4o").await).await;
    assert_eq!(status, 402, "{body}");
    assert!(
        body["info"].as_str().unwrap().contains("buy a package"),
        "{body}"
    );

    grant(&app, "oChatOnce", 1, "gpt-4o-mini").await;
    assert_eq!(chat(&app, "oChatOnce", "gpt-4o-mini").await.status(), 200);
    let (status, body) = refused(chat(&app, "oChatOnce", "gpt-4o-mini").await).await;
    assert_eq!(status, 402, "{body}");
    assert!(body["info"].as_str().unwrap().contains("used up"), "{body}");
    assert_eq!(app.quota("oChatOnce").await, (1, 0));

    grant(&app, "oChatMini", 5, "gpt-4o-mini").await;
    let (status, body) = refused(chat(&app, "oChatMini", "gpt-4o").await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("0001")),
        "{body}"
    );
    assert!(body["info"].as_str().unwrap().contains("gpt-4o"), "{body}");

    grant(&app, "oChatFrozen", 5, "gpt-4o").await;
    app.state
        .shop
        .store()
        .set_account_status(
            &UserId::parse("oChatFrozen").unwrap(),
            AccountStatus::Frozen,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let (status, body) = refused(chat(&app, "oChatFrozen", "gpt-4o").await).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["info"].as_str().unwrap().contains("frozen"), "{body}");

    let bad = app
        .http
        .post(format!("{}{ROUTE}", app.base_url))
        .bearer_auth(app.token_for("oChatMini"))
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "robot", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    let (status, body) = refused(bad).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("0002")),
        "{body}"
    );

    assert_eq!(app.quota("oChatMini").await, (5, 5));
    assert_eq!(app.quota("oChatFrozen").await, (5, 5));
    assert_eq!(
        fake.requests(),
        1,
        "only the one allowed call reached the upstream"
    );
}

#[tokio::test]
async fn without_a_token_the_answer_is_0003() {
    let fake = FakeUpstream::spawn(Mode::Answer(1)).await;
    let app = app_with(&fake).await;
    let response = app
        .http
        .post(format!("{}{ROUTE}", app.base_url))
        .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    let (status, body) = refused(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("0003")),
        "{body}"
    );
    assert_eq!(fake.requests(), 0);
}

#[tokio::test]
async fn upstream_failures_before_the_first_token_give_the_quota_back() {
    for (mode, expected) in [
        (Mode::Status(500), 502),
        (Mode::Status(429), 502),
        (Mode::BreakAfter(0), 502),
        (Mode::Hang, 504),
    ] {
        let fake = FakeUpstream::spawn(mode).await;
        let app = app_with(&fake).await;
        grant(&app, "oChatRefund", 2, "gpt-4o").await;
        let (status, body) = refused(chat(&app, "oChatRefund", "gpt-4o").await).await;
        assert_eq!(status, expected, "{mode:?}: {body}");
        let info = body["info"].as_str().unwrap();
        assert!(info.contains("quota was returned"), "{mode:?}: {body}");
        assert!(!info.contains(API_KEY), "the key leaked: {body}");
        assert_eq!(app.quota("oChatRefund").await, (2, 2), "{mode:?}");
        let row = wait_for_usage(&app, "oChatRefund", UsageStatus::Refunded).await;
        assert!(
            !row.error.unwrap().contains(API_KEY),
            "the key reached the usage row"
        );
    }
}

#[tokio::test]
async fn a_failure_after_the_first_token_ends_with_an_error_event_and_counts() {
    let fake = FakeUpstream::spawn(Mode::BreakAfter(2)).await;
    let app = app_with(&fake).await;
    grant(&app, "oChatBroken", 2, "gpt-4o").await;
    let response = chat(&app, "oChatBroken", "gpt-4o").await;
    assert_eq!(response.status(), 200);
    let events = events(response).await;
    assert_eq!(
        events[..2],
        [
            ("message".into(), "w0 ".into()),
            ("message".into(), "w1 ".into())
        ]
    );
    let (kind, data) = events.last().unwrap();
    assert_eq!(kind, "error", "{events:?}");
    let error: Value = serde_json::from_str(data).unwrap();
    assert_eq!(error["code"], "0001");
    assert!(!events.iter().any(|(_, d)| d == "[DONE]"));
    let row = wait_for_usage(&app, "oChatBroken", UsageStatus::Failed).await;
    assert!(row.error.unwrap().contains("overloaded"));
    assert_eq!(app.quota("oChatBroken").await, (2, 1));
}

#[tokio::test]
async fn a_client_that_leaves_cancels_the_upstream_call() {
    let fake = FakeUpstream::spawn(Mode::Endless).await;
    let app = app_with(&fake).await;
    grant(&app, "oChatLeaver", 2, "gpt-4o").await;
    let mut response = chat(&app, "oChatLeaver", "gpt-4o").await;
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().expect("a first delta");
    assert!(
        String::from_utf8_lossy(&first).starts_with("data: w0"),
        "{first:?}"
    );
    drop(response);

    let started = tokio::time::Instant::now();
    while fake.closed_early.load(Ordering::SeqCst) == 0 {
        assert!(
            started.elapsed() < DEADLINE,
            "the upstream never saw the connection close"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let row = wait_for_usage(&app, "oChatLeaver", UsageStatus::Cancelled).await;
    assert!(row.first_token_ms.is_some());
    assert_eq!(app.quota("oChatLeaver").await, (2, 1));
}

#[tokio::test]
async fn fifty_concurrent_chats_on_ten_quota_let_exactly_ten_through() {
    let fake = FakeUpstream::spawn(Mode::Answer(2)).await;
    let app = Arc::new(app_with(&fake).await);
    grant(&app, "oChatCrowd", 10, "gpt-4o").await;
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                let response = chat(&app, "oChatCrowd", "gpt-4o").await;
                match response.status().as_u16() {
                    200 => {
                        let events = events(response).await;
                        assert_eq!(events.last().unwrap().1, "[DONE]", "{events:?}");
                        true
                    }
                    402 => false,
                    other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
                }
            })
        })
        .collect();
    let mut answered = 0;
    for call in calls {
        answered += usize::from(call.await.unwrap());
    }
    assert_eq!(answered, 10);
    assert_eq!(app.quota("oChatCrowd").await, (10, 0));
    assert_eq!(fake.requests(), 10);
}

#[tokio::test]
async fn the_offline_default_answers_with_the_offline_model() {
    let app = TestApp::spawn().await;
    grant(&app, "oChatSandbox", 1, "gpt-4o-mini").await;
    let response = chat(&app, "oChatSandbox", "gpt-4o-mini").await;
    assert_eq!(response.status(), 200);
    let events = events(response).await;
    assert!(events.len() > 3, "{events:?}");
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let text: String = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| d.as_str())
        .collect();
    assert!(
        text.contains("offline model") && text.ends_with("You said: hello"),
        "{text}"
    );
    assert_eq!(app.quota("oChatSandbox").await, (1, 0));
    wait_for_usage(&app, "oChatSandbox", UsageStatus::Ok).await;
}

#[tokio::test]
async fn the_offline_models_route_serves_this_process_only() {
    let app = TestApp::spawn().await;
    let url = format!("{}/offline/v1/chat/completions", app.base_url);
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "free?"}]});
    let anonymous = app.http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let guessed = app
        .http
        .post(&url)
        .bearer_auth("sk-guess")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(guessed.status(), 401);
}

#[tokio::test]
async fn live_mode_without_upstreams_serves_no_offline_model() {
    let app = TestApp::spawn_live(wechatpay_sandbox::SignatureMode::PublicKey, |_| {}).await;
    let url = format!("{}/offline/v1/chat/completions", app.base_url);
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    let direct = app.http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(
        direct.status(),
        404,
        "the offline model's route is not served"
    );

    grant(&app, "oLiveChat", 5, "gpt-4o-mini").await;
    let (status, body) = refused(chat(&app, "oLiveChat", "gpt-4o-mini").await).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "0002");
    assert!(
        body["info"].as_str().unwrap().contains("gpt-4o-mini"),
        "{body}"
    );
    assert_eq!(app.quota("oLiveChat").await, (5, 5), "nothing spent");
}

#[tokio::test]
async fn a_failing_upstream_gives_way_to_the_next_and_its_breaker_opens() {
    let primary = FakeUpstream::spawn(Mode::Status(503)).await;
    let backup = FakeUpstream::spawn(Mode::Answer(2)).await;
    let (primary_url, backup_url) = (primary.base_url.clone(), backup.base_url.clone());
    let app = TestApp::spawn_with(move |settings: &mut Settings| {
        settings.chat.upstreams = vec![
            ChatUpstreamSettings {
                name: "primary".into(),
                prefix: "gpt-".into(),
                ..upstream(&primary_url)
            },
            ChatUpstreamSettings {
                name: "backup".into(),
                prefix: "backup-only".into(),
                ..upstream(&backup_url)
            },
        ];
        let failover = ChatModelSettings {
            upstream: "primary".into(),
            fallbacks: vec!["backup".into()],
            ..ChatModelSettings::default()
        };
        settings.chat.models.insert("gpt-4o".into(), failover);
        settings.chat.breaker_failures = 2;
        settings.chat.breaker_open_secs = 3600;
    })
    .await;
    grant(&app, "oFailover", 10, "gpt-4o").await;
    for call in 1..=4 {
        let response = chat(&app, "oFailover", "gpt-4o").await;
        assert_eq!(response.status(), 200, "call {call}");
        let events = events(response).await;
        let data: Vec<&str> = events.iter().map(|(_, d)| d.as_str()).collect();
        assert_eq!(data, ["w0 ", "w1 ", "[DONE]"], "call {call}");
    }
    // Charged once per call, whichever upstream answered.
    assert_eq!(app.quota("oFailover").await, (10, 6));
    assert_eq!(backup.requests(), 4);
    // Two failures in a row opened the primary's breaker: the next calls skipped it.
    assert_eq!(primary.requests(), 2);
    let rows = usage(&app, "oFailover").await;
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r.status == UsageStatus::Ok), "{rows:?}");
}
