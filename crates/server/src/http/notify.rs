//! POST `/api/v1/sale/pay_notify`: WeChat Pay's payment notification.
//!
//! decode → verify (signature, 300 s window) → decrypt (AEAD tag) → check against the order
//! → one conditional transition. Answers: 204 when handled (a repeat too), 401 when the
//! message is not WeChat Pay's (nothing changes), 5xx when it cannot be processed now, so
//! that WeChat sends it again.

use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::service::{ConfirmError, Confirmation};
use infra::wechatpay_channel::confirmation_of;
use wechatpay::model::NotifyAnswer;
use wechatpay::notify::NotificationResource;

fn fail(status: StatusCode, message: &str) -> Response {
    let answer = NotifyAnswer {
        code: "FAIL".into(),
        message: message.into(),
    };
    (status, Json(answer)).into_response()
}

/// Handles one notification.
#[tracing::instrument(skip_all, fields(event_id, order_no))]
pub async fn pay_notify(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let notification = match state.wechatpay.parse_notification(&headers, &body) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "pay_notify refused: not a genuine WeChat Pay notification");
            return fail(StatusCode::UNAUTHORIZED, "verification failed");
        }
    };
    tracing::Span::current().record("event_id", notification.id.as_str());
    let transaction = match &notification.resource {
        NotificationResource::Transaction(t) => t,
        _ => {
            tracing::info!(event_type = %notification.event_type, "pay_notify: event ignored");
            return StatusCode::NO_CONTENT.into_response();
        }
    };
    tracing::Span::current().record("order_no", transaction.out_trade_no.as_str());
    let Some(payment) = confirmation_of(transaction) else {
        tracing::info!(state = ?transaction.trade_state, "pay_notify: not a success, ignored");
        return StatusCode::NO_CONTENT.into_response();
    };
    match state.shop.confirm_payment(&payment, "notify").await {
        Ok(Confirmation::Paid) => {
            state.delivery.wake();
            StatusCode::NO_CONTENT.into_response()
        }
        // An unmatched payment is kept (and logged once) by the shop: answering success
        // stops WeChat from sending it again fifteen times over a day.
        Ok(
            Confirmation::AlreadyPaid | Confirmation::Review(_) | Confirmation::Unmatched { .. },
        ) => StatusCode::NO_CONTENT.into_response(),
        Err(ConfirmError::Store(e)) => {
            tracing::error!(error = ?e, "pay_notify: cannot record the payment now; WeChat will retry");
            fail(StatusCode::INTERNAL_SERVER_ERROR, "temporarily unavailable")
        }
    }
}
