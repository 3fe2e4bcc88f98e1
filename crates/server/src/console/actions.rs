//! The console's state-changing forms. Each checks the session's CSRF token and the
//! operator's role, calls the same flow as the admin API, writes the audit log, and
//! answers with a redirect back to the page it came from (with what happened).

use super::audit;
use super::render::PageResult;
use super::session::SignedIn;
use crate::http::envelope::ApiError;
use crate::state::AppState;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use domain::operator::AuditAction;
use domain::order::{OrderNo, OrderStatus};
use domain::ports::{Delivery, OrderRepository};
use domain::service::Reconciled;
use serde::Deserialize;

/// Who re-checks in the order's history: an operator, through the console.
const RECHECK: &str = "operator";

/// Back to `path` (which may have a query already) with a message for the operator.
pub fn back(path: &str, outcome: Result<String, String>) -> axum::response::Response {
    let (key, text) = match outcome {
        Ok(done) => ("done", done),
        Err(problem) => ("problem", problem),
    };
    let text: String = url::form_urlencoded::byte_serialize(text.as_bytes()).collect();
    let joint = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{joint}{key}={text}")).into_response()
}

fn order_no(text: &str) -> Result<OrderNo, ApiError> {
    OrderNo::parse(text).map_err(|e| ApiError::BadParameter(e.to_string()))
}

/// The refund form.
#[derive(Deserialize)]
pub struct RefundForm {
    #[serde(default)]
    csrf: String,
    amount_fen: u64,
    reason: String,
    #[serde(default)]
    force: bool,
}

/// POST `/admin/orders/{no}/refund`.
pub async fn refund(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(no): Path<String>,
    Form(form): Form<RefundForm>,
) -> PageResult {
    let actor = signed_in.acting(&state, &form.csrf)?;
    let no = order_no(&no)?;
    let page = format!("/admin/orders/{no}");
    match crate::http::refunds::refund_as(
        &state,
        &actor,
        &no,
        form.amount_fen,
        &form.reason,
        form.force,
    )
    .await
    {
        Ok(refund) => Ok(back(
            &page,
            Ok(format!(
                "退款 {} 已提交 refund requested ({})",
                refund.refund_no.as_str(),
                refund.status.as_str()
            )),
        )),
        Err(e @ (ApiError::Refused(_) | ApiError::BadParameter(_) | ApiError::Unavailable(_))) => {
            e.log();
            Ok(back(&page, Err(e.to_string())))
        }
        Err(e) => Err(e.into()),
    }
}

/// The re-check form.
#[derive(Deserialize)]
pub struct RecheckForm {
    #[serde(default)]
    csrf: String,
    /// `troubled` to go back to that list.
    #[serde(default)]
    back: String,
}

/// POST `/admin/orders/{no}/recheck`: an unpaid order is asked about at WeChat now, a paid
/// one is delivered now.
pub async fn recheck(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(no): Path<String>,
    Form(form): Form<RecheckForm>,
) -> PageResult {
    let actor = signed_in.acting(&state, &form.csrf)?;
    let no = order_no(&no)?;
    let page = if form.back == "troubled" {
        "/admin/troubled".to_owned()
    } else {
        format!("/admin/orders/{no}")
    };
    let store = state.shop.store();
    let order = store
        .order(&no)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no order {no}")))?;
    let outcome = if order.status == OrderStatus::Paid {
        match state.shop.deliver(&no, RECHECK).await? {
            Delivery::Delivered(_) => Ok("已发放 delivered now".to_owned()),
            Delivery::AlreadyDelivered => Ok("早已发放 delivered before".to_owned()),
            Delivery::NotPaid(s) => Ok(format!("未支付 not paid ({})", s.as_str())),
            Delivery::NotFound => Err(format!("no order {no}")),
        }
    } else {
        match state.shop.reconcile(&order, RECHECK).await {
            Ok(Reconciled::Payment(_)) => {
                Ok("微信说已支付：已记账 paid at WeChat: applied".to_owned())
            }
            Ok(Reconciled::Unpaid) => Ok("微信说未支付 still unpaid at WeChat".to_owned()),
            Ok(Reconciled::ClosedAtChannel) => {
                Ok("微信已关单：已关闭 closed at WeChat: closed here".to_owned())
            }
            Ok(Reconciled::UnknownToChannel) => Ok("微信没有这个订单 unknown to WeChat".to_owned()),
            Ok(Reconciled::Settled(s)) => Ok(format!("无需查询 nothing to ask ({})", s.as_str())),
            Err(e) => {
                tracing::warn!(order = %no, error = %e, "an operator's re-check failed");
                Err(format!("查询失败 the check failed: {e}"))
            }
        }
    };
    /// What the audit log keeps of a re-check: the status it left and what it found.
    #[derive(serde::Serialize)]
    struct Rechecked<'a> {
        status: Option<&'static str>,
        outcome: &'a str,
    }
    let after = Rechecked {
        status: store.order(&no).await?.map(|o| o.status.as_str()),
        outcome: match &outcome {
            Ok(done) => done,
            Err(problem) => problem,
        },
    };
    audit::record(
        &state,
        &actor,
        AuditAction::Recheck,
        no.as_str(),
        Some(&order.status.as_str()),
        Some(&after),
    )
    .await;
    Ok(back(&page, outcome))
}
