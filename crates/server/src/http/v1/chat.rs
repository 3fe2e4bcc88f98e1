//! `POST /v1/chat/completions`: OpenAI's chat completions on the metered chat. With
//! `stream: true` the answer is OpenAI's chunk stream (`stream_options.include_usage` adds
//! the usage chunk when the model reported its tokens); without, one `chat.completion`
//! object once the answer is complete.

use super::{OpenAiError, V1Caller};
use crate::chat::ModelReply;
use crate::chat::frames::{self, Completion, usage_json};
use crate::http::chat::{json_object, parse_object};
use crate::state::AppState;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use domain::ports::ChatAccounts;
use domain::service::MeteredAnswer;
use serde_json::{Value, json};

/// POST `/v1/chat/completions`.
#[tracing::instrument(skip_all)]
#[utoipa::path(
    post, path = "/v1/chat/completions", tag = "openai", security(("bearer" = [])),
    request_body(content = crate::http::openapi::ChatCompletionRequest),
    responses(
        (status = 200, description = "One `chat.completion`, or with `stream` OpenAI's `chat.completion.chunk` events", content(
            (crate::http::openapi::ChatCompletion = "application/json"),
            (String = "text/event-stream")
        )),
        (status = "default", description = "OpenAI's error answer", body = crate::http::openapi::OpenAiErrorBody)
    )
)]
pub async fn completions(
    State(state): State<AppState>,
    caller: Result<V1Caller, OpenAiError>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OpenAiError> {
    let V1Caller(caller) = caller?;
    let user = &caller.user;
    let body = body.map_err(|e| OpenAiError::BadRequest(e.body_text()))?;
    let mut object = json_object(&body).map_err(OpenAiError::BadRequest)?;
    let stream = object.remove("stream").and_then(|v| v.as_bool()) == Some(true);
    let include_usage = object
        .remove("stream_options")
        .is_some_and(|o| o["include_usage"] == Value::Bool(true));
    let (request, options) = parse_object(object).map_err(OpenAiError::BadRequest)?;
    let model = request.model.as_str().to_owned();
    tracing::info!(%user, model, stream, "chat call (v1)");
    let answer = state.chat.start(&caller, request, &options).await?;
    let completion = Completion::new(
        format!("chatcmpl-{}", answer.id()),
        model,
        state.clock.now().timestamp(),
        include_usage,
    );
    if stream {
        let frames = frames::openai(answer, completion);
        return Ok((
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
                (header::HeaderName::from_static("x-accel-buffering"), "no"),
            ],
            Body::from_stream(frames),
        )
            .into_response());
    }
    Ok(Json(whole(answer, &completion).await?).into_response())
}

/// The whole answer as one `chat.completion` object.
async fn whole<A: ChatAccounts>(
    mut answer: MeteredAnswer<A, ModelReply>,
    completion: &Completion,
) -> Result<Value, OpenAiError> {
    let mut text = String::new();
    while let Some(delta) = answer.next().await {
        match delta {
            Ok(delta) => text.push_str(&delta),
            Err(error) => return Err(OpenAiError::BrokeOff(error)),
        }
    }
    let mut object = json!({
        "id": completion.id, "object": "chat.completion", "created": completion.created,
        "model": completion.model, "system_fingerprint": null,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
            "logprobs": null, "finish_reason": frames::finish_reason(&answer)}],
    });
    if let Some(usage) = answer.usage() {
        object["usage"] = usage_json(usage);
    }
    Ok(object)
}
