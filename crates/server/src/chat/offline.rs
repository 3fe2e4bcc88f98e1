//! The offline model: an OpenAI-compatible streaming endpoint served by this process at
//! `/offline/v1/chat/completions`, so the chat works offline through the real upstream
//! client. It answers deterministically, word by word, and says that it is an offline model, not a real one.

use crate::config::Secret;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::time::Duration;

/// The path prefix; the chat's default upstream points here over loopback.
pub const BASE_PATH: &str = "/offline/v1";
/// A pause between words, so the answer visibly streams.
const WORD_PAUSE: Duration = Duration::from_millis(30);
/// How much of the user's message the answer quotes.
const QUOTE_CHARS: usize = 200;

/// The offline model's routes, answering only callers that send `key` as their bearer
/// token (this process's own upstream client).
pub fn router(key: Secret) -> Router {
    Router::new()
        .route(&format!("{BASE_PATH}/chat/completions"), post(completions))
        .with_state(std::sync::Arc::new(key))
}

/// A fresh random key for the offline model's route.
pub fn fresh_key() -> String {
    let mut bytes = [0u8; 24];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system CSPRNG works");
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn authorized(key: &Secret, headers: &HeaderMap) -> bool {
    let sent = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Constant time: the key must not leak through timing.
    aws_lc_rs::constant_time::verify_slices_are_equal(sent.as_bytes(), key.expose().as_bytes())
        .is_ok()
}

/// The answer to a request: fixed text around the last user message.
pub fn answer(model: &str, last_user_message: &str) -> String {
    let quoted: String = last_user_message.chars().take(QUOTE_CHARS).collect();
    format!(
        "[offline model, not a real AI] This is chatmall's offline model answering as \
         {model}. You said: {quoted}"
    )
}

async fn completions(
    State(key): State<std::sync::Arc<Secret>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&key, &headers) {
        let error = json!({"error": {"message": "this model serves chatmall itself only",
            "type": "invalid_request_error", "code": "invalid_api_key"}});
        return (StatusCode::UNAUTHORIZED, axum::Json(error)).into_response();
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let model = request["model"]
        .as_str()
        .unwrap_or("sandbox-echo")
        .to_owned();
    let last_user = request["messages"]
        .as_array()
        .and_then(|messages| messages.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned();
    let text = answer(&model, &last_user);
    // Words keep their following space, so the deltas concatenate to the exact text.
    let mut pieces: Vec<String> = text.split_inclusive(' ').map(str::to_owned).collect();
    pieces.reverse();
    let frames = futures::stream::unfold(
        (pieces, model, false),
        |(mut rest, model, ended)| async move {
            if ended {
                return None;
            }
            let frame = match rest.pop() {
                Some(word) => {
                    tokio::time::sleep(WORD_PAUSE).await;
                    chunk(&model, json!({"content": word}), Value::Null)
                }
                None => format!(
                    "{}data: [DONE]\n\n",
                    chunk(&model, json!({}), json!("stop"))
                ),
            };
            let ended = frame.ends_with("[DONE]\n\n");
            Some((
                Ok::<_, std::convert::Infallible>(frame),
                (rest, model, ended),
            ))
        },
    );
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(frames),
    )
        .into_response()
}

/// One `chat.completion.chunk` event.
fn chunk(model: &str, delta: Value, finish_reason: Value) -> String {
    let chunk = json!({
        "id": "chatcmpl-sandbox",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    });
    format!("data: {chunk}\n\n")
}
