//! `POST /api/v1/auth/login` (form or query `code`): a login code for a session token.
//!
//! Failed attempts are limited per client address and for everyone together (see
//! `login::limiter`); while limited, even the right code is refused with 429, so guessing
//! cannot continue. A wrong, used or expired code is one answer: 400 with `0002`.

use super::envelope::{ApiError, Envelope, code, ok};
use crate::login::limiter::Limited;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use domain::login::{LoginCode, LoginCodes};
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The address failed logins are counted against: the TCP peer, or with
/// `login.trust_forwarded_for` the last `X-Forwarded-For` entry (the one the proxy added).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.login.trust_forwarded_for
            && let Some(ip) = forwarded_for(parts)
        {
            return Ok(Self(ip));
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        // Served without connect info (a router in a test harness): one shared bucket,
        // which errs on the side of limiting.
        Ok(Self(peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))))
    }
}

fn forwarded_for(parts: &Parts) -> Option<IpAddr> {
    let values = parts.headers.get_all("x-forwarded-for");
    let last = values.iter().next_back()?.to_str().ok()?;
    last.rsplit(',').next()?.trim().parse().ok()
}

#[derive(Debug, Deserialize)]
struct CodeForm {
    code: Option<String>,
}

/// A login refusal: the contract's errors, or the brute-force limit (429).
#[derive(Debug)]
pub enum LoginError {
    Api(ApiError),
    Limited(IpAddr, Limited),
}

impl From<ApiError> for LoginError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl IntoResponse for LoginError {
    fn into_response(self) -> Response {
        let (ip, limited) = match self {
            Self::Api(e) => return e.into_response(),
            Self::Limited(ip, limited) => (ip, limited),
        };
        let (info, retry_after) = match limited {
            Limited::Address { retry_after } => (
                "too many failed logins from your address; try again later",
                retry_after,
            ),
            Limited::Global { retry_after } => (
                "too many failed logins; login is paused, try again later",
                retry_after,
            ),
        };
        let secs = retry_after.as_secs().max(1);
        tracing::info!(client = %ip, retry_after_secs = secs, "login refused: {info}");
        let body = Envelope::<()> {
            code: code::ERROR,
            info: format!("{info} (in {secs} s)"),
            data: None,
        };
        let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        response
    }
}

/// `code` from the query string or the form body, as the original's `@RequestParam`.
fn code_of(uri: &Uri, body: &[u8]) -> Result<LoginCode, ApiError> {
    let from_query = uri
        .query()
        .and_then(|q| serde_urlencoded::from_str::<CodeForm>(q).ok())
        .and_then(|f| f.code);
    let from_body = serde_urlencoded::from_bytes::<CodeForm>(body)
        .ok()
        .and_then(|f| f.code);
    let text = from_query
        .or(from_body)
        .ok_or_else(|| ApiError::BadParameter("code is required".into()))?;
    LoginCode::parse(&text).map_err(|e| ApiError::BadParameter(e.to_string()))
}

/// POST `auth/login` (form `code`): the session token (JWT) for the code's openid.
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    uri: Uri,
    body: Bytes,
) -> Result<Json<Envelope<String>>, LoginError> {
    let login = &state.login;
    let attempt = login
        .limiter
        .begin(ip, std::time::Instant::now())
        .map_err(|limited| LoginError::Limited(ip, limited))?;
    // From here on every early return leaves the attempt counted as a failure.
    let code = code_of(&uri, &body)?;
    let now = chrono::Utc::now();
    let redeemed = match login.store.redeem(&code, now).await {
        Ok(redeemed) => redeemed,
        Err(e) => {
            // The server failed, not the guess: it does not count against the client.
            login.limiter.release(attempt);
            return Err(ApiError::Internal(e).into());
        }
    };
    let user = redeemed.ok_or_else(|| {
        ApiError::BadParameter(
            "the login code is wrong, used or expired; send the official account a \
                 message for a new one"
                .into(),
        )
    })?;
    login.limiter.release(attempt);
    tracing::info!(user = %user, client = %ip, "logged in");
    Ok(ok(state.sessions.issue(&user, now)))
}
