//! `/api/v1/admin/*`: what operators need to see — job counters and troubled orders (those
//! whose compensation keeps failing). Guarded by a bearer token; disabled when none is set.

use super::envelope::{ApiError, Envelope, ok};
use crate::jobs::stats::JobTotals;
use crate::state::AppState;
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use domain::ports::OrderJobs;
use serde::Serialize;
use std::collections::BTreeMap;

/// An operator, proven by the admin token.
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let expected = state.admin_token.expose();
        if expected.is_empty() {
            return Err(ApiError::NotFound(
                "the admin API is disabled (set admin.token)".into(),
            ));
        }
        let given = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().strip_prefix("Bearer ").unwrap_or(v).trim())
            .unwrap_or_default();
        // Constant-time, so the token cannot be guessed byte by byte from timings.
        if aws_lc_rs::constant_time::verify_slices_are_equal(given.as_bytes(), expected.as_bytes())
            .is_err()
        {
            return Err(ApiError::NotLoggedIn("admin token required".into()));
        }
        Ok(Operator)
    }
}

/// An order whose background checks keep failing.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TroubledOrder {
    pub order_id: String,
    pub status: &'static str,
    pub check_attempts: u32,
    pub last_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// GET `admin/jobs`: every job's counters since start.
pub async fn jobs(
    _: Operator,
    State(state): State<AppState>,
) -> Json<Envelope<BTreeMap<&'static str, JobTotals>>> {
    ok(state.job_stats.snapshot())
}

/// GET `admin/troubled_orders`: orders whose checks failed at least `jobs.troubled_after_attempts` times.
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
