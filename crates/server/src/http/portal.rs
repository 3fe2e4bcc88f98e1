//! `/api/v1/wx/portal/{appid}`: the official account's server check (GET) and its messages
//! (POST). A text message from a follower is answered with their login code.
//!
//! Every POST is authenticated before anything else happens: `signature` over (token,
//! timestamp, nonce) with a 5-minute window, and in safe mode `msg_signature`, which also
//! covers the encrypted body. The openid is the signed (decrypted) message's FromUserName;
//! the unsigned `openid` query parameter is never read.

use crate::config::OfficialAccountMode;
use crate::login_desk::LoginDesk;
use crate::officialaccount::xml::{self, Inbound};
use crate::officialaccount::{crypto, signature};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::login_code::{IssueError, IssuedCode};
use domain::user::UserId;
use serde::Deserialize;

/// The server check's query.
#[derive(Debug, Deserialize)]
pub struct CheckQuery {
    signature: Option<String>,
    timestamp: Option<String>,
    nonce: Option<String>,
    echostr: Option<String>,
}

/// A message's query. (`openid` is deliberately absent: it is not signed.)
#[derive(Debug, Deserialize)]
pub struct MessageQuery {
    signature: Option<String>,
    timestamp: Option<String>,
    nonce: Option<String>,
    encrypt_type: Option<String>,
    msg_signature: Option<String>,
}

/// Why the portal refused a request; each is one status and a short text body, logged once.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error("unknown appid")]
    UnknownAppid,
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("signature mismatch")]
    BadSignature,
    #[error("signature already used for another message")]
    Replayed,
    #[error("{0}")]
    Timestamp(#[from] signature::TimestampError),
    #[error("{0}")]
    BadMessage(String),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::UnknownAppid => StatusCode::NOT_FOUND,
            Self::Missing(_) | Self::BadMessage(_) => StatusCode::BAD_REQUEST,
            Self::BadSignature | Self::Replayed | Self::Timestamp(_) => StatusCode::UNAUTHORIZED,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        match &self {
            Self::Internal(e) => tracing::error!(error = ?e, "official-account message failed"),
            other => tracing::info!(
                status = status.as_u16(),
                error = %other,
                "official-account request refused"
            ),
        }
        plain(status, self.to_string())
    }
}

