//! `/api/v1/keys`: a user's API keys for OpenAI clients (`/v1`). `POST` (form `name`,
//! optional `quotaCap` and `models`) makes one and answers it once, with the key; `GET`
//! lists them (never the key); `DELETE /keys/{id}` revokes one.

use super::current_user::CurrentUser;
use super::envelope::{ApiError, ApiPath, ApiResult, ok};
use crate::state::AppState;
use axum::extract::{Form, State};
use chrono::{DateTime, Utc};
use domain::api_key::{ApiKey, ApiKeyId, KeyTerms};
use domain::ports::ApiKeys;
use domain::product::ModelType;
use serde::{Deserialize, Serialize};

/// A key as its owner sees it in a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub id: i64,
    pub name: String,
    /// The key's first characters (`sk-cm-AbCd…`).
    pub hint: String,
    pub quota_cap: Option<i64>,
    pub quota_spent: i64,
    /// Empty: every model of the account.
    pub models: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<&ApiKey> for KeyView {
    fn from(key: &ApiKey) -> Self {
        Self {
            id: key.id.0,
            name: key.name.as_str().to_owned(),
            hint: key.hint.clone(),
            quota_cap: key.quota_cap,
            quota_spent: key.quota_spent,
            models: ModelType::join(&key.models),
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// A new key: the key itself (shown this once) and its listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewKeyView {
    pub key: String,
    #[serde(flatten)]
    pub listed: KeyView,
}

/// The form of `POST /keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewKeyForm {
    name: String,
    #[serde(default)]
    quota_cap: Option<String>,
    #[serde(default)]
    models: String,
}

/// GET `keys`.
#[utoipa::path(
    get, path = "/api/v1/keys", tag = "shop", security(("bearer" = [])),
    responses((status = 200, description = "The caller's API keys", body = crate::http::envelope::Envelope<Vec<KeyView>>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn list(State(state): State<AppState>, user: CurrentUser) -> ApiResult<Vec<KeyView>> {
    let keys = state.shop.store().keys_of(&user.0).await?;
    Ok(ok(keys.iter().map(KeyView::from).collect()))
}

/// POST `keys`.
#[utoipa::path(
    post, path = "/api/v1/keys", tag = "shop", security(("bearer" = [])),
    request_body(content = NewKeyForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The new key, shown this once", body = crate::http::envelope::Envelope<NewKeyView>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    form: Result<Form<NewKeyForm>, axum::extract::rejection::FormRejection>,
) -> ApiResult<NewKeyView> {
    let Form(form) = form.map_err(|e| ApiError::BadParameter(e.body_text()))?;
    let cap = match form.quota_cap.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(text.parse::<i64>().map_err(|_| {
            ApiError::BadParameter(format!("quotaCap is a whole number, got {text:?}"))
        })?),
    };
    let terms = KeyTerms::parse(&form.name, cap, &form.models)
        .map_err(|e| ApiError::BadParameter(e.to_string()))?;
    let fresh = crate::api_keys::fresh();
    let key = state
        .shop
        .store()
        .create_key(
            &user.0,
            &terms,
            &fresh.digest,
            &fresh.hint,
            state.clock.now(),
        )
        .await?;
    tracing::info!(user = %user.0, key = %key.id, "API key made");
    Ok(ok(NewKeyView {
        key: fresh.key,
        listed: KeyView::from(&key),
    }))
}

/// DELETE `keys/{id}`.
#[utoipa::path(
    delete, path = "/api/v1/keys/{id}", tag = "shop", security(("bearer" = [])),
    params(("id" = i64, Path, description = "One of the caller's keys")),
    responses((status = 200, description = "Whether it was live until now", body = crate::http::envelope::Envelope<bool>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn revoke(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<bool> {
    let revoked = state
        .shop
        .store()
        .revoke_key(&user.0, ApiKeyId(id), state.clock.now())
        .await?;
    if !revoked {
        return Err(ApiError::NotFound(format!("no live API key {id} of yours")));
    }
    tracing::info!(user = %user.0, key = id, "API key revoked");
    Ok(ok(true))
}
