//! `POST /api/v1/auth/login` (form or query `code`): a login code for a session token.
//!
//! The rules are the login service's (`domain::service::Login`): failures are limited per
//! address block (429 with `Retry-After` for that block only), and while guessing is under
//! way codes are long and six-digit ones are refused unchecked. A wrong, used or expired
//! code is one answer: 400 with `0002`.

use super::envelope::{ApiError, Envelope, code, ok, refusal};
use super::request_param::request_param;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use domain::login_code::ClientPrefix;
use domain::service::RedeemError;
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

/// `code`, in the query string or a form (a login code, or a redemption code).
#[derive(Debug, Deserialize)]
pub(super) struct CodeForm {
    pub(super) code: Option<String>,
}

/// Why a login was refused; mapped to HTTP here and only here.
#[derive(Debug)]
pub enum LoginError {
    /// No `code` in the query or the form.
    NoCode,
    /// The login service refused (or failed).
    Redeem {
        error: RedeemError,
        client: ClientPrefix,
    },
}

impl IntoResponse for LoginError {
    fn into_response(self) -> Response {
        let (error, client) = match self {
            Self::NoCode => {
                return ApiError::BadParameter("code is required".into()).into_response();
            }
            Self::Redeem { error, client } => (error, client),
        };
        let hint = "; send the official account a message for a new one";
        match error {
            RedeemError::Limited { retry_after } => {
                let secs = retry_after.num_seconds().max(1);
                tracing::info!(%client, retry_after_secs = secs, "login refused: too many failures from the block");
                let info = format!(
                    "too many failed logins from your network; try again later (in {secs} s)"
                );
                let mut response = refusal(StatusCode::TOO_MANY_REQUESTS, code::ERROR, info);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                response
            }
            RedeemError::Store(e) => ApiError::Internal(e).into_response(),
            e @ RedeemError::ShortCodesOff => ApiError::BadParameter(e.to_string()).into_response(),
            // The original answered a code it did not know with 0003, and its front-end
            // words exactly that case ("验证码不存在").
            e @ (RedeemError::Malformed(_) | RedeemError::Wrong) => {
                ApiError::NotLoggedIn(format!("{e}{hint}")).into_response()
            }
        }
    }
}

/// POST `auth/login` (form `code`): the session token (JWT) for the code's openid.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "shop",
    params(("code" = Option<String>, Query, description = "The login code the official account sent")),
    responses((status = 200, description = "The session token", body = crate::http::envelope::Envelope<String>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    uri: Uri,
    body: Bytes,
) -> Result<Json<Envelope<String>>, LoginError> {
    let typed = request_param(&uri, &body, |f: CodeForm| f.code)
        .filter(|code| !code.trim().is_empty())
        .ok_or(LoginError::NoCode)?;
    let client = ClientPrefix::of(ip);
    let user = state
        .login
        .service
        .redeem(&typed, &client)
        .await
        .map_err(|error| LoginError::Redeem { error, client })?;
    tracing::info!(user = %user, client = %ip, "logged in");
    Ok(ok(state.sessions.issue(&user, state.clock.now())))
}
