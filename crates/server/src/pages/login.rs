//! `/login`: the official account's QR code and the login-code box.

use super::template::{Page, escape, fill};
use super::{Pages, html_page};
use axum::extract::State;
use axum::response::Response;

const BODY: &str = include_str!("../../templates/login.html");

/// GET `/login` (`?next=` is read by the page's script, which only follows local paths).
pub async fn page(State(pages): State<Pages>) -> Response {
    let simulator = if pages.options.simulator {
        r#"<p class="sandbox-note" id="simulator-note"><span class="badge">SANDBOX</span>
离线开发：没有真实公众号时，用
<a id="simulator-link" href="/simulator/official-account" target="_blank" rel="noopener">公众号模拟器 (official-account simulator)</a>
发送消息即可拿到验证码。</p>"#
    } else {
        ""
    };
    let body = fill(
        BODY,
        &[
            ("qr", &escape(&pages.official_qr_src)),
            ("simulator", simulator),
        ],
    );
    html_page(
        Page {
            title: "登录 Log in",
            name: "login",
            data: Vec::new(),
            body,
        }
        .render(),
    )
}
