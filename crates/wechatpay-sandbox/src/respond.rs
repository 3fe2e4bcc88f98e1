//! Signing every response as WeChat does (`TS\nNONCE\nBODY\n` with the platform key) and the
//! JSON error shape `{"code","message"}`.

use crate::sandbox::Sandbox;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header::CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use wechatpay::model::ErrorBody;
use wechatpay::verify::{SIGNATURE_TYPE, header, response_message};

/// A WeChat-style error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `code` field, e.g. `PARAM_ERROR`.
    pub code: &'static str,
    /// The `message` field.
    pub message: String,
}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 PARAM_ERROR.
    pub fn param(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "PARAM_ERROR", message)
    }

    /// 401 SIGN_ERROR.
    pub fn sign(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "SIGN_ERROR", message)
    }

    /// 404 ORDER_NOT_EXIST.
    pub fn order_not_exist() -> Self {
        Self::new(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在")
    }

    /// 500 SYSTEM_ERROR.
    pub fn system(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json(
            self.status,
            &ErrorBody {
                code: self.code.to_owned(),
                message: self.message,
                detail: None,
            },
        )
    }
}

/// A JSON response with the given status.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    let body = serde_json::to_vec(value).expect("wire types serialise");
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

/// The signature headers of one message, in send order.
pub fn signature_headers(
    sandbox: &Sandbox,
    serial: &str,
    body: &[u8],
    timestamp: i64,
    corrupt: bool,
) -> Vec<(String, String)> {
    let timestamp_text = timestamp.to_string();
    let nonce = wechatpay::nonce::generate();
    let signature = if corrupt {
        // Valid base64 of the right length, but not a signature of anything.
        use base64::Engine;
        let garbage: Vec<u8> = (0..256).map(|_| rand::random::<u8>()).collect();
        base64::engine::general_purpose::STANDARD.encode(garbage)
    } else {
        sandbox
            .keys()
            .platform_key
            .sign_base64(&response_message(&timestamp_text, &nonce, body))
    };
    vec![
        (header::TIMESTAMP.to_owned(), timestamp_text),
        (header::NONCE.to_owned(), nonce),
        (header::SIGNATURE.to_owned(), signature),
        (header::SERIAL.to_owned(), serial.to_owned()),
        (header::SIGNATURE_TYPE.to_owned(), SIGNATURE_TYPE.to_owned()),
        (header::REQUEST_ID.to_owned(), request_id()),
    ]
}

/// A Request-ID like WeChat's: uppercase hex, ending in a numeric code.
pub fn request_id() -> String {
    let bytes: [u8; 16] = rand::random();
    format!("{}0000", hex::encode_upper(bytes))
}

/// Middleware: buffers the response body and signs it, whatever the status (errors and 204
/// too), consuming a pending `corrupt_next_response_signature`.
pub async fn sign_response(
    State(sandbox): State<Sandbox>,
    request: Request,
    next: Next,
) -> Response {
    let requested = request
        .headers()
        .get(header::SERIAL)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = next.run(request).await;
    let (mut parts, body) = response.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!("sandbox: cannot buffer a response body: {e}");
            return ApiError::system("response body failed").into_response();
        }
    };
    let corrupt = sandbox.take_corrupt_flag();
    let now = chrono::Utc::now().timestamp();
    let serial = sandbox.serial_for(requested.as_deref());
    for (name, value) in signature_headers(&sandbox, serial, &bytes, now, corrupt) {
        parts.headers.insert(
            HeaderName::try_from(name).expect("static header names are valid"),
            HeaderValue::try_from(value).expect("signature header values are ASCII"),
        );
    }
    Response::from_parts(parts, Body::from(bytes))
}