fn plain(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn xml_response(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

fn required<'a>(value: &'a Option<String>, name: &'static str) -> Result<&'a str, PortalError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or(PortalError::Missing(name))
}

fn known_appid(login: &LoginDesk, appid: &str) -> Result<(), PortalError> {
    if appid == login.account.appid() {
        Ok(())
    } else {
        Err(PortalError::UnknownAppid)
    }
}

/// GET: WeChat's server check: echoes `echostr` when the signature holds.
pub async fn check(
    State(state): State<AppState>,
    Path(appid): Path<String>,
    Query(query): Query<CheckQuery>,
) -> Result<Response, PortalError> {
    let login = &state.login;
    known_appid(login, &appid)?;
    let signature = required(&query.signature, "signature")?;
    let timestamp = required(&query.timestamp, "timestamp")?;
    let nonce = required(&query.nonce, "nonce")?;
    let echostr = required(&query.echostr, "echostr")?;
    if !signature::verify(signature, &[login.account.token(), timestamp, nonce]) {
        return Err(PortalError::BadSignature);
    }
    Ok(plain(StatusCode::OK, echostr.to_owned()))
}

/// POST: a message from a follower; a text message is answered with their login code.
pub async fn message(
    State(state): State<AppState>,
    Path(appid): Path<String>,
    Query(query): Query<MessageQuery>,
    body: Bytes,
) -> Result<Response, PortalError> {
    let login = &state.login;
    let account = &login.account;
    known_appid(login, &appid)?;
    let signature = required(&query.signature, "signature")?;
    let timestamp = required(&query.timestamp, "timestamp")?;
    let nonce = required(&query.nonce, "nonce")?;
    let now = state.clock.now();
    signature::check_fresh(timestamp, now.timestamp())?;
    if !signature::verify(signature, &[account.token(), timestamp, nonce]) {
        return Err(PortalError::BadSignature);
    }
    let body = std::str::from_utf8(&body)
        .map_err(|_| PortalError::BadMessage("the body is not UTF-8".into()))?;

    let encrypted = match query.encrypt_type.as_deref() {
        None | Some("") | Some("raw") => false,
        Some("aes") => true,
        Some(_) => return Err(PortalError::BadMessage("unknown encrypt_type".into())),
    };
    match (account.mode(), encrypted) {
        (OfficialAccountMode::Plain, true) => {
            return Err(PortalError::BadMessage(
                "encrypted messages are off (officialaccount.mode = plain)".into(),
            ));
        }
        (OfficialAccountMode::Safe, false) => {
            return Err(PortalError::BadMessage(
                "only encrypted messages are accepted (officialaccount.mode = safe)".into(),
            ));
        }
        _ => {}
    }

    let plaintext = if encrypted {
        let msg_signature = required(&query.msg_signature, "msg_signature")?;
        let outer = xml::fields(body).map_err(|e| PortalError::BadMessage(e.to_string()))?;
        let encrypt = outer
            .get("Encrypt")
            .filter(|v| !v.is_empty())
            .ok_or(PortalError::Missing("Encrypt"))?;
        // The body's own signature, checked before a single byte is decrypted.
        if !signature::verify(msg_signature, &[account.token(), timestamp, nonce, encrypt]) {
            return Err(PortalError::BadSignature);
        }
        let bytes = crypto::decrypt(account.key(), account.appid(), encrypt)
            .map_err(|e| PortalError::BadMessage(e.to_string()))?;
        String::from_utf8(bytes)
            .map_err(|_| PortalError::BadMessage("the decrypted message is not UTF-8".into()))?
    } else {
        body.to_owned()
    };
    let inbound = Inbound::parse(&plaintext).map_err(|e| PortalError::BadMessage(e.to_string()))?;
    let user = UserId::parse(&inbound.from_user)
        .map_err(|_| PortalError::BadMessage("FromUserName is not an openid".into()))?;
    // In safe mode msg_signature binds the body; in plain mode nothing does but this.
    if !encrypted
        && !login
            .replays
            .admit(signature, user.as_str(), std::time::Instant::now())
    {
        return Err(PortalError::Replayed);
    }

    let content = match reply_for(login, &inbound, &user, now).await? {
        Some(content) => content,
        // WeChat takes "success" as "no reply".
        None => return Ok(plain(StatusCode::OK, "success".into())),
    };
    let reply = xml::text_message(
        &inbound.from_user,
        &inbound.to_user,
        now.timestamp(),
        &content,
    );
    if !encrypted {
        return Ok(xml_response(reply));
    }
    let sealed = crypto::encrypt(account.key(), account.appid(), reply.as_bytes())
        .map_err(|e| anyhow::anyhow!("encrypt the reply: {e}"))?;
    let reply_timestamp = now.timestamp().to_string();
    let reply_nonce = crypto::random_alphanumeric(16);
    let reply_signature =
        signature::sign(&[account.token(), &reply_timestamp, &reply_nonce, &sealed]);
    Ok(xml_response(xml::encrypted_reply(
        &sealed,
        &reply_signature,
        &reply_timestamp,
        &reply_nonce,
    )))
}

/// What to answer a message with; `None` for no reply.
async fn reply_for(
    login: &LoginDesk,
    inbound: &Inbound,
    user: &UserId,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<String>, PortalError> {
    match inbound.msg_type.as_str() {
        "text" => match login.service.issue(user).await {
            Ok(issued) => {
                tracing::info!(
                    user = %user,
                    strength = ?issued.code.strength(),
                    reused = issued.reused,
                    "login code sent"
                );
                Ok(Some(code_text(&issued, now)))
            }
            Err(IssueError::Exhausted) => {
                tracing::warn!(user = %user, "no free login code: the code space is crowded");
                Ok(Some(
                    "系统繁忙，请稍后再发送一次消息获取登录验证码。".into(),
                ))
            }
            Err(IssueError::Store(e)) => Err(PortalError::Internal(e)),
        },
        "event" if inbound.event.as_deref() == Some("unsubscribe") => Ok(None),
        "event" if inbound.event.as_deref() == Some("subscribe") => Ok(Some(
            "欢迎关注！发送任意文字消息（例如“登录”），即可收到网页登录验证码。".into(),
        )),
        _ => Ok(Some(
            "发送任意文字消息（例如“登录”），即可收到网页登录验证码。".into(),
        )),
    }
}

/// "您的登录验证码：123456，3 分钟内有效", with the time the code has left (a long code is
/// shown in groups, `K7QM-9XRT-4HVD`).
fn code_text(issued: &IssuedCode, now: chrono::DateTime<chrono::Utc>) -> String {
    let left = (issued.expires_at - now).num_seconds().max(1);
    let validity = if left >= 60 {
        format!("{} 分钟内有效", (left + 59) / 60)
    } else {
        format!("{left} 秒内有效")
    };
    format!("您的登录验证码：{}，{validity}", issued.code.display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::login_code::LoginCode;

    #[test]
    fn the_reply_names_the_code_and_the_time_left() {
        let now = chrono::Utc::now();
        let issued = |secs| IssuedCode {
            code: LoginCode::parse("123456").unwrap(),
            user: UserId::parse("oUser").unwrap(),
            expires_at: now + chrono::Duration::seconds(secs),
            reused: false,
        };
        assert_eq!(
            code_text(&issued(180), now),
            "您的登录验证码：123456，3 分钟内有效"
        );
        assert_eq!(
            code_text(&issued(121), now),
            "您的登录验证码：123456，3 分钟内有效"
        );
        assert_eq!(
            code_text(&issued(5), now),
            "您的登录验证码：123456，5 秒内有效"
        );
        let long = IssuedCode {
            code: LoginCode::parse("K7QM9XRT4HVD").unwrap(),
            ..issued(180)
        };
        assert_eq!(
            code_text(&long, now),
            "您的登录验证码：K7QM-9XRT-4HVD，3 分钟内有效"
        );
    }
}
