//! The original system's chat route (`/api/v1/chatgpt/chat/completions`) over real HTTP,
//! byte for byte as its back-end answered (DESIGN.md §5): the bare text stream, `0003`,
//! each refusal sentence, the upstream-failure text; the free trial, the model map (to a
//! fake 智谱 ChatGLM v4 upstream too), image models and the sensitive words. The sentences
//! are spelled out here, not taken from the code, so a changed byte fails.

use crate::chat::{app_adjusted, app_with, grant, upstream, usage, wait_for_usage};
use crate::fake_models::{API_KEY, FakeUpstream, Flavour, Mode};
use crate::helpers::TestApp;
use chatmall::config::{ChatModelSettings, ChatUpstreamSettings, ModelKind, WordListSettings};
use domain::account::AccountStatus;
use domain::chat::UsageStatus;
use domain::order::OrderStatus;
use domain::ports::AccountAdmin as _;
use domain::user::UserId;
use serde_json::{Value, json};
use std::sync::Arc;

const ROUTE: &str = "/api/v1/chatgpt/chat/completions";
const UPSTREAM_FAILURE: &str = "【错误编码】502\r\n【错误提示】网络超时，请重新对话尝试。";

/// What the route answered: status, content type, body.
struct Answer {
    status: u16,
    content_type: String,
    cache_control: String,
    body: String,
}

impl Answer {
    /// The body of an HTTP 200 answer of this route, its headers checked.
    fn text(&self) -> &str {
        assert_eq!(self.status, 200, "{}", self.body);
        assert_eq!(self.content_type, "text/event-stream;charset=UTF-8");
        assert_eq!(self.cache_control, "no-cache");
        &self.body
    }
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (content_type, cache_control) = (header("content-type"), header("cache-control"));
    Answer {
        status: response.status().as_u16(),
        content_type,
        cache_control,
        body: response.text().await.unwrap(),
    }
}

/// What the original front-end sends: the token raw in `Authorization`, one user message.
async fn ask(app: &TestApp, user: &str, model: &str, content: &str) -> Answer {
    let body = json!({"model": model, "messages": [{"role": "user", "content": content}]});
    send(
        app.http
            .post(format!("{}{ROUTE}", app.base_url))
            .header("Authorization", app.token_for(user))
            .json(&body),
    )
    .await
}

/// The body the fake answers a whole answer of `n` words with.
fn words(n: usize) -> String {
    (0..n).map(|i| format!("w{i} ")).collect()
}

async fn frozen(app: &TestApp, user: &str) {
    app.state
        .shop
        .store()
        .set_account_status(
            &UserId::parse(user).unwrap(),
            AccountStatus::Frozen,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn the_answer_is_bare_text_and_spends_one_quota() {
    let fake = FakeUpstream::spawn(Mode::Answer(3)).await;
    let app = app_with(&fake).await;
    grant(&app, "oBare", 2, "gpt-4o").await;
    assert_eq!(ask(&app, "oBare", "gpt-4o", "hello").await.text(), words(3));
    assert_eq!(app.quota("oBare").await, (2, 1));
    wait_for_usage(&app, "oBare", UsageStatus::Ok).await;
    assert_eq!(fake.last_body()["messages"][0]["content"], "hello");
}

#[tokio::test]
async fn a_missing_invalid_or_expired_token_is_answered_0003_and_touches_nothing() {
    let fake = FakeUpstream::spawn(Mode::Answer(1)).await;
    let app = app_with(&fake).await;
    grant(&app, "oExpired", 5, "gpt-4o").await;
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]});
    let url = format!("{}{ROUTE}", app.base_url);
    let token = app.token_for("oExpired");
    // Eight days on, past the seven-day session.
    app.clock.advance(chrono::Duration::days(8));
    for authorization in [None, Some("not-a-jwt".to_owned()), Some(token)] {
        let mut request = app.http.post(&url).json(&body);
        if let Some(value) = &authorization {
            request = request.header("Authorization", value);
        }
        assert_eq!(send(request).await.text(), "0003", "{authorization:?}");
    }
    // The token is checked before the body is read: garbage with no token is 0003 too.
    let garbage = app.http.post(&url).body("{not json");
    assert_eq!(send(garbage).await.text(), "0003");
    assert_eq!(fake.requests(), 0);
    assert_eq!(app.quota("oExpired").await, (5, 5));
}

