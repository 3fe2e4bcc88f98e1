//! The official-account simulator (offline default): plays WeChat's server. It builds a
//! follower's text message, signs it (and in safe mode encrypts it) exactly as WeChat
//! does, posts it over real HTTP to this server's portal, and reads the reply back.
//!
//! Anyone who can reach it can log in as any openid, so it is served only in sandbox mode
//! (or when `officialaccount.simulator = true`, which live mode refuses).

use super::OfficialAccount;
use super::xml::{self, Inbound};
use super::{crypto, signature};
use crate::config::OfficialAccountMode;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use domain::ports::Clock;
use domain::user::UserId;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The original id (`gh_…`) the simulated account's messages are addressed to.
pub const ORIGINAL_ID: &str = "gh_chatmall_sim";

/// Sends simulated follower messages to the portal.
#[derive(Clone)]
pub struct Simulator {
    account: OfficialAccount,
    portal_url: String,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

/// `{"openid","content"}`.
#[derive(Debug, Deserialize)]
pub struct SimulatedMessage {
    pub openid: String,
    #[serde(default = "default_content")]
    pub content: String,
}

fn default_content() -> String {
    "login".into()
}

/// What the official account answered.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SimulatedReply {
    pub openid: String,
    /// Whether the message went in safe mode (encrypted).
    pub encrypted: bool,
    /// The reply's text.
    pub reply: String,
    /// The login code in the reply, if there is one.
    pub code: Option<String>,
}

/// Why a simulated message got no usable reply.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    #[error("openid: {0}")]
    BadOpenid(String),
    #[error("the portal answered HTTP {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("the portal could not be reached: {0}")]
    Unreachable(String),
    #[error("the portal's reply is not valid: {0}")]
    BadReply(String),
}

impl IntoResponse for SimulatorError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::BadOpenid(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::BAD_GATEWAY,
        };
        tracing::info!(status = status.as_u16(), error = %self, "simulated message failed");
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

impl Simulator {
    /// A simulator posting to `{base_url}/api/v1/wx/portal/{appid}`.
    pub fn new(
        account: OfficialAccount,
        base_url: &str,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let base_url = base_url.trim_end_matches('/');
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(10));
        // The portal is this very server, usually on loopback: no environment proxy.
        if crate::net::is_loopback(base_url) {
            builder = builder.no_proxy();
        }
        Ok(Self {
            portal_url: format!("{base_url}/api/v1/wx/portal/{}", account.appid()),
            account,
            http: builder.build()?,
            clock,
        })
    }

    /// The routes: `GET /simulator/official-account` (a page) and
    /// `POST /simulator/official-account/message` (JSON).
    pub fn router(self) -> Router {
        Router::new()
            .route("/simulator/official-account", get(page))
            .route("/simulator/official-account/message", post(message))
            .with_state(Arc::new(self))
    }

    /// Sends `content` from `openid` as WeChat would and returns the account's reply.
    pub async fn send_text(
        &self,
        openid: &str,
        content: &str,
    ) -> Result<SimulatedReply, SimulatorError> {
        let user = UserId::parse(openid).map_err(|e| SimulatorError::BadOpenid(e.to_string()))?;
        let account = &self.account;
        // The server's clock, which the portal checks freshness against.
        let now = self.clock.now().timestamp();
        let timestamp = now.to_string();
        let nonce = crypto::random_alphanumeric(10);
        let mut msg_id = [0u8; 8];
        aws_lc_rs::rand::fill(&mut msg_id)
            .map_err(|_| SimulatorError::Unreachable("rng".into()))?;
        let message = xml::inbound_text(
            ORIGINAL_ID,
            user.as_str(),
            now,
            content,
            u64::from_be_bytes(msg_id) >> 1,
        );
        let encrypted = account.mode() != OfficialAccountMode::Plain;
        let mut query = vec![
            (
                "signature",
                signature::sign(&[account.token(), &timestamp, &nonce]),
            ),
            ("timestamp", timestamp.clone()),
            ("nonce", nonce.clone()),
            // WeChat sends it too; the portal must not trust it.
            ("openid", user.as_str().to_owned()),
        ];
        let body = if encrypted {
            let sealed = crypto::encrypt(account.key(), account.appid(), message.as_bytes())
                .map_err(|e| SimulatorError::BadReply(e.to_string()))?;
            query.push(("encrypt_type", "aes".into()));
            query.push((
                "msg_signature",
                signature::sign(&[account.token(), &timestamp, &nonce, &sealed]),
            ));
            xml::encrypted_inbound(ORIGINAL_ID, &sealed)
        } else {
            message
        };
        let response = self
            .http
            .post(&self.portal_url)
            .query(&query)
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(|e| SimulatorError::Unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| SimulatorError::Unreachable(e.to_string()))?;
        if status != 200 {
            return Err(SimulatorError::Refused { status, body: text });
        }
        let reply_xml = if encrypted {
            self.open_encrypted_reply(&text)?
        } else {
            text
        };
        let reply =
            Inbound::parse(&reply_xml).map_err(|e| SimulatorError::BadReply(e.to_string()))?;
        if reply.to_user != user.as_str() || reply.from_user != ORIGINAL_ID {
            return Err(SimulatorError::BadReply(
                "the reply is not addressed back to the sender".into(),
            ));
        }
        let reply_text = reply.content.unwrap_or_default();
        Ok(SimulatedReply {
            openid: user.as_str().to_owned(),
            encrypted,
            code: code_in(&reply_text),
            reply: reply_text,
        })
    }

    /// Checks a safe-mode reply's signature and decrypts it, as WeChat does.
    fn open_encrypted_reply(&self, text: &str) -> Result<String, SimulatorError> {
        let account = &self.account;
        let fields = xml::fields(text).map_err(|e| SimulatorError::BadReply(e.to_string()))?;
        let get = |name: &str| {
            fields
                .get(name)
                .cloned()
                .ok_or_else(|| SimulatorError::BadReply(format!("no {name}")))
        };
        let (sealed, msg_signature) = (get("Encrypt")?, get("MsgSignature")?);
        let (timestamp, nonce) = (get("TimeStamp")?, get("Nonce")?);
        if !signature::verify(
            &msg_signature,
            &[account.token(), &timestamp, &nonce, &sealed],
        ) {
            return Err(SimulatorError::BadReply("MsgSignature mismatch".into()));
        }
        let plain = crypto::decrypt(account.key(), account.appid(), &sealed)
            .map_err(|e| SimulatorError::BadReply(e.to_string()))?;
        String::from_utf8(plain).map_err(|_| SimulatorError::BadReply("not UTF-8".into()))
    }
}

