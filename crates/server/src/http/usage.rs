//! `GET /api/v1/account/usage`: the caller's newest chat calls, newest first, each with its
//! status, tokens and charge (for the chat page's "this call cost" and the account page).

use super::current_user::CurrentUser;
use super::envelope::{ApiError, ApiQuery, ApiResult, ok};
use crate::state::AppState;
use axum::extract::State;
use chrono::{DateTime, Utc};
use domain::chat::ChatUsage;
use domain::ports::ChatAccounts;
use serde::{Deserialize, Serialize};

/// The most calls one answer lists.
const MAX_LIMIT: u64 = 200;

/// One chat call as its owner sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageView {
    pub id: i64,
    pub model: String,
    /// `STARTED`, `OK`, `FAILED`, `CANCELLED` or `REFUNDED`.
    pub status: &'static str,
    /// The quota it cost (given back if REFUNDED); 0 for a free trial call.
    pub quota_spent: i64,
    pub trial: bool,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub api_key_id: Option<i64>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub first_token_ms: Option<i64>,
}

impl From<&ChatUsage> for UsageView {
    fn from(usage: &ChatUsage) -> Self {
        Self {
            id: usage.id.0,
            model: usage.model.as_str().to_owned(),
            status: usage.status.as_str(),
            quota_spent: usage.quota_spent,
            trial: usage.trial_window.is_some(),
            prompt_tokens: usage.tokens.map(|t| t.prompt),
            completion_tokens: usage.tokens.map(|t| t.completion),
            api_key_id: usage.api_key_id,
            started_at: usage.started_at,
            finished_at: usage.finished_at,
            first_token_ms: usage.first_token_ms,
        }
    }
}

/// `?limit=` (1..=200, default 50).
#[derive(Debug, Deserialize)]
pub struct UsageQuery {
    limit: Option<u64>,
}

/// GET `account/usage`.
#[utoipa::path(
    get, path = "/api/v1/account/usage", tag = "shop", security(("bearer" = [])),
    params(("limit" = Option<u64>, Query, description = "At most this many calls, newest first (1 to 200; 50)")),
    responses((status = 200, description = "The caller's chat calls", body = crate::http::envelope::Envelope<Vec<UsageView>>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> ApiResult<Vec<UsageView>> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadParameter(format!(
            "limit must be 1 to {MAX_LIMIT}"
        )));
    }
    let rows = state.shop.store().usage_of(&user.0, limit).await?;
    Ok(ok(rows.iter().map(UsageView::from).collect()))
}
