//! The offline model: OpenAI-compatible endpoints served by this process at
//! `/offline/v1/chat/completions` and `/offline/v1/images/generations`, so the chat (image
//! models too) works offline through the real upstream client. It answers
//! deterministically, word by word, and says that it is an offline model, not a real one;
//! its pictures are drawn from the prompt's hash and served at `/offline/images/{id}.svg`.

use crate::config::Secret;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::time::Duration;

/// The path prefix; the chat's default upstream points here over loopback.
pub const BASE_PATH: &str = "/offline/v1";
/// A pause between words, so the answer visibly streams.
const WORD_PAUSE: Duration = Duration::from_millis(30);
/// How much of the user's message the answer quotes.
const QUOTE_CHARS: usize = 200;

/// What the offline model's routes need: the key its caller must send, and where browsers
/// reach this server (its picture URLs are absolute, as a real service's are).
#[derive(Clone)]
pub struct Offline {
    pub key: Secret,
    pub public_url: String,
}

/// The offline model's routes: the model's, answering only callers that send the key as
/// their bearer token (this process's own upstream client), and its pictures, for anyone.
pub fn router(offline: Offline) -> Router {
    let offline = std::sync::Arc::new(offline);
    Router::new()
        .route(&format!("{BASE_PATH}/chat/completions"), post(completions))
        .route(&format!("{BASE_PATH}/images/generations"), post(images))
        .with_state(offline)
        .route(&format!("{IMAGES_PATH}/{{name}}"), get(picture))
}

/// Where the pictures are served.
const IMAGES_PATH: &str = "/offline/images";

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

/// The JSON request of a caller with the key (`null` if it is not JSON); `None` for a
/// caller without.
fn request_of(offline: &Offline, headers: &HeaderMap, body: &[u8]) -> Option<Value> {
    authorized(&offline.key, headers).then(|| serde_json::from_slice(body).unwrap_or(Value::Null))
}

/// The answer to a caller without the key.
fn unauthorized() -> Response {
    let error = json!({"error": {"message": "this model serves chatmall itself only",
        "type": "invalid_request_error", "code": "invalid_api_key"}});
    (StatusCode::UNAUTHORIZED, axum::Json(error)).into_response()
}

async fn completions(
    State(offline): State<std::sync::Arc<Offline>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(request) = request_of(&offline, &headers, &body) else {
        return unauthorized();
    };
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
    let usage = json!({
        "prompt_tokens": prompt_tokens(&request),
        "completion_tokens": pieces.len(),
        "total_tokens": prompt_tokens(&request) + pieces.len(),
    });
    let frames =
        futures::stream::unfold((pieces, model, false), move |(mut rest, model, ended)| {
            let usage = usage.clone();
            async move {
                if ended {
                    return None;
                }
                let frame = match rest.pop() {
                    Some(word) => {
                        tokio::time::sleep(WORD_PAUSE).await;
                        chunk(&model, json!({"content": word}), Value::Null)
                    }
                    None => format!(
                        "{}data: {}\n\ndata: [DONE]\n\n",
                        chunk(&model, json!({}), json!("stop")),
                        json!({"id": "chatcmpl-sandbox", "object": "chat.completion.chunk",
                        "created": 0, "model": model, "choices": [], "usage": usage}),
                    ),
                };
                let ended = frame.ends_with("[DONE]\n\n");
                Some((
                    Ok::<_, std::convert::Infallible>(frame),
                    (rest, model, ended),
                ))
            }
        });
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(frames),
    )
        .into_response()
}

/// The offline model's token count of a request: a token per four characters of its
/// messages (a real tokenizer's rough rate), at least one.
fn prompt_tokens(request: &Value) -> usize {
    let chars: usize = request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_str())
        .map(|c| c.chars().count())
        .sum();
    chars.div_ceil(4).max(1)
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

/// `/images/generations`: one picture, its URL on this server.
async fn images(
    State(offline): State<std::sync::Arc<Offline>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(request) = request_of(&offline, &headers, &body) else {
        return unauthorized();
    };
    let prompt = request["prompt"].as_str().unwrap_or_default();
    let id = hex::encode(
        &aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, prompt.as_bytes()).as_ref()[..8],
    );
    let url = format!("{}{IMAGES_PATH}/{id}.svg", offline.public_url);
    axum::Json(json!({"created": 0, "data": [{"url": url, "revised_prompt": prompt}]}))
        .into_response()
}

/// A picture: a few shapes whose colours and places come from its id (the prompt's hash),
/// so one prompt always draws the same picture and no state is kept.
async fn picture(Path(name): Path<String>) -> Response {
    let seed = name
        .strip_suffix(".svg")
        .filter(|id| id.len() == 16)
        .and_then(|id| u64::from_str_radix(id, 16).ok());
    let Some(seed) = seed else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; sandbox",
            ),
        ],
        drawing(seed),
    )
        .into_response()
}

/// The SVG of `seed`.
fn drawing(seed: u64) -> String {
    let bits = |shift: u32, modulo: u64| (seed >> shift) % modulo;
    let hue = |shift| bits(shift, 360);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"512\" height=\"512\" viewBox=\"0 0 512 512\">\
         <rect width=\"512\" height=\"512\" fill=\"hsl({} 45% 88%)\"/>",
        hue(0)
    );
    for i in 0..4u32 {
        let shift = 8 + i * 13;
        svg.push_str(&format!(
            "<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"hsl({} 60% 55%)\" fill-opacity=\"0.7\"/>",
            64 + bits(shift, 384),
            64 + bits(shift + 4, 384),
            40 + bits(shift + 8, 80),
            hue(shift + 2),
        ));
    }
    svg.push_str(
        "<text x=\"256\" y=\"490\" font-family=\"sans-serif\" font-size=\"20\" \
         text-anchor=\"middle\" fill=\"#333\">chatmall offline model · not a real AI</text></svg>",
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_seed_draws_one_picture_and_seeds_differ() {
        assert_eq!(drawing(42), drawing(42));
        assert_ne!(drawing(42), drawing(43 << 8));
        assert!(drawing(7).starts_with("<svg ") && drawing(7).ends_with("</svg>"));
    }
}