#[tokio::test]
async fn each_refusal_is_the_originals_sentence_and_spends_nothing() {
    let fake = FakeUpstream::spawn(Mode::Answer(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let refused = dir.path().join("refuse.txt");
    std::fs::write(&refused, "违禁品\n").unwrap();
    let app = app_adjusted(&fake, |s| {
        s.trial.calls = 1;
        s.trial.models = "gpt-4o-mini".into();
        s.chat.word_lists.push(WordListSettings {
            file: refused,
            action: "refuse".into(),
        });
    })
    .await;

    // The trial: one call, then the original's words (with this trial's count).
    assert_eq!(
        ask(&app, "oTrial", "gpt-4o-mini", "hi").await.text(),
        words(1)
    );
    assert_eq!(
        ask(&app, "oTrial", "gpt-4o-mini", "hi").await.text(),
        "您今日的免费1次，已耗尽！"
    );
    // A model outside the trial is not the account's either.
    assert_eq!(
        ask(&app, "oTrial", "gpt-4o", "hi").await.text(),
        "当前账户不支持使用 gpt-4o 模型！可以联系客服升级账户。"
    );

    grant(&app, "oOnce", 1, "gpt-4o").await;
    assert_eq!(ask(&app, "oOnce", "gpt-4o", "hi").await.text(), words(1));
    assert_eq!(
        ask(&app, "oOnce", "gpt-4o", "hi").await.text(),
        "个人账户，总额度【1】次，已耗尽！"
    );
    assert_eq!(
        ask(&app, "oOnce", "gpt-4", "hi").await.text(),
        "当前账户不支持使用 gpt-4 模型！可以联系客服升级账户。"
    );

    grant(&app, "oFrozen", 5, "gpt-4o").await;
    frozen(&app, "oFrozen").await;
    assert_eq!(
        ask(&app, "oFrozen", "gpt-4o", "hi").await.text(),
        "您的账户已冻结，暂时不可使用。如果有疑问，可以联系客户解冻账户。"
    );

    grant(&app, "oWords", 5, "gpt-4o").await;
    assert_eq!(
        ask(&app, "oWords", "gpt-4o", "哪里买违 禁-品").await.text(),
        "您的提问包含敏感词，请修改后重新提问。"
    );

    assert_eq!(app.quota("oOnce").await, (1, 0));
    assert_eq!(app.quota("oFrozen").await, (5, 5));
    assert_eq!(app.quota("oWords").await, (5, 5));
    assert_eq!(
        fake.requests(),
        2,
        "only the two allowed calls reached the upstream"
    );
}

#[tokio::test]
async fn without_a_trial_a_user_who_never_bought_is_told_to_buy() {
    let fake = FakeUpstream::spawn(Mode::Answer(1)).await;
    let app = app_adjusted(&fake, |s| s.trial.calls = 0).await;
    assert_eq!(
        ask(&app, "oNoTrial", "gpt-4o-mini", "hi").await.text(),
        "您还没有可用的额度，请先购买套餐。"
    );
    assert_eq!(fake.requests(), 0);
}

#[tokio::test]
async fn an_upstream_failure_is_the_originals_error_text_and_its_price_goes_back() {
    for mode in [
        Mode::Status(500),
        Mode::Status(429),
        Mode::BreakAfter(0),
        Mode::Hang,
    ] {
        let fake = FakeUpstream::spawn(mode).await;
        let app = app_with(&fake).await;
        grant(&app, "oDown", 2, "gpt-4o").await;
        let answer = ask(&app, "oDown", "gpt-4o", "hi").await;
        assert_eq!(answer.text(), UPSTREAM_FAILURE, "{mode:?}");
        assert_eq!(app.quota("oDown").await, (2, 2), "{mode:?}");
        let row = wait_for_usage(&app, "oDown", UsageStatus::Refunded).await;
        assert!(
            !row.error.unwrap().contains(API_KEY),
            "the key reached the usage row"
        );
    }

    // After a first token the call counts, and the text ends with the same two lines.
    let fake = FakeUpstream::spawn(Mode::BreakAfter(2)).await;
    let app = app_with(&fake).await;
    grant(&app, "oBroken", 2, "gpt-4o").await;
    assert_eq!(
        ask(&app, "oBroken", "gpt-4o", "hi").await.text(),
        format!("{}\r\n{UPSTREAM_FAILURE}", words(2))
    );
    wait_for_usage(&app, "oBroken", UsageStatus::Failed).await;
    assert_eq!(app.quota("oBroken").await, (2, 1));
}

#[tokio::test]
async fn a_body_that_is_no_chat_request_gets_a_plain_text_refusal() {
    let fake = FakeUpstream::spawn(Mode::Answer(1)).await;
    let app = app_with(&fake).await;
    grant(&app, "oBadBody", 5, "gpt-4o").await;
    let post = |body: Vec<u8>| {
        app.http
            .post(format!("{}{ROUTE}", app.base_url))
            .header("Authorization", app.token_for("oBadBody"))
            .header("Content-Type", "application/json")
            .body(body)
    };
    let cases: [(&[u8], &str); 3] = [
        (b"{not json", "请求有误：the body is not JSON"),
        (
            br#"{"model":"gpt-4o"}"#,
            "请求有误：messages is required (an array)",
        ),
        (
            br#"{"model":"gpt-4o","messages":[{"role":"robot","content":"x"}]}"#,
            "请求有误：messages[0].role must be system, user or assistant",
        ),
    ];
    for (body, starts) in cases {
        let answer = send(post(body.to_vec())).await;
        assert_eq!(answer.status, 400, "{}", answer.body);
        assert!(answer.body.starts_with(starts), "{}", answer.body);
        assert_eq!(answer.content_type, "text/event-stream;charset=UTF-8");
    }
    let long = "字".repeat(16_001);
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": long}]});
    let answer = send(post(serde_json::to_vec(&body).unwrap())).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.body,
        "请求有误：messages[0].content is 16001 characters; at most 16000"
    );
    let answer = send(post(vec![b' '; 600 * 1024])).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (413, "请求过大：最多 512 KiB。")
    );
    assert_eq!(fake.requests(), 0);
    assert_eq!(app.quota("oBadBody").await, (5, 5));
}