/// The login code in a reply (`您的登录验证码：{code}，…`), as the reply shows it: six
/// digits, or a long code in groups.
pub fn code_in(text: &str) -> Option<String> {
    let (_, rest) = text.split_once("验证码：")?;
    let shown = rest.split('，').next()?.trim();
    domain::login_code::LoginCode::parse(shown)
        .ok()
        .map(|_| shown.to_owned())
}

async fn message(
    State(simulator): State<Arc<Simulator>>,
    Json(request): Json<SimulatedMessage>,
) -> Result<Json<SimulatedReply>, SimulatorError> {
    simulator
        .send_text(request.openid.trim(), &request.content)
        .await
        .map(Json)
}

async fn page() -> Response {
    static CSP: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| wechatpay_sandbox::page::inline_csp(PAGE_SCRIPT, PAGE_STYLE));
    let csp = axum::http::HeaderValue::from_str(&CSP).expect("a CSP is ASCII");
    (
        [
            (axum::http::header::CONTENT_SECURITY_POLICY, csp),
            (
                axum::http::header::X_CONTENT_TYPE_OPTIONS,
                axum::http::HeaderValue::from_static("nosniff"),
            ),
        ],
        Html(page_html()),
    )
        .into_response()
}

fn page_html() -> &'static str {
    static HTML: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        PAGE.replace("{style}", PAGE_STYLE)
            .replace("{script}", PAGE_SCRIPT)
    });
    &HTML
}

const PAGE: &str = r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>公众号模拟器 · chatmall</title>
<style>{style}</style></head><body>
<h1>公众号模拟器</h1>
<p class="note">Plays WeChat: your message is signed (and in safe mode encrypted) like the
real official account's and sent to this server's portal. Offline development only.</p>
<label for="openid">openid</label><input id="openid" value="oDemoUser0001">
<label for="content">message</label><input id="content" value="登录">
<button id="send">Send</button>
<h2>Reply</h2><pre id="reply">—</pre>
<button id="login" disabled>Log in with this code</button>
<pre id="token"></pre>
<script>{script}</script></body></html>
"#;

const PAGE_STYLE: &str = r#"
body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;color:#222}
label{display:block;margin:.6rem 0 .2rem}
input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
button{margin-top:.8rem;padding:.5rem 1rem;font-size:1rem}
pre{background:#f4f4f4;padding:.8rem;white-space:pre-wrap;word-break:break-all}
.note{color:#666;font-size:.9rem}
"#;

const PAGE_SCRIPT: &str = r#"
let code = null;
const $ = (id) => document.getElementById(id);
$("send").onclick = async () => {
  $("reply").textContent = "…"; $("token").textContent = ""; code = null; $("login").disabled = true;
  const r = await fetch("/simulator/official-account/message", {method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({openid: $("openid").value, content: $("content").value})});
  const body = await r.json();
  if (!r.ok) { $("reply").textContent = "error: " + body.error; return; }
  $("reply").textContent = body.reply + (body.encrypted ? "\n(safe mode: encrypted both ways)" : "");
  code = body.code; $("login").disabled = !code;
};
$("login").onclick = async () => {
  const r = await fetch("/api/v1/auth/login", {method: "POST",
    headers: {"Content-Type": "application/x-www-form-urlencoded"},
    body: "code=" + encodeURIComponent(code)});
  const body = await r.json();
  $("token").textContent = body.code === "0000" ? "token: " + body.data : body.code + " " + body.info;
};
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_found_in_the_reply() {
        assert_eq!(
            code_in("您的登录验证码：012345，3 分钟内有效").as_deref(),
            Some("012345")
        );
        assert_eq!(
            code_in("您的登录验证码：K7QM-9XRT-4HVD，3 分钟内有效").as_deref(),
            Some("K7QM-9XRT-4HVD")
        );
        assert_eq!(code_in("您的登录验证码：12345，3 分钟内有效"), None);
        assert_eq!(code_in("欢迎关注！发送任意文字消息"), None);
    }
}
