//! `POST /api/v1/chatgpt/chat/completions`: the original system's chat route, as its
//! back-end behaves (DESIGN.md §5), so its front-end works unchanged.
//!
//! In: `{model, messages:[{role, content}], …}`, as our pages' route takes it. Out, always
//! `text/event-stream;charset=UTF-8`: the answer's deltas as bare text; or, before any,
//! the body `0003` for a missing, invalid or expired token, or one plain-text sentence in
//! the original's words for a refusal (nothing spent), or the original's two-line error
//! text when the model service fails (its price given back). The original answered all of
//! these with HTTP 200, and its front-end shows the body as it is. A body that is not a
//! chat request gets a plain-text sentence too, with 400 (413 when too large).

use super::chat::{MAX_BODY, parse};
use super::current_user::CurrentUser;
use super::envelope::{ApiError, code};
use crate::chat::frames;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::service::ChatError;

/// The content type of every answer of this route, as the original's emitter sent it.
pub const CONTENT_TYPE: &str = "text/event-stream;charset=UTF-8";
/// The original's text for a model service that failed or timed out.
pub const UPSTREAM_FAILURE: &str = "【错误编码】502\r\n【错误提示】网络超时，请重新对话尝试。";

/// POST `chatgpt/chat/completions`.
#[tracing::instrument(skip_all)]
#[utoipa::path(
    post, path = "/api/v1/chatgpt/chat/completions", tag = "chat", security(("bearer" = [])),
    request_body(content = crate::http::openapi::ChatCompletionRequest),
    responses(
        (status = 200, description = "The answer as bare text; or `0003`, or a refusal in the original's words", content_type = "text/event-stream;charset=UTF-8", body = String),
        (status = "default", description = "A body that is not a chat request: one sentence", content_type = "text/event-stream;charset=UTF-8", body = String)
    )
)]
pub async fn completions(
    State(state): State<AppState>,
    user: Result<CurrentUser, ApiError>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(CurrentUser(user)) = user else {
        tracing::info!("chat refused: no valid session token");
        return text(StatusCode::OK, code::TOKEN_ERROR.to_owned());
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            tracing::info!(%user, "chat refused: body too large");
            let info = format!("请求过大：最多 {} KiB。", MAX_BODY / 1024);
            return text(StatusCode::PAYLOAD_TOO_LARGE, info);
        }
        Err(rejection) => {
            tracing::info!(%user, error = %rejection, "chat refused: unreadable body");
            return text(rejection.status(), format!("请求有误：{rejection}"));
        }
    };
    let (request, options) = match parse(&body) {
        Ok(parsed) => parsed,
        Err(why) => {
            tracing::info!(%user, error = %why, "chat refused: bad body");
            return text(StatusCode::BAD_REQUEST, format!("请求有误：{why}"));
        }
    };
    tracing::info!(%user, model = request.model.as_str(), "chat call (original route)");
    match state
        .chat
        .start(&user.clone().into(), request, &options)
        .await
    {
        Ok(answer) => stream(Body::from_stream(frames::bare(answer, UPSTREAM_FAILURE))),
        Err(refusal) => {
            let (status, sentence) = sentence(&refusal);
            match &refusal {
                ChatError::Store(e) => tracing::error!(error = ?e, "chat call failed"),
                // Logged with its details where it happened (the chat service).
                ChatError::Model(_) => {}
                other => tracing::info!(%user, error = %other, "chat call refused"),
            }
            text(status, sentence)
        }
    }
}

/// The original's words for each refusal (and ours, in its style, where it had none).
fn sentence<E>(refusal: &ChatError<E>) -> (StatusCode, String) {
    let ok = |text: String| (StatusCode::OK, text);
    match refusal {
        ChatError::TrialUsedUp { calls } => ok(format!("您今日的免费{calls}次，已耗尽！")),
        ChatError::Frozen => {
            ok("您的账户已冻结，暂时不可使用。如果有疑问，可以联系客户解冻账户。".into())
        }
        ChatError::ModelNotGranted(model) => ok(format!(
            "当前账户不支持使用 {model} 模型！可以联系客服升级账户。"
        )),
        ChatError::NoQuota { total } => ok(format!("个人账户，总额度【{total}】次，已耗尽！")),
        ChatError::NoAccount => ok("您还没有可用的额度，请先购买套餐。".into()),
        ChatError::ModelNotServed(model) => ok(format!("暂不支持 {model} 模型，请换一个模型。")),
        ChatError::SensitiveWords => ok("您的提问包含敏感词，请修改后重新提问。".into()),
        // This route takes no API keys; the case is the metered chat's.
        ChatError::KeyCapReached => ok("当前密钥的额度已用完。".into()),
        ChatError::Model(_) => ok(UPSTREAM_FAILURE.into()),
        ChatError::Store(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "【错误编码】500\r\n【错误提示】服务暂时不可用，请稍后重试。".into(),
        ),
    }
}

/// A whole answer of this route: `body` as it is.
fn text(status: StatusCode, body: String) -> Response {
    let mut response = stream(Body::from(body));
    *response.status_mut() = status;
    response
}

fn stream(body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-cache"),
            // Proxies such as nginx must not hold deltas back.
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        body,
    )
        .into_response()
}
