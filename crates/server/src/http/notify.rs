//! POST `/api/v1/sale/pay_notify`: WeChat Pay's payment notification.
//!
//! The channel verifies (signature, 300 s window), decrypts (AEAD tag) and says what the
//! callback reports; the shop applies it in one conditional transition. Answers: 204 when
//! handled (a repeat too), 401 when the message is not WeChat Pay's, 400 when it is but
//! breaks the protocol, 5xx when it cannot be recorded now: nothing changes on any refusal,
//! and WeChat sends it again.

use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::ports::{Callback, CallbackRefusal};
use domain::service::{CallbackError, CallbackOutcome, Confirmation};
use wechatpay::model::NotifyAnswer;

/// WeChat's callback answer, `{"code":"FAIL","message":…}`.
fn fail(status: StatusCode, message: &str) -> Response {
    let answer = NotifyAnswer {
        code: "FAIL".into(),
        message: message.into(),
    };
    (status, Json(answer)).into_response()
}

/// Handles one notification.
#[utoipa::path(
    post, path = "/api/v1/sale/pay_notify", tag = "shop",
    request_body(content = String, description = "WeChat Pay's signed notification (JSON, its resource AES-256-GCM encrypted)", content_type = "application/json"),
    responses(
        (status = 204, description = "Taken: WeChat stops sending it"),
        (status = "default", description = "Not taken: WeChat sends it again", body = crate::http::openapi::NotifyFailure)
    )
)]
pub async fn pay_notify(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let callback = Callback {
        headers: &headers,
        body: &body,
    };
    let handled = state.shop.handle_callback(callback).await;
    metrics::counter!("chatmall_notifications_total", "outcome" => outcome(&handled)).increment(1);
    match handled {
        Ok(CallbackOutcome::Payment(Confirmation::Paid)) => {
            state.delivery.wake();
            StatusCode::NO_CONTENT.into_response()
        }
        // A repeat, a review and an unmatched payment are kept by the shop: answering
        // success stops WeChat from sending them again fifteen times over a day.
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(CallbackError::Refused(refusal @ CallbackRefusal::NotGenuine(_))) => {
            tracing::warn!(%refusal, "pay_notify refused");
            fail(StatusCode::UNAUTHORIZED, "verification failed")
        }
        Err(CallbackError::Refused(refusal @ CallbackRefusal::Unreadable(_))) => {
            tracing::error!(%refusal, "pay_notify refused: WeChat will send it again");
            fail(StatusCode::BAD_REQUEST, "unreadable notification")
        }
        Err(CallbackError::Store(e)) => {
            tracing::error!(error = ?e, "pay_notify: cannot record the payment now; WeChat will retry");
            fail(StatusCode::INTERNAL_SERVER_ERROR, "temporarily unavailable")
        }
    }
}

/// What a notification came to, as the metrics name it.
fn outcome(handled: &Result<CallbackOutcome, CallbackError>) -> &'static str {
    match handled {
        Ok(CallbackOutcome::Payment(Confirmation::Paid)) => "accepted",
        Ok(CallbackOutcome::Payment(Confirmation::AlreadyPaid)) => "repeat",
        Ok(CallbackOutcome::Payment(Confirmation::Review(_))) => "review",
        Ok(CallbackOutcome::Payment(Confirmation::Unmatched { .. })) => "unmatched",
        Ok(CallbackOutcome::Refund(_)) => "refund",
        Ok(CallbackOutcome::Nothing) => "nothing",
        Err(CallbackError::Refused(CallbackRefusal::NotGenuine(_))) => "refused",
        Err(CallbackError::Refused(CallbackRefusal::Unreadable(_))) => "unreadable",
        Err(CallbackError::Store(_)) => "error",
    }
}