#[tokio::test]
async fn fifty_concurrent_trial_calls_on_a_trial_of_ten_answer_exactly_ten() {
    let fake = FakeUpstream::spawn(Mode::Answer(2)).await;
    let app = Arc::new(app_with(&fake).await);
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { ask(&app, "oTrialCrowd", "chatglm_turbo", "hi").await })
        })
        .collect();
    let mut answered = 0;
    for call in calls {
        let answer = call.await.unwrap();
        match answer.text() {
            text if text == words(2) => answered += 1,
            "您今日的免费10次，已耗尽！" => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(answered, 10);
    assert_eq!(fake.requests(), 10);
    assert_eq!(usage(&app, "oTrialCrowd").await.len(), 10);
}

#[tokio::test]
async fn the_model_map_sends_the_original_names_to_a_chatglm_v4_upstream() {
    let zhipu = FakeUpstream::spawn_as(Flavour::Zhipu, Mode::Answer(3)).await;
    let openai = FakeUpstream::spawn(Mode::Answer(1)).await;
    let app = app_adjusted(&openai, |s| {
        s.chat.upstreams.push(ChatUpstreamSettings {
            name: "zhipu".into(),
            prefix: "chatglm".into(),
            ..upstream(&zhipu.base_url)
        });
        let pro = ChatModelSettings {
            upstream: "zhipu".into(),
            model: "glm-4-plus".into(),
            price: Some(3),
            kind: ModelKind::Chat,
            ..ChatModelSettings::default()
        };
        s.chat.models.insert("chatglm_pro".into(), pro);
    })
    .await;
    grant(&app, "oGlm", 10, "chatglm_turbo,chatglm_pro,gpt-3.5-turbo").await;

    // Built in: chatglm_turbo is glm-4-air, at the upstream whose prefix matches.
    assert_eq!(
        ask(&app, "oGlm", "chatglm_turbo", "你好").await.text(),
        words(3)
    );
    let (headers, sent) = zhipu.last.lock().unwrap().clone().unwrap();
    assert_eq!(sent["model"], "glm-4-air");
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["messages"][0]["content"], "你好");
    assert_eq!(headers["authorization"], format!("Bearer {API_KEY}"));
    assert_eq!(app.quota("oGlm").await, (10, 9));
    // Configured: chatglm_pro names its upstream, model and price.
    assert_eq!(
        ask(&app, "oGlm", "chatglm_pro", "hi").await.text(),
        words(3)
    );
    assert_eq!(zhipu.last_body()["model"], "glm-4-plus");
    assert_eq!(app.quota("oGlm").await, (10, 6));
    // gpt-3.5-turbo goes to the other upstream as today's gpt-4o-mini.
    assert_eq!(
        ask(&app, "oGlm", "gpt-3.5-turbo", "hi").await.text(),
        words(1)
    );
    assert_eq!(openai.last_body()["model"], "gpt-4o-mini");
    assert_eq!(zhipu.requests(), 2);

    // ChatGLM's errors (HTTP 429, code 1302) are the original's failure text, refunded.
    let busy = FakeUpstream::spawn_as(Flavour::Zhipu, Mode::Status(429)).await;
    let app = app_adjusted(&busy, |_| {}).await;
    grant(&app, "oGlmBusy", 2, "chatglm_turbo").await;
    let answer = ask(&app, "oGlmBusy", "chatglm_turbo", "hi").await;
    assert_eq!(answer.text(), UPSTREAM_FAILURE);
    assert_eq!(app.quota("oGlmBusy").await, (2, 2));
}

