//! GET `/api/docs`: the OpenAPI document as a page people read — every operation by tag,
//! with its parameters, body and answers — drawn on the server from the same document
//! (no script, no CDN). The document itself is at `/api/openapi.json`.

use super::openapi::ApiDoc;
use crate::pages::{escape, with_page_headers};
use axum::response::{Html, IntoResponse, Response};
use std::fmt::Write;
use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::{RefOr, Required};

/// The page.
pub async fn page() -> Response {
    static PAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let html = PAGE.get_or_init(render).clone();
    with_page_headers(
        Html(html).into_response(),
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
        "no-cache",
    )
}

fn render() -> String {
    let doc = ApiDoc::openapi();
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} API</title></head><body><h1>{title} API {version}</h1><p>{about}</p>\
         <p>The machine-readable document: <a href=\"/api/openapi.json\">/api/openapi.json</a> (OpenAPI {openapi}).</p>",
        title = escape(&doc.info.title),
        version = escape(&doc.info.version),
        about = escape(doc.info.description.as_deref().unwrap_or("")),
        openapi = escape(
            &serde_json::to_value(&doc.openapi)
                .map(|v| v.as_str().unwrap_or("").to_owned())
                .unwrap_or_default()
        ),
    );
    for tag in doc.tags.iter().flatten() {
        let _ = write!(
            out,
            "<h2 id=\"{name}\">{name}</h2><p>{about}</p>",
            name = escape(&tag.name),
            about = escape(tag.description.as_deref().unwrap_or(""))
        );
        for (path, item) in &doc.paths.paths {
            let operations = [
                ("GET", &item.get),
                ("POST", &item.post),
                ("DELETE", &item.delete),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
            ];
            for (method, operation) in operations {
                if let Some(operation) = operation
                    && operation.tags.iter().flatten().any(|t| *t == tag.name)
                {
                    operation_html(&mut out, method, path, operation);
                }
            }
        }
    }
    out.push_str("</body></html>");
    out
}

fn operation_html(out: &mut String, method: &str, path: &str, operation: &Operation) {
    let _ = write!(
        out,
        "<section><h3><code>{method} {path}</code></h3><p>{summary}</p>",
        path = escape(path),
        summary = escape(
            operation
                .summary
                .as_deref()
                .or(operation.description.as_deref())
                .unwrap_or("")
        ),
    );
    if operation.security.is_some() {
        out.push_str("<p>Authorization: Bearer</p>");
    }
    let parameters: Vec<String> = operation
        .parameters
        .iter()
        .flatten()
        .filter_map(|p| match p {
            RefOr::T(p) => Some(p),
            RefOr::Ref(_) => None,
        })
        .map(|p| {
            let required = matches!(p.required, Required::True);
            format!(
                "<li><code>{}</code> (in {}{}) {}</li>",
                escape(&p.name),
                serde_json::to_value(&p.parameter_in)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                if required { ", required" } else { "" },
                escape(p.description.as_deref().unwrap_or(""))
            )
        })
        .collect();
    if !parameters.is_empty() {
        let _ = write!(out, "<p>Parameters</p><ul>{}</ul>", parameters.concat());
    }
    if let Some(RefOr::T(body)) = &operation.request_body {
        let types: Vec<String> = body.content.keys().map(|k| escape(k)).collect();
        let _ = write!(out, "<p>Body: {}</p>", types.join(", "));
    }
    let answers: Vec<String> = operation
        .responses
        .responses
        .iter()
        .map(|(status, response)| {
            let about = match response {
                RefOr::T(r) => escape(&r.description),
                RefOr::Ref(r) => escape(&r.ref_location),
            };
            format!("<li><code>{}</code> {about}</li>", escape(status))
        })
        .collect();
    let _ = write!(out, "<p>Answers</p><ul>{}</ul></section>", answers.concat());
}
