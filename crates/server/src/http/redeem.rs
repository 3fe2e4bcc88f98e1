//! Redemption codes (兑换码): `POST /admin/redemption_batches` makes a batch and answers its
//! codes once; `GET /admin/redemption_batches` lists batches; `POST /account/redeem` (form
//! `code`, the user's token) redeems one for the caller.

use super::admin::{Acting, Operator};
use super::auth::CodeForm;
use super::current_user::CurrentUser;
use super::envelope::{ApiError, ApiResult, ok};
use super::request_param::request_param;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::Uri;
use chrono::{DateTime, Utc};
use domain::operator::Actor;
use domain::product::ModelType;
use domain::redemption::{Batch, BatchTerms, IssuedBatch};
use domain::service::RedeemCodeError;
use serde::{Deserialize, Serialize};

/// The body of `POST /admin/redemption_batches`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewBatch {
    count: i64,
    quota: i64,
    model_types: Vec<String>,
    expires_at: DateTime<Utc>,
}

/// A batch as operators see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchView {
    batch_id: i64,
    count: u32,
    redeemed: u32,
    quota: u32,
    model_types: Vec<String>,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

impl From<&Batch> for BatchView {
    fn from(batch: &Batch) -> Self {
        Self {
            batch_id: batch.id.0,
            count: batch.terms.count,
            redeemed: batch.redeemed,
            quota: batch.terms.quota,
            model_types: batch
                .terms
                .models
                .iter()
                .map(|m| m.as_str().to_owned())
                .collect(),
            expires_at: batch.terms.expires_at,
            created_at: batch.created_at,
        }
    }
}

/// A new batch: its listing and its codes, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedBatchView {
    #[serde(flatten)]
    batch: BatchView,
    codes: Vec<String>,
}

/// POST `admin/redemption_batches`.
#[utoipa::path(
    post, path = "/api/v1/admin/redemption_batches", tag = "admin", security(("bearer" = [])),
    request_body(content = NewBatch),
    responses((status = 200, description = "The batch and its codes, shown this once", body = crate::http::envelope::Envelope<IssuedBatchView>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn create_batch(
    State(state): State<AppState>,
    Acting(actor): Acting,
    body: Result<Json<NewBatch>, JsonRejection>,
) -> ApiResult<IssuedBatchView> {
    let Json(body) = body.map_err(|e| ApiError::BadParameter(e.body_text()))?;
    let issued = issue_as(
        &state,
        &actor,
        body.count,
        body.quota,
        &body.model_types,
        body.expires_at,
    )
    .await?;
    Ok(ok(IssuedBatchView {
        batch: BatchView::from(&issued.batch),
        codes: issued.codes.iter().map(|c| c.display()).collect(),
    }))
}

/// Issues a batch as `actor` asks, and audits it (its listing, never its codes): the one
/// path of the admin API and of the console.
pub async fn issue_as(
    state: &AppState,
    actor: &Actor,
    count: i64,
    quota: i64,
    model_types: &[String],
    expires_at: DateTime<Utc>,
) -> Result<IssuedBatch, ApiError> {
    let terms = BatchTerms::parse(count, quota, model_types, expires_at, state.clock.now())
        .map_err(|e| ApiError::BadParameter(e.to_string()))?;
    let issued = state.redemptions.issue_batch(terms).await?;
    tracing::info!(batch = %issued.batch.id, count = issued.codes.len(), quota = issued.batch.terms.quota, "redemption batch issued");
    crate::console::audit::record(
        state,
        actor,
        domain::operator::AuditAction::CodeBatch,
        &issued.batch.id.to_string(),
        None::<&()>,
        Some(&BatchView::from(&issued.batch)),
    )
    .await;
    Ok(issued)
}

/// GET `admin/redemption_batches`: the 100 newest.
#[utoipa::path(
    get, path = "/api/v1/admin/redemption_batches", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "The 100 newest batches", body = crate::http::envelope::Envelope<Vec<BatchView>>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn list_batches(State(state): State<AppState>, _: Operator) -> ApiResult<Vec<BatchView>> {
    let batches = state.redemptions.batches(100).await?;
    Ok(ok(batches.iter().map(BatchView::from).collect()))
}

/// What a redemption credited.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedeemedView {
    quota: u32,
    model_types: Vec<String>,
    surplus_quota: i64,
}

/// POST `account/redeem` (form `code`).
#[tracing::instrument(skip_all, fields(user = %user.0))]
#[utoipa::path(
    post, path = "/api/v1/account/redeem", tag = "shop", security(("bearer" = [])),
    params(("code" = Option<String>, Query, description = "A redemption code")),
    responses((status = 200, description = "What it credited", body = crate::http::envelope::Envelope<RedeemedView>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn redeem(
    State(state): State<AppState>,
    user: CurrentUser,
    uri: Uri,
    body: Bytes,
) -> ApiResult<RedeemedView> {
    let typed = request_param(&uri, &body, |f: CodeForm| f.code)
        .ok_or_else(|| ApiError::BadParameter("code is required".into()))?;
    let redeemed = state
        .redemptions
        .redeem(&user.0, &typed)
        .await
        .map_err(|e| match e {
            RedeemCodeError::Limited { retry_after } => ApiError::TooMany {
                info: e.to_string(),
                retry_after_secs: retry_after.num_seconds(),
            },
            RedeemCodeError::Malformed(_) => ApiError::BadParameter(e.to_string()),
            RedeemCodeError::Unknown | RedeemCodeError::Used | RedeemCodeError::Expired => {
                ApiError::Refused(e.to_string())
            }
            RedeemCodeError::Store(e) => ApiError::Internal(e),
        })?;
    tracing::info!(quota = redeemed.quota, "redemption code redeemed");
    Ok(ok(RedeemedView {
        quota: redeemed.quota,
        model_types: redeemed
            .models
            .iter()
            .map(ModelType::as_str)
            .map(str::to_owned)
            .collect(),
        surplus_quota: redeemed.surplus_after,
    }))
}