#[tokio::test]
async fn an_image_model_answers_markdown_images_of_the_joined_user_messages() {
    let fake = FakeUpstream::spawn(Mode::Answer(2)).await;
    let app = app_adjusted(&fake, |s| {
        let priced = ChatModelSettings {
            price: Some(5),
            ..s.chat.models["dall-e-3"].clone()
        };
        s.chat.models.insert("dall-e-3".into(), priced);
    })
    .await;
    grant(&app, "oPainter", 6, "dall-e-3").await;
    let body = json!({"model": "dall-e-3", "messages": [
        {"role": "user", "content": "a cat"},
        {"role": "assistant", "content": "![](https://old)"},
        {"role": "user", "content": "in the snow"},
    ]});
    let answer = send(
        app.http
            .post(format!("{}{ROUTE}", app.base_url))
            .header("Authorization", app.token_for("oPainter"))
            .json(&body),
    )
    .await;
    assert_eq!(
        answer.text(),
        "![](https://images.example/fake-0.png)![](https://images.example/fake-1.png)"
    );
    let sent = fake.last_body();
    assert_eq!(sent["model"], "dall-e-3");
    assert_eq!(sent["prompt"], "a cat\r\nin the snow");
    assert_eq!(app.quota("oPainter").await, (6, 1), "priced like any model");
    wait_for_usage(&app, "oPainter", UsageStatus::Ok).await;
}

#[tokio::test]
async fn listed_words_are_masked_before_the_model_sees_them() {
    let fake = FakeUpstream::spawn(Mode::Answer(1)).await;
    let app = app_with(&fake).await;
    grant(&app, "oMasked", 5, "gpt-4o").await;
    for (prompt, masked) in [
        ("哪里可以赌博？", "哪里可以**？"),
        ("哪里可以赌 博", "哪里可以***"),
        ("ＣＡＳＩＮＯ online", "****** online"),
        ("c-a-s-i-n-o", "***********"),
    ] {
        assert_eq!(
            ask(&app, "oMasked", "gpt-4o", prompt).await.text(),
            words(1)
        );
        assert_eq!(
            fake.last_body()["messages"][0]["content"],
            masked,
            "{prompt}"
        );
    }
    assert_eq!(app.quota("oMasked").await, (5, 1), "masking still answers");
}

