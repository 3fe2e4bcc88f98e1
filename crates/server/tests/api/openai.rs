//! The OpenAI-compatible `/v1` over real HTTP: OpenAI's chunk stream and completion object
//! byte for byte where it matters, OpenAI's errors, the caller's models; and the official
//! `openai` Python package as a real client (`CHATMALL_OPENAI_PYTHON` names a Python with
//! it installed; `.ci/run` makes one and sets `CHATMALL_OPENAI_TESTS=require`).

use crate::chat::{app_with, grant, wait_for_usage};
use crate::fake_models::{FakeUpstream, Mode};
use crate::helpers::TestApp;
use domain::chat::UsageStatus;
use serde_json::{Value, json};

async fn post(app: &TestApp, token: Option<String>, body: Value) -> reqwest::Response {
    let mut request = app
        .http
        .post(format!("{}/v1/chat/completions", app.base_url))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// The `data:` payloads of an SSE body, parsed (`[DONE]` as a string).
async fn chunks(response: reqwest::Response) -> Vec<Value> {
    let text = response.text().await.unwrap();
    text.split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap_or_else(|_| json!(data)))
        .collect()
}

fn ask(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "hello"}]})
}

#[tokio::test]
async fn a_stream_is_openais_chunks_with_the_usage_chunk_when_asked() {
    let fake = FakeUpstream::spawn(Mode::Answer(2)).await;
    let app = app_with(&fake).await;
    grant(&app, "oV1Stream", 3, "gpt-4o").await;
    let response = post(&app, Some(app.token_for("oV1Stream")), ask("gpt-4o", true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let chunks = chunks(response).await;
    assert_eq!(chunks.len(), 6, "{chunks:?}");
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-"), "{id}");
    for chunk in &chunks[..5] {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(
            (chunk["id"].as_str(), chunk["model"].as_str()),
            (Some(id), Some("gpt-4o"))
        );
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(chunks[1]["choices"][0]["delta"], json!({"content": "w0 "}));
    assert_eq!(chunks[2]["choices"][0]["delta"], json!({"content": "w1 "}));
    assert_eq!(chunks[2]["choices"][0]["finish_reason"], Value::Null);
    assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[4]["choices"], json!([]));
    assert_eq!(
        chunks[4]["usage"],
        json!({"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9})
    );
    assert_eq!(chunks[5], "[DONE]");
    // The upstream was asked for its usage too.
    assert_eq!(fake.last_body()["stream_options"]["include_usage"], true);
    assert_eq!(app.quota("oV1Stream").await, (3, 2));
    wait_for_usage(&app, "oV1Stream", UsageStatus::Ok).await;
}

#[tokio::test]
async fn without_stream_the_answer_is_one_completion_object() {
    let fake = FakeUpstream::spawn(Mode::Answer(3)).await;
    let app = app_with(&fake).await;
    grant(&app, "oV1Whole", 3, "gpt-4o").await;
    let response = post(&app, Some(app.token_for("oV1Whole")), ask("gpt-4o", false)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        body["choices"][0],
        json!({"index": 0, "message": {"role": "assistant", "content": "w0 w1 w2 "},
            "logprobs": null, "finish_reason": "stop"})
    );
    assert_eq!(body["usage"]["completion_tokens"], 3);
    assert_eq!(app.quota("oV1Whole").await, (3, 2));
}

#[tokio::test]
async fn a_whole_answer_that_breaks_off_is_a_502_and_counts_as_the_rules_say() {
    let fake = FakeUpstream::spawn(Mode::BreakAfter(2)).await;
    let app = app_with(&fake).await;
    grant(&app, "oV1Broke", 2, "gpt-4o").await;
    let response = post(&app, Some(app.token_for("oV1Broke")), ask("gpt-4o", false)).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("the call counts"), "{message}");
    wait_for_usage(&app, "oV1Broke", UsageStatus::Failed).await;
    assert_eq!(app.quota("oV1Broke").await, (2, 1));
}

async fn image(app: &TestApp, user: &str, body: Value) -> (u16, Value) {
    let response = app
        .http
        .post(format!("{}/v1/images/generations", app.base_url))
        .bearer_auth(app.token_for(user))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn images_are_made_by_image_models_for_their_price_or_refunded() {
    let fake = FakeUpstream::spawn(Mode::Answer(1)).await;
    let app = app_with(&fake).await;
    grant(&app, "oV1Images", 3, "dall-e-3,gpt-4o").await;
    let (status, body) = image(
        &app,
        "oV1Images",
        json!({"model": "dall-e-3", "prompt": "a red panda"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!([{"url": "https://images.example/fake-0.png"}])
    );
    assert!(body["created"].is_i64());
    assert_eq!(
        (&fake.last_body()["model"], &fake.last_body()["prompt"]),
        (&json!("dall-e-3"), &json!("a red panda"))
    );
    assert_eq!(app.quota("oV1Images").await, (3, 2));

    let refusals = [
        json!({"model": "gpt-4o", "prompt": "x"}),
        json!({"model": "dall-e-3", "prompt": "x", "n": 2}),
        json!({"model": "dall-e-3", "prompt": "x", "response_format": "b64_json"}),
        json!({"model": "dall-e-3"}),
    ];
    for body in refusals {
        let (status, answer) = image(&app, "oV1Images", body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["type"], "invalid_request_error");
    }
    let (status, answer) = image(
        &app,
        "oV1Images",
        json!({"model": "dall-e-2", "prompt": "x"}),
    )
    .await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (404, &json!("model_not_found"))
    );
    assert_eq!(
        app.quota("oV1Images").await,
        (3, 2),
        "refusals spend nothing"
    );

    let broken = FakeUpstream::spawn(Mode::Status(500)).await;
    let app = app_with(&broken).await;
    grant(&app, "oV1ImagesDown", 3, "dall-e-3").await;
    let (status, answer) = image(
        &app,
        "oV1ImagesDown",
        json!({"model": "dall-e-3", "prompt": "x"}),
    )
    .await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (502, &json!("upstream_error"))
    );
    assert_eq!(app.quota("oV1ImagesDown").await, (3, 3), "given back");
}

#[tokio::test]
async fn refusals_are_openais_errors_and_spend_nothing() {
    let fake = FakeUpstream::spawn(Mode::Answer(1)).await;
    let app = app_with(&fake).await;
    let error = |status: u16, code: &str| (status, code.to_owned());
    async fn refused(response: reqwest::Response) -> (u16, String) {
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert!(body["error"]["message"].is_string(), "{body}");
        assert!(body["error"]["type"].is_string(), "{body}");
        (status, body["error"]["code"].as_str().unwrap().to_owned())
    }
    assert_eq!(
        refused(post(&app, None, ask("gpt-4o", true)).await).await,
        error(401, "invalid_api_key")
    );
    assert_eq!(
        refused(post(&app, Some("sk-guess".into()), ask("gpt-4o", true)).await).await,
        error(401, "invalid_api_key")
    );
    grant(&app, "oV1Once", 1, "gpt-4o").await;
    let token = || Some(app.token_for("oV1Once"));
    assert_eq!(
        refused(post(&app, token(), ask("gpt-4", true)).await).await,
        error(404, "model_not_found")
    );
    assert_eq!(
        post(&app, token(), ask("gpt-4o", false)).await.status(),
        200
    );
    assert_eq!(
        refused(post(&app, token(), ask("gpt-4o", true)).await).await,
        error(429, "insufficient_quota")
    );
    let bad = json!({"model": "gpt-4o", "messages": []});
    assert_eq!(
        refused(post(&app, token(), bad).await).await,
        error(400, "invalid_request")
    );
    assert_eq!(fake.requests(), 1);

    let down = FakeUpstream::spawn(Mode::Status(500)).await;
    let app = app_with(&down).await;
    grant(&app, "oV1Down", 2, "gpt-4o").await;
    let response = post(&app, Some(app.token_for("oV1Down")), ask("gpt-4o", true)).await;
    assert_eq!(refused(response).await, error(502, "upstream_error"));
    assert_eq!(app.quota("oV1Down").await, (2, 2));
}

#[tokio::test]
async fn the_models_are_the_callers_packages_or_the_trials() {
    let app = TestApp::spawn().await;
    let models = |user: &'static str| {
        let app = &app;
        async move {
            let response = app
                .http
                .get(format!("{}/v1/models", app.base_url))
                .bearer_auth(app.token_for(user))
                .send()
                .await
                .unwrap();
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["object"], "list");
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        models("oV1New").await,
        ["chatglm_turbo", "gpt-3.5-turbo", "gpt-4o-mini"]
    );
    grant(&app, "oV1Paid", 5, "gpt-4o,o3-mini").await;
    assert_eq!(models("oV1Paid").await, ["gpt-4o", "o3-mini"]);
}

/// The Python with the `openai` package, or why the test cannot run.
fn openai_python() -> Option<String> {
    let python = std::env::var("CHATMALL_OPENAI_PYTHON").ok();
    if python.is_none() {
        assert!(
            std::env::var("CHATMALL_OPENAI_TESTS").as_deref() != Ok("require"),
            "CHATMALL_OPENAI_TESTS=require but CHATMALL_OPENAI_PYTHON is not set"
        );
        eprintln!(
            "SKIPPED: the openai-package test (set CHATMALL_OPENAI_PYTHON to a Python with \
             `openai` installed; .ci/run does)"
        );
    }
    python
}

/// Runs tests/openai/client.py with `args`; what it saw.
async fn python_client(python: &str, args: &[&str]) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/openai/client.py");
    let output = tokio::process::Command::new(python)
        .arg(script)
        .args(args)
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "the client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Makes an API key of `user` through `/api/v1/keys`; (id, key).
async fn make_key(app: &TestApp, user: &str, form: &[(&str, &str)]) -> (i64, String) {
    let (status, body) = TestApp::send(
        app.http
            .post(format!("{}/api/v1/keys", app.base_url))
            .bearer_auth(app.token_for(user))
            .form(form),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (200, Some("0000")),
        "{body}"
    );
    let key = body["data"]["key"].as_str().unwrap().to_owned();
    (body["data"]["id"].as_i64().unwrap(), key)
}

#[tokio::test]
async fn the_official_openai_package_talks_to_v1_with_an_api_key_and_the_session_token() {
    let Some(python) = openai_python() else {
        return;
    };
    // The embedded default: the offline model answers, and reports its tokens.
    let app = TestApp::spawn().await;
    grant(&app, "oV1Python", 10, "gpt-4o-mini,o3-mini,dall-e-3").await;
    let token = app.token_for("oV1Python");
    let args = [&app.base_url, &token, "gpt-4o-mini", "gpt-4o", "dall-e-3"];
    let seen = python_client(&python, &args).await;
    check_client(&seen);
    assert_eq!(
        seen["models"],
        json!(["dall-e-3", "gpt-4o-mini", "o3-mini"])
    );
    // The offline model's picture, served by this server.
    let pictures = seen["image"].as_array().unwrap();
    assert_eq!(pictures.len(), 1, "{seen}");
    let url = pictures[0].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/offline/images/", app.base_url)),
        "{url}"
    );
    let svg = app.http.get(url).send().await.unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert_eq!(
        app.quota("oV1Python").await,
        (10, 7),
        "three calls, one quota each"
    );

    // A key limited to one model; another, revoked before use.
    let laptop = [("name", "laptop"), ("models", "gpt-4o-mini")];
    let (_, key) = make_key(&app, "oV1Python", &laptop).await;
    let (old_id, old) = make_key(&app, "oV1Python", &[("name", "old")]).await;
    let (status, body) = TestApp::send(
        app.http
            .delete(format!("{}/api/v1/keys/{old_id}", app.base_url))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!((status, &body["data"]), (200, &json!(true)), "{body}");
    let args = [
        app.base_url.as_str(),
        &key,
        "gpt-4o-mini",
        "o3-mini",
        "-",
        &old,
    ];
    let seen = python_client(&python, &args).await;
    check_client(&seen);
    assert_eq!(seen["models"], json!(["gpt-4o-mini"]), "the key's list");
    assert_eq!(
        seen["revoked"],
        json!({"status": 401, "code": "invalid_api_key"})
    );
    assert_eq!(app.quota("oV1Python").await, (10, 5));

    // The list shows what each key spent, and never the key.
    let (_, listed) = app.get("oV1Python", "/keys").await;
    let listed = listed["data"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 2);
    let secret = &key["sk-cm-".len() + 4..];
    assert!(
        !listed.iter().any(|k| k.to_string().contains(secret)),
        "{listed:?}"
    );
    assert_eq!(listed[1]["name"], "laptop");
    assert_eq!(listed[1]["quotaSpent"], 2);
    assert!(listed[0]["revokedAt"].is_string());
}

/// What every run of the client must have seen.
fn check_client(seen: &Value) {
    let expected = chatmall::chat::offline::answer("gpt-4o-mini", "hello");
    assert_eq!(seen["whole"]["content"], expected.as_str());
    assert_eq!(seen["whole"]["finish_reason"], "stop");
    assert!(
        seen["whole"]["id"]
            .as_str()
            .unwrap()
            .starts_with("chatcmpl-")
    );
    assert_eq!(seen["stream"]["content"], expected.as_str());
    assert_eq!(seen["stream"]["finish_reason"], "stop");
    let usage = &seen["stream"]["usage"];
    assert_eq!(usage["prompt_tokens"], 2, "{seen}");
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(2 + usage["completion_tokens"].as_u64().unwrap())
    );
    assert_eq!(
        seen["refused"],
        json!({"status": 404, "code": "model_not_found"})
    );
    assert_eq!(
        seen["bad_key"],
        json!({"status": 401, "code": "invalid_api_key"})
    );
}
