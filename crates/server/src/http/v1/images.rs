//! `POST /v1/images/generations`: OpenAI's image generation on the metered chat. The
//! model must be an image model of the map; the call costs its price per call, and is
//! refunded if the service makes no picture. Answers are URLs (`response_format: "url"`).

use super::{OpenAiError, V1Caller};
use crate::config::ModelKind;
use crate::http::chat::json_object;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use domain::chat::ChatRequest;
use domain::product::ModelType;
use serde_json::{Map, Value, json};

/// OpenAI's default image model.
const DEFAULT_MODEL: &str = "dall-e-2";

/// POST `/v1/images/generations`.
#[tracing::instrument(skip_all)]
#[utoipa::path(
    post, path = "/v1/images/generations", tag = "openai", security(("bearer" = [])),
    request_body(content = crate::http::openapi::ImageRequest),
    responses((status = 200, description = "The picture's URL", body = crate::http::openapi::ImageList), (status = "default", description = "OpenAI's error answer", body = crate::http::openapi::OpenAiErrorBody))
)]
pub async fn generations(
    State(state): State<AppState>,
    caller: Result<V1Caller, OpenAiError>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, OpenAiError> {
    let V1Caller(caller) = caller?;
    let body = body.map_err(|e| OpenAiError::BadRequest(e.body_text()))?;
    let object = json_object(&body).map_err(OpenAiError::BadRequest)?;
    let (model, prompt) = parse(&object).map_err(OpenAiError::BadRequest)?;
    if let Ok(name) = ModelType::parse(model)
        && state.chat.models().kind_of(&name) == Some(ModelKind::Chat)
    {
        return Err(OpenAiError::BadRequest(format!(
            "{model} is a chat model: ask it at /v1/chat/completions"
        )));
    }
    let request = ChatRequest::parse(model, vec![("user".into(), prompt.to_owned())])
        .map_err(|e| OpenAiError::BadRequest(e.to_string()))?;
    tracing::info!(user = %caller.user, model, "image call (v1)");
    let mut answer = state.chat.start(&caller, request, &Map::new()).await?;
    let mut data = Vec::new();
    while let Some(delta) = answer.next().await {
        let picture = delta.map_err(OpenAiError::BrokeOff)?;
        // The image models' answer is one markdown image per picture (the original's).
        if let Some(url) = picture
            .strip_prefix("![](")
            .and_then(|rest| rest.strip_suffix(')'))
        {
            data.push(json!({"url": url}));
        }
    }
    Ok(Json(
        json!({"created": state.clock.now().timestamp(), "data": data}),
    ))
}

/// The model and prompt of a request, refusing what this route does not do.
fn parse(object: &Map<String, Value>) -> Result<(&str, &str), String> {
    let model = match object.get("model") {
        None | Some(Value::Null) => DEFAULT_MODEL,
        Some(Value::String(model)) => model,
        Some(_) => return Err("model must be a string".into()),
    };
    let Some(Value::String(prompt)) = object.get("prompt") else {
        return Err("prompt is required (a string)".into());
    };
    if object.get("n").is_some_and(|n| n != &json!(1)) {
        return Err("n must be 1: each call makes one picture, for one call's price".into());
    }
    if object
        .get("response_format")
        .is_some_and(|f| f != &json!("url"))
    {
        return Err("response_format must be url".into());
    }
    Ok((model, prompt))
}
