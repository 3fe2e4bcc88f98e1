//! The console's HTML: its layout (its own navigation, no script of the shop's), small
//! builders for tables and forms, and errors as pages.

use super::session::SignedIn;
use crate::http::envelope::ApiError;
use crate::pages::escape;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

const LAYOUT: &str = include_str!("../../templates/console.html");

/// The console's sections, in the navigation's order: `(path, label)`.
const SECTIONS: &[(&str, &str)] = &[
    ("/admin", "概览 Dashboard"),
    ("/admin/orders", "订单 Orders"),
    ("/admin/troubled", "异常 Troubled"),
    ("/admin/products", "商品 Products"),
    ("/admin/accounts", "账户 Accounts"),
    ("/admin/batches", "兑换码 Codes"),
    ("/admin/reconciliations", "对账 Books"),
    ("/admin/audit", "审计 Audit"),
];

/// A console page: the layout around `body` (already safe markup), for `signed_in`.
pub fn page(title: &str, section: &str, signed_in: Option<&SignedIn>, body: &str) -> Response {
    let nav: String = match signed_in {
        Some(s) => {
            let links: String = SECTIONS
                .iter()
                .map(|(path, label)| {
                    let current = if *path == section {
                        " aria-current=\"page\""
                    } else {
                        ""
                    };
                    format!("<a href=\"{path}\"{current}>{label}</a>")
                })
                .collect();
            let who = &s.session.operator;
            format!(
                "<nav>{links}</nav><form method=\"post\" action=\"/admin/logout\" class=\"who\">\
                 <span id=\"operator\" data-role=\"{role}\">{name} · {role}</span>{csrf}\
                 <button type=\"submit\" class=\"link\" id=\"logout\">退出 Log out</button></form>",
                name = escape(who.name.as_str()),
                role = who.role.as_str(),
                csrf = csrf_field(&s.csrf),
            )
        }
        None => String::new(),
    };
    let html = crate::pages::fill_layout(
        LAYOUT,
        &[
            ("title", &escape(title)),
            ("nav", &nav),
            ("body", body),
            ("version", crate::pages::asset_version()),
        ],
    );
    console_response(StatusCode::OK, html)
}

/// The console's headers: no script at all but its own file, never framed, never cached
/// (its pages hold personal data).
pub fn console_response(status: StatusCode, html: String) -> Response {
    crate::pages::with_page_headers(
        (status, Html(html)).into_response(),
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        "no-store",
    )
}

/// The hidden field every state-changing form carries.
pub fn csrf_field(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(csrf)
    )
}

/// A table: a header row and rows of cells (each already safe markup).
pub fn table(id: &str, headers: &[&str], rows: Vec<Vec<String>>) -> String {
    if rows.is_empty() {
        return format!("<p class=\"muted\" id=\"{id}\">无 None.</p>");
    }
    let head: String = headers.iter().map(|h| format!("<th>{h}</th>")).collect();
    let body: String = rows
        .into_iter()
        .map(|cells| {
            let cells: String = cells.into_iter().map(|c| format!("<td>{c}</td>")).collect();
            format!("<tr>{cells}</tr>")
        })
        .collect();
    format!(
        "<div class=\"scroll\"><table id=\"{id}\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )
}

/// A time as the console shows it (UTC, to the second).
pub fn time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// An optional JSON document, pretty and escaped, folded away.
pub fn json_detail(json: Option<&str>) -> String {
    let Some(text) = json else {
        return String::new();
    };
    let pretty = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_owned());
    format!(
        "<details><summary>JSON</summary><pre>{}</pre></details>",
        escape(&pretty)
    )
}

/// An error, as a console page (logged once, as the API logs it).
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<anyhow::Error> for PageError {
    fn from(e: anyhow::Error) -> Self {
        Self(ApiError::Internal(e))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        self.0.log();
        let body = format!(
            "<section class=\"card\"><h1>{code} {reason}</h1><p id=\"error\">{message}</p>\
             <p><a href=\"/admin\">概览 Dashboard</a></p></section>",
            code = status.as_u16(),
            reason = status.canonical_reason().unwrap_or(""),
            message = escape(&self.0.to_string()),
        );
        let html = crate::pages::fill_layout(
            LAYOUT,
            &[
                ("title", "Error"),
                ("nav", ""),
                ("body", &body),
                ("version", crate::pages::asset_version()),
            ],
        );
        console_response(status, html)
    }
}

/// What a console handler answers.
pub type PageResult = Result<Response, PageError>;
