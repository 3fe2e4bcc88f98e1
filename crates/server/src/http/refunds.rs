//! Refunds for operators: `POST /admin/orders/{orderId}/refunds` (`{"amountFen","reason",
//! "force"}`) pays money back on a delivered order; `GET /admin/orders/{orderId}` shows the
//! order with its refunds; `GET /admin/refunds?status=ABNORMAL` lists refunds by state,
//! each with what an operator should do about it.

use super::admin::{Acting, Operator};
use super::envelope::{ApiError, ApiPath, ApiQuery, ApiResult, ok};
use super::views::OrderView;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use chrono::{DateTime, Utc};
use domain::money::Fen;
use domain::operator::{Actor, AuditAction};
use domain::order::{Order, OrderNo};
use domain::ports::{OrderRepository, RefundRepository};
use domain::refund::{Refund, RefundAsk, RefundReason, RefundRefusal, RefundStatus};
use domain::service::RefundError;
use serde::{Deserialize, Serialize};

/// The body of a refund request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefundBody {
    amount_fen: u64,
    reason: String,
    #[serde(default)]
    force: bool,
}

/// A refund as operators see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundView {
    refund_no: String,
    order_id: String,
    user_id: String,
    amount_fen: u64,
    quota_back: u32,
    reason: String,
    forced: bool,
    status: &'static str,
    requested_by: String,
    channel_refund_id: Option<String>,
    /// What WeChat last reported of it, as verified.
    channel_report: Option<serde_json::Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    /// What an operator should do, when anything.
    to_do: Option<&'static str>,
}

impl From<&Refund> for RefundView {
    fn from(r: &Refund) -> Self {
        Self {
            refund_no: r.refund_no.to_string(),
            order_id: r.order_no.to_string(),
            user_id: r.user_id.to_string(),
            amount_fen: r.amount.fen(),
            quota_back: r.quota_back,
            reason: r.reason.as_str().to_owned(),
            forced: r.forced,
            status: r.status.as_str(),
            requested_by: r.requested_by.clone(),
            channel_refund_id: r.channel_refund_id.clone(),
            channel_report: r
                .channel_report
                .as_deref()
                .map(|raw| serde_json::from_str(raw).unwrap_or(serde_json::Value::from(raw))),
            created_at: r.created_at,
            updated_at: r.updated_at,
            ended_at: r.ended_at,
            to_do: to_do(r.status),
        }
    }
}

fn to_do(status: RefundStatus) -> Option<&'static str> {
    match status {
        RefundStatus::Abnormal => Some(
            "WeChat could not pay this back (the payer's account or card is gone). Pay it back \
             another way (merchant platform: 交易中心 → 退款管理 → 异常退款), or have WeChat \
             retry it to another account; a later success notification still completes it here. \
             The quota stays taken back.",
        ),
        RefundStatus::Requested => Some(
            "WeChat's answer is not known yet: the refund job asks, and sends it again with \
             the same number if WeChat never saw it. Nothing to do unless it stays here.",
        ),
        _ => None,
    }
}

/// An order as operators see it: the buyer's view plus who bought it, the payment, the
/// money paid back and every transition with its cause (what support reads).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminOrderView {
    #[serde(flatten)]
    order: OrderView,
    user_id: String,
    transaction_id: Option<String>,
    review_reason: Option<String>,
    /// What the payment under review carried: a REVIEW refund pays back exactly this.
    review_paid_fen: Option<u64>,
    refunded_fen: u64,
    refunds: Vec<RefundView>,
    history: Vec<EventView>,
}

/// One transition of an order's history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    /// The refund it moved, for a refund's transition.
    refund_no: Option<String>,
    transition: String,
    to: String,
    /// `buyer`, `notification:<id>`, `query:<who asked>`, `job:<name>`, `operator:<name>`.
    cause: String,
    /// What it acted on (the payment or refund as WeChat reported it, …), as JSON.
    detail: Option<serde_json::Value>,
    /// Unix milliseconds.
    at: i64,
}

impl From<domain::order::OrderEvent> for EventView {
    fn from(event: domain::order::OrderEvent) -> Self {
        Self {
            refund_no: event.refund_no,
            transition: event.transition,
            to: event.to,
            cause: event.cause,
            // Stored as written: JSON, or kept as text if it somehow is not.
            detail: event
                .detail
                .map(|text| serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))),
            at: event.at.timestamp_millis(),
        }
    }
}

fn order_no(text: &str) -> Result<OrderNo, ApiError> {
    OrderNo::parse(text).map_err(|e| ApiError::BadParameter(e.to_string()))
}

/// Order `no` with its refunds and its history (what support reads), or 404.
pub async fn order_file(
    state: &AppState,
    no: &OrderNo,
) -> Result<(Order, Vec<Refund>, Vec<domain::order::OrderEvent>), ApiError> {
    let store = state.shop.store();
    let order = store
        .order(no)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no order {no}")))?;
    let refunds = store.refunds_of(no).await?;
    let history = store.history(no).await?;
    Ok((order, refunds, history))
}

