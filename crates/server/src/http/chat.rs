//! `POST /api/v1/chat/completions`: our pages' quota-metered, streamed chat answer (the
//! original's route, `chatgpt/chat/completions`, is [`super::chatgpt`]'s).
//!
//! In: `{model, messages:[{role, content}], …}` (OpenAI's shape; `temperature`, `top_p`,
//! `max_tokens`, `max_completion_tokens`, `presence_penalty`, `frequency_penalty`, `stop`
//! and `seed` are passed on, anything else ignored). Out: `text/event-stream`, one
//! `data:` event per content delta, then `data: [DONE]`; or, if the model breaks off
//! mid-answer, `event: error` with `{"code","info"}`. Refusals before the stream use the
//! envelope, mapped here and only here.

use super::current_user::CurrentUser;
use super::envelope::{ApiError, code, refusal};
use crate::chat::error::ChatError;
use crate::chat::frames::{self, client_text};
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::chat::ChatRequest;
use domain::service::ChatError as Call;
use serde_json::{Map, Value};

/// The largest request body accepted (the message limits fit well inside).
pub const MAX_BODY: usize = 512 * 1024;

/// Request fields passed on to the upstream as they are.
const PASSED_ON: [&str; 8] = [
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "frequency_penalty",
    "stop",
    "seed",
];

/// POST `chat/completions`.
#[tracing::instrument(skip_all)]
#[utoipa::path(
    post, path = "/api/v1/chat/completions", tag = "chat", security(("bearer" = [])),
    request_body(content = crate::http::openapi::ChatCompletionRequest),
    responses(
        (status = 200, description = "`data:` events, one per content delta, then `data: [DONE]`", content_type = "text/event-stream", body = String),
        (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal)
    )
)]
pub async fn completions(
    State(state): State<AppState>,
    user: Result<CurrentUser, ApiError>,
    body: Bytes,
) -> Response {
    match run(&state, user, &body).await {
        Ok(frames) => (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
                // Proxies such as nginx must not hold deltas back.
                (header::HeaderName::from_static("x-accel-buffering"), "no"),
            ],
            frames,
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}

async fn run(
    state: &AppState,
    user: Result<CurrentUser, ApiError>,
    body: &[u8],
) -> Result<Body, ChatError> {
    let CurrentUser(user) = user.map_err(|e| ChatError::NotLoggedIn(e.to_string()))?;
    let (request, options) = parse(body).map_err(ChatError::BadRequest)?;
    tracing::info!(%user, model = request.model.as_str(), "chat call");
    let answer = state.chat.start(&user.into(), request, &options).await?;
    Ok(Body::from_stream(frames::sse(answer)))
}

/// The body as a validated request and the options passed on; or what is wrong with it.
pub(super) fn parse(body: &[u8]) -> Result<(ChatRequest, Map<String, Value>), String> {
    parse_object(json_object(body)?)
}

/// The body as a JSON object, or what is wrong with it.
pub(super) fn json_object(body: &[u8]) -> Result<Map<String, Value>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let Value::Object(object) = value else {
        return Err("the body must be a JSON object".into());
    };
    Ok(object)
}

/// A chat request's JSON object as a validated request and the options passed on.
pub(super) fn parse_object(
    mut object: Map<String, Value>,
) -> Result<(ChatRequest, Map<String, Value>), String> {
    let model = match object.remove("model") {
        Some(Value::String(model)) => model,
        _ => return Err("model is required (a string)".into()),
    };
    let Some(Value::Array(raw)) = object.remove("messages") else {
        return Err("messages is required (an array)".into());
    };
    let messages = raw
        .into_iter()
        .enumerate()
        .map(|(i, message)| {
            let role = message["role"].as_str();
            let content = message["content"].as_str();
            match (role, content) {
                (Some(role), Some(content)) => Ok((role.to_owned(), content.to_owned())),
                _ => Err(format!(
                    "messages[{i}] must have a string role and a string content"
                )),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let max_tokens = ["max_completion_tokens", "max_tokens"]
        .into_iter()
        .find_map(|field| object.get(field).map(|v| (field, v)))
        .map(|(field, value)| {
            value
                .as_u64()
                .filter(|n| *n >= 1)
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
                .ok_or_else(|| format!("{field} must be a whole number of at least 1"))
        })
        .transpose()?;
    let request = ChatRequest::parse(&model, messages)
        .map_err(|e| e.to_string())?
        .with_max_tokens(max_tokens);
    let options = object
        .into_iter()
        .filter(|(key, _)| PASSED_ON.contains(&key.as_str()))
        .collect();
    Ok((request, options))
}

impl ChatError {
    /// The one mapping of chat outcomes to HTTP: status and contract code.
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::NotLoggedIn(_) => (StatusCode::UNAUTHORIZED, code::TOKEN_ERROR),
            Self::BadRequest(_) | Self::Call(Call::ModelNotServed(_) | Call::SensitiveWords) => {
                (StatusCode::BAD_REQUEST, code::BAD_PARAMETER)
            }
            Self::Call(
                Call::NoAccount
                | Call::NoQuota { .. }
                | Call::TrialUsedUp { .. }
                | Call::KeyCapReached,
            ) => (StatusCode::PAYMENT_REQUIRED, code::ERROR),
            Self::Call(Call::ModelNotGranted(_) | Call::Frozen) => {
                (StatusCode::FORBIDDEN, code::ERROR)
            }
            Self::Call(Call::Model(e)) if e.is_timeout() => {
                (StatusCode::GATEWAY_TIMEOUT, code::ERROR)
            }
            Self::Call(Call::Model(_)) => (StatusCode::BAD_GATEWAY, code::ERROR),
            Self::Call(Call::Store(_)) => (StatusCode::INTERNAL_SERVER_ERROR, code::ERROR),
        }
    }

    /// What the client reads in `info`.
    fn info(&self) -> String {
        match self {
            Self::Call(Call::Model(e)) => format!("{}; your quota was returned", client_text(e)),
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ChatError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        match &self {
            Self::Call(Call::Store(e)) => tracing::error!(error = ?e, "chat call failed"),
            // Logged with its details where it happened (the chat service).
            Self::Call(Call::Model(_)) => {}
            other => tracing::info!(status = status.as_u16(), error = %other, "chat call refused"),
        }
        refusal(status, code, self.info())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_checked_and_only_known_options_pass() {
        let (request, options) = parse(
            br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.2,"stream":false,"tools":[]}"#,
        )
        .unwrap();
        assert_eq!(request.model.as_str(), "gpt-4o");
        assert_eq!(options.keys().collect::<Vec<_>>(), ["temperature"]);
        for bad in [
            &b"nope"[..],
            b"[]",
            br#"{"messages":[]}"#,
            br#"{"model":"m"}"#,
            br#"{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}"#,
            br#"{"model":"m","messages":[]}"#,
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
