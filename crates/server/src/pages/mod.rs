//! The web pages people use (login, mall, pay, chat, orders, account): HTML shells rendered here,
//! plus a little plain JavaScript and CSS embedded in the binary (no separate build, no CDN).
//!
//! The session token lives in the browser's `localStorage` and travels in the
//! `Authorization` header of the pages' own calls to `/api/v1`, so the pages themselves
//! are public; only the public catalog is rendered with data, everything personal is
//! fetched by the page's script.

mod assets;
mod login;
mod mall;
mod pay;
mod qr;
mod template;

use crate::state::AppState;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

pub use login::safe_next;
pub use template::escape;
pub use template::fill as fill_layout;

/// The assets' `?v=` cache buster.
pub fn asset_version() -> &'static str {
    assets::version()
}

/// What the pages need to know about the rest of the wiring.
#[derive(Debug, Clone)]
pub struct PageOptions {
    /// The built-in WeChat Pay sandbox is on: the pay page offers "simulate scan and pay".
    pub sandbox_pay: bool,
    /// The official-account simulator is on: the login page links to it.
    pub simulator: bool,
    /// From `[pages]`.
    pub settings: crate::config::PagesSettings,
}

/// Page state shared by the handlers.
#[derive(Clone)]
struct Pages {
    app: AppState,
    options: std::sync::Arc<PageOptions>,
    /// The login page's `<img src>` for the official account's QR code.
    official_qr_src: std::sync::Arc<str>,
}

/// The pages, the QR renderer and the static assets.
pub fn router(app: AppState, options: PageOptions) -> anyhow::Result<Router> {
    let official_qr = assets::OfficialQr::from_setting(&options.settings.official_account_qr)?;
    let pages = Pages {
        app,
        options: std::sync::Arc::new(options),
        official_qr_src: official_qr.src().into(),
    };
    Ok(Router::new()
        .route("/", get(mall::page))
        .route("/login", get(login::page))
        .route("/pay/{order_id}", get(pay::page))
        .route("/chat", get(|| personal("对话 Chat", "chat", CHAT)))
        .route(
            "/account",
            get(|| personal("账户 Account", "account", ACCOUNT)),
        )
        .route(
            "/orders",
            get(|| personal("我的订单 Orders", "orders", ORDERS)),
        )
        .route("/qr.svg", get(qr::svg))
        .route("/assets/{name}", get(assets::serve))
        .with_state(pages)
        .merge(assets::official_qr_router(official_qr)))
}

const CHAT: &str = include_str!("../../templates/chat.html");
const ACCOUNT: &str = include_str!("../../templates/account.html");
const ORDERS: &str = include_str!("../../templates/orders.html");

/// A personal page (chat, account, orders): a static shell whose script fetches what is
/// personal with the session token.
async fn personal(title: &'static str, name: &'static str, body: &'static str) -> Response {
    html_page(
        template::Page {
            title,
            name,
            data: Vec::new(),
            body: template::fill(body, &[]),
        }
        .render(),
    )
}

/// The security headers every page carries: its scripts and styles come only from this
/// server (no inline script), so injected markup could not run and read the token.
fn html_page(body: String) -> Response {
    // The shells are tiny and change with each release; personal data is never in them.
    with_page_headers(
        Html(body).into_response(),
        "default-src 'self'; script-src 'self'; style-src 'self'; \
         img-src 'self' data: https: http:; connect-src 'self'; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        "no-cache",
    )
}

/// `response` with a page's headers: `csp`, no sniffing, same-origin referrers, `cache`.
pub fn with_page_headers(
    mut response: Response,
    csp: &'static str,
    cache: &'static str,
) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}
