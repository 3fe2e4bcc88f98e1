//! The API described (issue 15 §5): an OpenAPI 3.1 document generated from the handlers'
//! `#[utoipa::path]` attributes and the views' `ToSchema` derives, for `/api/v1` (the
//! original's contract), `/v1` (OpenAI's) and the admin API. Served at
//! `/api/openapi.json`, with a page listing it at `/api/docs`; CI fuzzes the running server
//! against it with schemathesis (`.ci/schemathesis`).
//!
//! The `/v1` answers are built as JSON values in their handlers (OpenAI's shapes); the
//! types here only describe them, and the fuzzer checks that every answer matches.

#![allow(dead_code)] // The `/v1` shapes are described, never built.

use crate::jobs::stats::JobTotals;
use std::collections::BTreeMap;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "chatmall",
        description = "A shop of chat quota paid by WeChat Pay (API v3, Native), and a metered chat: \
                       the original system's contract under /api/v1, an OpenAI-compatible API under /v1, \
                       and the operators' admin API under /api/v1/admin."
    ),
    paths(
        super::auth::login,
        super::sale::query_product_list,
        super::sale::create_pay_order,
        super::sale::place_order,
        super::sale::query_order,
        super::sale::check_payment,
        super::sale::query_order_list,
        super::sale::query_account,
        super::notify::pay_notify,
        super::usage::list,
        super::redeem::redeem,
        super::keys::list,
        super::keys::create,
        super::keys::revoke,
        super::chat::completions,
        super::chatgpt::completions,
        super::admin::jobs,
        super::admin::troubled_orders,
        super::admin::unmatched_payments,
        super::refunds::order,
        super::refunds::create,
        super::refunds::list,
        super::reconciliations::run,
        super::reconciliations::show,
        super::redeem::list_batches,
        super::redeem::create_batch,
        super::v1::chat::completions,
        super::v1::images::generations,
        super::v1::models::list,
        super::health::alive,
        super::health::ready,
    ),
    components(schemas(Refusal, OpenAiErrorBody, ChatMessage)),
    modifiers(&Bearer),
    tags(
        (name = "shop", description = "The original system's contract: `{code, info, data}` envelopes"),
        (name = "chat", description = "The metered chat, as the original's front-end and our pages call it"),
        (name = "openai", description = "OpenAI's API on the same quota: an API key or the session token as the bearer"),
        (name = "admin", description = "Operators: the bearer admin.token, or a console session with X-CSRF-Token"),
        (name = "health", description = "Probes"),
    )
)]
pub struct ApiDoc;

/// The JSON text of the document, made once.
pub fn document() -> &'static str {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the document serializes")
    })
}

/// One `bearer` scheme: the session token, a user's API key or the admin token, by route.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "/api/v1: the session token from /api/v1/auth/login (raw or as Bearer); \
                         /v1: an API key (sk-cm-…) or the session token; admin: admin.token",
                    ))
                    .build(),
            ),
        );
    }
}

/// A refusal on `/api/v1`: the envelope with no data (`code` 0001, 0002, 0003 or OE001).
#[derive(ToSchema)]
pub struct Refusal {
    #[schema(example = "0002")]
    code: String,
    info: String,
    /// Always null.
    data: Option<String>,
}

/// OpenAI's error answer.
#[derive(ToSchema)]
pub struct OpenAiErrorBody {
    error: OpenAiErrorDetail,
}

/// What went wrong, in OpenAI's words.
#[derive(ToSchema)]
pub struct OpenAiErrorDetail {
    message: String,
    /// `invalid_request_error`, `authentication_error`, `permission_error`, `insufficient_quota`, `api_error`, …
    r#type: String,
    param: Option<String>,
    code: Option<String>,
}

/// One message of a conversation.
#[derive(ToSchema)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    role: String,
    content: String,
}

/// A chat request, as both chat routes and `/v1` take it (other OpenAI fields are passed
/// on or ignored).
#[derive(ToSchema)]
pub struct ChatCompletionRequest {
    #[schema(example = "gpt-4o-mini")]
    model: String,
    messages: Vec<ChatMessage>,
    /// `/v1` only: OpenAI's chunk stream instead of one object.
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
}

/// `/v1`: what the stream ends with.
#[derive(ToSchema)]
pub struct StreamOptions {
    include_usage: Option<bool>,
}

/// `/v1`: the whole answer (`stream` false).
#[derive(ToSchema)]
pub struct ChatCompletion {
    id: String,
    /// `chat.completion`.
    object: String,
    created: i64,
    model: String,
    system_fingerprint: Option<String>,
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

/// One answer of a completion.
#[derive(ToSchema)]
pub struct Choice {
    index: u32,
    message: ChatMessage,
    logprobs: Option<String>,
    finish_reason: Option<String>,
}

/// Tokens a call used.
#[derive(ToSchema)]
pub struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

/// `/v1/models`.
#[derive(ToSchema)]
pub struct ModelList {
    /// `list`.
    object: String,
    data: Vec<Model>,
}

/// A model the caller may use.
#[derive(ToSchema)]
pub struct Model {
    id: String,
    /// `model`.
    object: String,
    created: i64,
    owned_by: String,
}

/// `/v1/images/generations`.
#[derive(ToSchema)]
pub struct ImageRequest {
    #[schema(example = "dall-e-2")]
    model: Option<String>,
    prompt: String,
    /// 1, if sent.
    n: Option<u32>,
    /// `url`, if sent.
    response_format: Option<String>,
}

/// The pictures made.
#[derive(ToSchema)]
pub struct ImageList {
    created: i64,
    data: Vec<ImageUrl>,
}

/// Where a picture is.
#[derive(ToSchema)]
pub struct ImageUrl {
    url: String,
}

/// The jobs' counters, by job.
pub type JobTable = BTreeMap<String, JobTotals>;

/// `/readyz`'s answer.
#[derive(ToSchema)]
pub struct Readiness {
    /// `ready` or `not ready`.
    status: String,
    reason: Option<String>,
}

/// WeChat Pay's answer to a notification it must send again.
#[derive(ToSchema)]
pub struct NotifyFailure {
    /// `FAIL`.
    code: String,
    message: String,
}