/// GET `admin/orders/{orderId}`.
#[utoipa::path(
    get, path = "/api/v1/admin/orders/{order_id}", tag = "admin", security(("bearer" = [])),
    params(("order_id" = String, Path, description = "The order number")),
    responses((status = 200, description = "The order, its refunds and its history", body = crate::http::envelope::Envelope<AdminOrderView>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn order(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(order_id): ApiPath<String>,
) -> ApiResult<AdminOrderView> {
    let (order, refunds, history) = order_file(&state, &order_no(&order_id)?).await?;
    Ok(ok(AdminOrderView {
        order: OrderView::of(&order, state.clock.now()),
        user_id: order.user_id.to_string(),
        transaction_id: order.transaction_id.as_ref().map(|t| t.to_string()),
        review_reason: order.review_reason.clone(),
        review_paid_fen: order.review_paid.map(|f| f.fen()),
        refunded_fen: refunds
            .iter()
            .filter(|r| r.status == RefundStatus::Success)
            .map(|r| r.amount.fen())
            .sum(),
        refunds: refunds.iter().map(RefundView::from).collect(),
        history: history.into_iter().map(EventView::from).collect(),
    }))
}

/// POST `admin/orders/{orderId}/refunds`.
#[utoipa::path(
    post, path = "/api/v1/admin/orders/{order_id}/refunds", tag = "admin", security(("bearer" = [])),
    params(("order_id" = String, Path, description = "The order number")),
    request_body(content = RefundBody),
    responses((status = 200, description = "The refund as it stands", body = crate::http::envelope::Envelope<RefundView>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn create(
    State(state): State<AppState>,
    Acting(actor): Acting,
    ApiPath(order_id): ApiPath<String>,
    body: Result<Json<RefundBody>, JsonRejection>,
) -> ApiResult<RefundView> {
    let no = order_no(&order_id)?;
    let Json(body) = body.map_err(|e| ApiError::BadParameter(e.body_text()))?;
    let refund = refund_as(
        &state,
        &actor,
        &no,
        body.amount_fen,
        &body.reason,
        body.force,
    )
    .await?;
    Ok(ok(RefundView::from(&refund)))
}

/// The order's state a refund is audited with.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderState {
    status: &'static str,
    amount_fen: u64,
}

/// Pays `amount_fen` of order `no` back as `actor` asks, and audits it: the one path of the
/// admin API and of the console.
pub async fn refund_as(
    state: &AppState,
    actor: &Actor,
    no: &OrderNo,
    amount_fen: u64,
    reason: &str,
    force: bool,
) -> Result<Refund, ApiError> {
    let bad = |e: RefundRefusal| ApiError::BadParameter(e.to_string());
    let ask = RefundAsk {
        amount: Fen::new(amount_fen).map_err(|e| ApiError::BadParameter(e.to_string()))?,
        reason: RefundReason::parse(reason).map_err(bad)?,
        force,
    };
    let before = state.shop.store().order(no).await?.map(|o| OrderState {
        status: o.status.as_str(),
        amount_fen: o.amount.fen(),
    });
    let asked = state.shop.request_refund(no, &ask, actor.name()).await;
    // What the audit log says came of it. A refund that failed after it may have been
    // opened (and sent) is audited too, as asked for with an outcome not known here.
    let after = match &asked {
        Ok(refund) => Some(serde_json::json!(RefundView::from(refund))),
        Err(e @ (RefundError::Busy | RefundError::Store(_))) => {
            Some(serde_json::json!({"amountFen": amount_fen, "outcome": format!("unknown: {e}")}))
        }
        Err(_) => None,
    };
    if let Some(after) = after {
        crate::console::audit::record(
            state,
            actor,
            AuditAction::Refund,
            no.as_str(),
            before.as_ref(),
            Some(&after),
        )
        .await;
    }
    let refund = asked.map_err(|e| match e {
        RefundError::OrderNotFound(_) => ApiError::NotFound(e.to_string()),
        RefundError::Refused(RefundRefusal::Reason | RefundRefusal::Zero) => {
            ApiError::BadParameter(e.to_string())
        }
        RefundError::Refused(_) => ApiError::Refused(e.to_string()),
        RefundError::Busy => ApiError::Unavailable(e.to_string()),
        RefundError::Store(e) => ApiError::Internal(e),
    })?;
    Ok(refund)
}

/// `?status=`.
#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    status: Option<String>,
}

/// GET `admin/refunds?status=ABNORMAL` (the default): the 100 newest in that state.
#[utoipa::path(
    get, path = "/api/v1/admin/refunds", tag = "admin", security(("bearer" = [])),
    params(("status" = Option<String>, Query, description = "REQUESTED, PROCESSING, SUCCESS, ABNORMAL (default), CLOSED or REFUSED")),
    responses((status = 200, description = "The 100 newest refunds in that state", body = crate::http::envelope::Envelope<Vec<RefundView>>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn list(
    State(state): State<AppState>,
    _: Operator,
    ApiQuery(query): ApiQuery<StatusQuery>,
) -> ApiResult<Vec<RefundView>> {
    let status = match query.status.as_deref() {
        None => RefundStatus::Abnormal,
        Some(text) => {
            RefundStatus::parse(text).map_err(|e| ApiError::BadParameter(e.to_string()))?
        }
    };
    let refunds = state.shop.store().refunds_in(status, 100).await?;
    Ok(ok(refunds.iter().map(RefundView::from).collect()))
}