#[tokio::test]
async fn the_original_front_end_works_on_a_fresh_start() {
    // The embedded default: no upstream, the offline model answers every model.
    let app = TestApp::spawn().await;
    let user = "oFreshStart";

    // A user who bought nothing chats on the front-end's default model: the free trial.
    let text = ask(&app, user, "chatglm_turbo", "你好").await;
    assert_eq!(
        text.text(),
        chatmall::chat::offline::answer("glm-4-air", "你好"),
        "the offline model's whole text, bare, as the mapped model"
    );

    // Buying the demo catalog's Plus package (product 1003) opens the original's models.
    let (status, catalog) = send_json(
        app.http
            .get(format!("{}/api/v1/sale/query_product_list", app.base_url)),
    )
    .await;
    assert_eq!((status, catalog["code"].as_str()), (200, Some("0000")));
    let plus = &catalog["data"][2];
    assert_eq!(plus["productId"], 1003);
    let order_no = app.place_order_ok(user, "1003").await;
    app.sandbox.pay(&order_no, None).unwrap();
    app.wait_for_status(&order_no, OrderStatus::Delivered).await;
    for model in ["gpt-3.5-turbo", "gpt-4", "chatglm_pro"] {
        let answer = ask(&app, user, model, "hi").await;
        assert!(
            answer.text().starts_with("[offline model"),
            "{model}: {}",
            answer.body
        );
    }
    assert_eq!(app.quota(user).await, (500, 497), "the trial call was free");

    // Images: a picture drawn by this process, served by it.
    let answer = ask(&app, user, "dall-e-3", "一只猫").await;
    let text = answer.text();
    let url = text
        .strip_prefix("![](")
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not one markdown image: {text}"));
    assert!(
        url.starts_with(&format!("{}/offline/images/", app.base_url)),
        "{url}"
    );
    let picture = app.http.get(url).send().await.unwrap();
    assert_eq!(picture.status(), 200);
    assert_eq!(picture.headers()["content-type"], "image/svg+xml");
    assert!(picture.text().await.unwrap().starts_with("<svg "));
    assert_eq!(app.quota(user).await, (500, 496));
}

async fn send_json(request: reqwest::RequestBuilder) -> (u16, Value) {
    TestApp::send(request).await
}

#[tokio::test]
async fn the_product_list_checks_a_token_only_when_one_is_sent() {
    let app = TestApp::spawn().await;
    let url = format!("{}/api/v1/sale/query_product_list", app.base_url);
    let (status, public) = send_json(app.http.get(&url)).await;
    assert_eq!((status, public["code"].as_str()), (200, Some("0000")));
    let (status, bad) =
        send_json(app.http.get(&url).header("Authorization", "expired.jwt.x")).await;
    assert_eq!((status, bad["code"].as_str()), (401, Some("0003")), "{bad}");
    let token = app.token_for("oCatalog");
    let (status, good) = send_json(app.http.get(&url).header("Authorization", token)).await;
    assert_eq!((status, good["code"].as_str()), (200, Some("0000")));
}

#[tokio::test]
async fn the_answer_streams_as_it_comes_and_a_client_that_leaves_pays_and_stops_it() {
    // The fake sends a word every 20 ms and never ends: a whole-body read would hang.
    let fake = FakeUpstream::spawn(Mode::Endless).await;
    let app = app_with(&fake).await;
    grant(&app, "oStreamed", 2, "gpt-4o").await;
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    let mut response = app
        .http
        .post(format!("{}{ROUTE}", app.base_url))
        .header("Authorization", app.token_for("oStreamed"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream;charset=UTF-8"
    );
    let mut text = String::new();
    while !text.contains("w1 ") {
        let chunk = response.chunk().await.unwrap().expect("more of the answer");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(
        text.starts_with("w0 w1 "),
        "bare deltas as they come: {text:?}"
    );
    drop(response);
    wait_for_usage(&app, "oStreamed", UsageStatus::Cancelled).await;
    assert_eq!(app.quota("oStreamed").await, (2, 1));
}
