//! Verifying merchant requests: the `Authorization` header over
//! `METHOD\nPATH?QUERY\nTS\nNONCE\nBODY\n`, rebuilt from the request exactly as received.

use crate::respond::ApiError;
use crate::sandbox::Sandbox;
use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use wechatpay::signing::{AuthorizationHeader, request_message};
use wechatpay::verify::REPLAY_WINDOW_SECS;

/// The largest request body accepted (WeChat's bodies are small).
const MAX_BODY: usize = 1 << 20;

/// Checks one request's authorization: parse, merchant and serial, replay window, signature.
pub fn verify_request(
    sandbox: &Sandbox,
    method: &str,
    canonical_url: &str,
    authorization: Option<&str>,
    body: &[u8],
    now_unix: i64,
) -> Result<(), ApiError> {
    let value = authorization.ok_or_else(|| ApiError::sign("Http头缺少Authorization"))?;
    let auth: AuthorizationHeader = value
        .parse()
        .map_err(|e| ApiError::sign(format!("Http头Authorization值格式错误: {e}")))?;
    let keys = sandbox.keys();
    if auth.mchid != keys.mchid {
        return Err(ApiError::sign(format!("商户号 {} 不存在", auth.mchid)));
    }
    if !auth
        .serial_no
        .eq_ignore_ascii_case(&keys.merchant_serial_no)
    {
        return Err(ApiError::sign(format!(
            "商户证书序列号 {} 有误",
            auth.serial_no
        )));
    }
    // Not yet authenticated: no arithmetic on it may overflow.
    let skew = i64::try_from(now_unix.abs_diff(auth.timestamp)).unwrap_or(i64::MAX);
    if skew >= REPLAY_WINDOW_SECS {
        return Err(ApiError::sign(format!(
            "timestamp is {skew} s away from the server time (window {REPLAY_WINDOW_SECS} s)"
        )));
    }
    let message = request_message(method, canonical_url, auth.timestamp, &auth.nonce_str, body);
    sandbox
        .merchant_public_key()
        .verify_base64(&message, &auth.signature)
        .map_err(|e| ApiError::sign(format!("签名错误: {e}")))
}

/// Middleware: buffers the body, verifies the signature, and passes the request on
/// unchanged (the handler re-reads the same bytes).
pub async fn authenticate(
    State(sandbox): State<Sandbox>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => return ApiError::param("request body too large or unreadable").into_response(),
    };
    // The URL as the merchant sent it: a host app may have rewritten `uri` when nesting.
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map(|o| o.0.clone())
        .unwrap_or_else(|| parts.uri.clone());
    let canonical = uri
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| uri.path().to_owned());
    let authorization = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Err(e) = verify_request(
        &sandbox,
        parts.method.as_str(),
        &canonical,
        authorization,
        &bytes,
        chrono::Utc::now().timestamp(),
    ) {
        return e.into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
