//! Reconciliation for operators: `POST /admin/reconciliations` (`{"date":"yyyy-MM-dd"}`)
//! reconciles a Beijing-time day against WeChat's trade bill now; `GET
//! /admin/reconciliations/{date}` serves the stored report.

use super::admin::{Acting, Operator};
use super::envelope::{ApiError, ApiPath, ApiResult, ok};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use chrono::{DateTime, NaiveDate, Utc};
use domain::operator::Actor;
use domain::ports::Books;
use domain::reconciliation::ReconciliationReport;
use domain::service::BooksError;
use serde::{Deserialize, Serialize};

/// The body of a run.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    date: String,
}

/// One difference as operators see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DifferenceView {
    kind: String,
    order_id: Option<String>,
    refund_no: Option<String>,
    detail: String,
    action: String,
}

/// A day's report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportView {
    date: String,
    run_at: DateTime<Utc>,
    /// Nothing is left for an operator.
    agrees: bool,
    bill_payments: u64,
    bill_paid_fen: i64,
    bill_refunds: u64,
    bill_refunded_fen: i64,
    our_payments: u64,
    our_paid_fen: i64,
    our_refunds: u64,
    our_refunded_fen: i64,
    confirmed: u64,
    refunds_settled: u64,
    differences: Vec<DifferenceView>,
}

impl From<&ReconciliationReport> for ReportView {
    fn from(r: &ReconciliationReport) -> Self {
        Self {
            date: r.date.to_string(),
            run_at: r.run_at,
            agrees: r.agrees(),
            bill_payments: r.statement_payments,
            bill_paid_fen: r.statement_paid_fen,
            bill_refunds: r.statement_refunds,
            bill_refunded_fen: r.statement_refunded_fen,
            our_payments: r.our_payments,
            our_paid_fen: r.our_paid_fen,
            our_refunds: r.our_refunds,
            our_refunded_fen: r.our_refunded_fen,
            confirmed: r.confirmed,
            refunds_settled: r.refunds_settled,
            differences: r
                .differences
                .iter()
                .map(|d| DifferenceView {
                    kind: d.kind.clone(),
                    order_id: d.order_no.clone(),
                    refund_no: d.refund_no.clone(),
                    detail: d.detail.clone(),
                    action: d.action.clone(),
                })
                .collect(),
        }
    }
}

pub fn date_of(text: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| ApiError::BadParameter(format!("date {text:?} is not yyyy-MM-dd")))
}

/// POST `admin/reconciliations`.
#[utoipa::path(
    post, path = "/api/v1/admin/reconciliations", tag = "admin", security(("bearer" = [])),
    request_body(content = RunBody),
    responses((status = 200, description = "The day's report", body = crate::http::envelope::Envelope<ReportView>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn run(
    State(state): State<AppState>,
    Acting(actor): Acting,
    body: Result<Json<RunBody>, JsonRejection>,
) -> ApiResult<ReportView> {
    let Json(body) = body.map_err(|e| ApiError::BadParameter(e.body_text()))?;
    let report = run_as(&state, &actor, &body.date).await?;
    Ok(ok(ReportView::from(&report)))
}

/// Reconciles the Beijing day `date` (`yyyy-MM-dd`) now as `actor` asks, and audits it:
/// the one path of the admin API and of the console.
pub async fn run_as(
    state: &AppState,
    actor: &Actor,
    date: &str,
) -> Result<ReconciliationReport, ApiError> {
    let date = date_of(date)?;
    let today = domain::reconciliation::beijing_date(state.clock.now());
    if date > today {
        return Err(ApiError::BadParameter(format!(
            "{date} has not begun in Beijing"
        )));
    }
    let report = crate::jobs::books::reconcile(state, date)
        .await
        .map_err(|e| match e {
            BooksError::Channel(_) => ApiError::Unavailable(e.to_string()),
            BooksError::Store(e) => ApiError::Internal(e),
        })?;
    crate::console::audit::record(
        state,
        actor,
        domain::operator::AuditAction::Reconciliation,
        &date.to_string(),
        None::<&()>,
        Some(&ReportView::from(&report)),
    )
    .await;
    Ok(report)
}

/// GET `admin/reconciliations/{date}`.
#[utoipa::path(
    get, path = "/api/v1/admin/reconciliations/{date}", tag = "admin", security(("bearer" = [])),
    params(("date" = String, Path, description = "A day, YYYY-MM-DD (Beijing)")),
    responses((status = 200, description = "The day's stored report", body = crate::http::envelope::Envelope<ReportView>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn show(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(date): ApiPath<String>,
) -> ApiResult<ReportView> {
    let date = date_of(&date)?;
    let report = state
        .shop
        .store()
        .report(date)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{date} was not reconciled")))?;
    Ok(ok(ReportView::from(&report)))
}
