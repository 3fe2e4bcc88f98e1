//! `/api/v1/admin/*`: what operators need to see — job counters, troubled orders (those
//! whose compensation keeps failing) and verified payments that name no order. Guarded by
//! the admin token or an operator's console session; what acts needs an admin.

use super::envelope::{ApiError, Envelope, ok};
use crate::console::SignedIn;
use crate::jobs::stats::JobTotals;
use crate::state::AppState;
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use domain::operator::Actor;
use domain::ports::{OrderJobs, UnmatchedPayments};
use serde::Serialize;
use std::collections::BTreeMap;

/// Who asks the admin API: the static admin token (`Authorization: Bearer …`), or an
/// operator's console session (its cookie, and for anything but a read the session's CSRF
/// token in `X-CSRF-Token`).
pub struct Operator(pub Actor);

/// An operator allowed to act (an admin, or the admin token): a viewer gets 403.
pub struct Acting(pub Actor);

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let given = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().strip_prefix("Bearer ").unwrap_or(v).trim());
        if let Some(given) = given {
            let expected = state.admin_token.expose();
            // Constant-time, so the token cannot be guessed byte by byte from timings.
            if expected.is_empty()
                || aws_lc_rs::constant_time::verify_slices_are_equal(
                    given.as_bytes(),
                    expected.as_bytes(),
                )
                .is_err()
            {
                return Err(ApiError::NotLoggedIn("admin token required".into()));
            }
            return Ok(Self(Actor::AdminToken));
        }
        let Some(signed_in) = SignedIn::of(parts, state).await? else {
            return Err(ApiError::NotLoggedIn(
                "an operator session or the admin token is required".into(),
            ));
        };
        if !parts.method.is_safe() {
            let csrf = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            signed_in.check_csrf(state, csrf)?;
        }
        Ok(Self(signed_in.actor()))
    }
}

impl FromRequestParts<AppState> for Acting {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Operator(actor) = Operator::from_request_parts(parts, state).await?;
        may_act(actor).map(Self)
    }
}

/// `actor`, if it may change anything: a viewer gets 403 (the admin API's and the
/// console's one check).
pub fn may_act(actor: Actor) -> Result<Actor, ApiError> {
    if !actor.may_act() {
        return Err(ApiError::Forbidden(format!(
            "operator {} is a viewer: viewers see, admins act",
            actor.name()
        )));
    }
    Ok(actor)
}

/// An order whose background checks keep failing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TroubledOrder {
    pub order_id: String,
    pub status: &'static str,
    pub check_attempts: u32,
    pub last_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// GET `admin/jobs`: every job's counters since start.
#[utoipa::path(
    get, path = "/api/v1/admin/jobs", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Each job's counters", body = crate::http::envelope::Envelope<crate::http::openapi::JobTable>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn jobs(
    _: Operator,
    State(state): State<AppState>,
) -> Json<Envelope<BTreeMap<&'static str, JobTotals>>> {
    ok(state.job_stats.snapshot())
}

/// GET `admin/troubled_orders`: orders whose checks failed at least `jobs.troubled_after_attempts` times.
#[utoipa::path(
    get, path = "/api/v1/admin/troubled_orders", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Orders whose checks keep failing", body = crate::http::envelope::Envelope<Vec<TroubledOrder>>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn troubled_orders(
    _: Operator,
    State(state): State<AppState>,
) -> Result<Json<Envelope<Vec<TroubledOrder>>>, ApiError> {
    let rows = state
        .shop
        .store()
        .troubled_orders(state.troubled_after, 100)
        .await?;
    Ok(ok(rows
        .into_iter()
        .map(|c| TroubledOrder {
            order_id: c.order.order_no.to_string(),
            status: c.order.status.as_str(),
            check_attempts: c.check_attempts,
            last_error: c.last_error,
            updated_at: c.order.updated_at,
        })
        .collect()))
}

/// A verified payment that names no order of this shop.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnmatchedPaymentView {
    pub out_trade_no: String,
    pub transaction_id: String,
    pub total_fen: i64,
    pub currency: String,
    pub mchid: String,
    pub appid: String,
    pub payer_openid: Option<String>,
    pub success_time: Option<DateTime<Utc>>,
    /// `notify` or `query`.
    pub source: String,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub times_seen: u32,
    /// The decrypted transaction, as WeChat sent it.
    pub resource: serde_json::Value,
}

/// GET `admin/unmatched_payments`: the newest 100.
#[utoipa::path(
    get, path = "/api/v1/admin/unmatched_payments", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Verified payments that name no order", body = crate::http::envelope::Envelope<Vec<UnmatchedPaymentView>>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn unmatched_payments(
    _: Operator,
    State(state): State<AppState>,
) -> Result<Json<Envelope<Vec<UnmatchedPaymentView>>>, ApiError> {
    let rows = state.shop.store().unmatched_payments(100).await?;
    Ok(ok(rows
        .into_iter()
        .map(|u| UnmatchedPaymentView {
            resource: serde_json::from_str(&u.payment.raw)
                .unwrap_or(serde_json::Value::String(u.payment.raw.clone())),
            out_trade_no: u.payment.out_trade_no,
            transaction_id: u.payment.transaction_id.to_string(),
            total_fen: u.payment.total.as_i64(),
            currency: u.payment.currency,
            mchid: u.payment.mchid,
            appid: u.payment.appid,
            payer_openid: u.payment.payer_openid,
            success_time: u.payment.success_time,
            source: u.source,
            first_seen_at: u.first_seen_at,
            last_seen_at: u.last_seen_at,
            times_seen: u.times_seen,
        })
        .collect()))
}
