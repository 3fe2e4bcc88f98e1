//! `/login`: the official account's QR code and the login-code box.

use super::template::{Page, escape, fill};
use super::{Pages, html_page};
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

const BODY: &str = include_str!("../../templates/login.html");

/// The login page's query.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Where to go after logging in: `next` resolved against this site, as a browser would
/// resolve it (tabs and newlines dropped, `\\` read as `/`), kept only when it stays on
/// this site; anything else is `/`. Returned as path, query and fragment.
pub fn safe_next(next: Option<&str>) -> String {
    // Only whether the result keeps the base's origin matters; both schemes are tried,
    // since `http:x` is a path on an http page but another site from an https one.
    let mut resolved = None;
    for base in ["http://chatmall.invalid/", "https://chatmall.invalid/"] {
        let base = url::Url::parse(base).expect("a valid base URL");
        match next.and_then(|n| base.join(n).ok()) {
            Some(url) if url.origin() == base.origin() && url.username().is_empty() => {
                resolved = Some(url);
            }
            _ => return "/".into(),
        }
    }
    let Some(resolved) = resolved else {
        return "/".into();
    };
    let mut local = resolved.path().to_owned();
    if let Some(query) = resolved.query() {
        local.push('?');
        local.push_str(query);
    }
    if let Some(fragment) = resolved.fragment() {
        local.push('#');
        local.push_str(fragment);
    }
    // A path that reads as `//host` to a later parser is another site again.
    if local.starts_with("//") {
        return "/".into();
    }
    local
}

/// GET `/login?next=…`: the page, with `next` checked here (`data-next`) and again by its
/// script before it is followed.
pub async fn page(State(pages): State<Pages>, Query(query): Query<LoginQuery>) -> Response {
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
            data: vec![("next", safe_next(query.next.as_deref()))],
            body,
        }
        .render(),
    )
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        for (next, expected) in [
            ("/chat", "/chat"),
            ("/pay/123?x=1#top", "/pay/123?x=1#top"),
            ("orders", "/orders"),
            ("/%09/evil.example", "/%09/evil.example"),
        ] {
            assert_eq!(safe_next(Some(next)), expected, "{next:?}");
        }
        for hostile in [
            "//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "\t//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example/",
            "http:evil.example",
            "javascript:alert(1)",
            "data:text/html,x",
            "//user@evil.example",
            "///evil.example",
        ] {
            assert_eq!(safe_next(Some(hostile)), "/", "{hostile:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
