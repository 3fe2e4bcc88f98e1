//! `/chat`: the model picker, the streamed answer and the remaining quota (all by script).

use super::template::{Page, fill};
use super::{Pages, html_page};
use axum::extract::State;
use axum::response::Response;

const BODY: &str = include_str!("../../templates/chat.html");

/// GET `/chat`.
pub async fn page(State(_pages): State<Pages>) -> Response {
    html_page(
        Page {
            title: "对话 Chat",
            name: "chat",
            data: Vec::new(),
            body: fill(BODY, &[]),
        }
        .render(),
    )
}
