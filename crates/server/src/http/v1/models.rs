//! `GET /v1/models`: the models the caller may use now (its packages', or the trial's when
//! it bought none; within its key's list) that some model service answers.

use super::{OpenAiError, V1Caller};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use domain::ports::{AccountRepository, ModelGateway};
use serde_json::{Value, json};

/// GET `/v1/models`.
#[utoipa::path(
    get, path = "/v1/models", tag = "openai", security(("bearer" = [])),
    responses((status = 200, description = "The models the caller may use now", body = crate::http::openapi::ModelList), (status = "default", description = "OpenAI's error answer", body = crate::http::openapi::OpenAiErrorBody))
)]
pub async fn list(
    State(state): State<AppState>,
    V1Caller(caller): V1Caller,
) -> Result<Json<Value>, OpenAiError> {
    let account = state.shop.store().account(&caller.user).await?;
    let models = match account {
        Some(account) => account.model_types,
        None => state
            .chat
            .trial()
            .map(|trial| trial.models().to_vec())
            .unwrap_or_default(),
    };
    let data: Vec<Value> = models
        .iter()
        .filter(|model| caller.key.as_ref().is_none_or(|key| key.allows(model)))
        .filter(|model| state.chat.models().serves(model))
        .map(|model| {
            json!({"id": model.as_str(), "object": "model", "created": 0, "owned_by": "chatmall"})
        })
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}
