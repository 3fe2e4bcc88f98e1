//! Fake model services on 127.0.0.1:0, speaking the protocols of the real ones: OpenAI's
//! (`/v1/chat/completions` streamed, `/v1/images/generations`) and 智谱 ChatGLM's v4 API
//! (`/api/paas/v4/…`: OpenAI-compatible, with its own chunk shape and error codes). Each
//! can stream, fail, hang and error, and records what it was sent.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The key every fake expects as its bearer token (and echoes in its error texts, as some
/// real services do, to show it never reaches a client).
pub const API_KEY: &str = "sk-test-upstream-key-0123456789";

/// What the fake does with every request.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Streams `n` words (`w0 `, `w1 `, …), then the end; an image request gets `n`
    /// pictures.
    Answer(usize),
    /// Answers this HTTP status with the service's error body.
    Status(u16),
    /// Streams `n` words, then an error object.
    BreakAfter(usize),
    /// As `Answer`, but never reports its tokens (as some services do not).
    Unmetered(usize),
    /// Streams `n` words, then waits forever.
    StallAfter(usize),
    /// Never answers.
    Hang,
    /// Streams a word every 20 ms, forever.
    Endless,
}

/// Which service the fake plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    OpenAi,
    /// 智谱 open.bigmodel.cn v4: no `object` field, no `finish_reason` until the last
    /// chunk (which carries `usage`), `text/event-stream;charset=UTF-8`, numeric error codes.
    Zhipu,
}

/// A running fake. Like a real model it stops at the request's `max_tokens` (or
/// `max_completion_tokens`), each word being one completion token in its usage report.
pub struct FakeUpstream {
    /// The API root to configure (`…/v1` or `…/api/paas/v4`).
    pub base_url: String,
    pub requests: Arc<AtomicUsize>,
    /// Answer bodies dropped before they ended: the connection closed on us.
    pub closed_early: Arc<AtomicUsize>,
    /// The headers and JSON body of the last request.
    pub last: Arc<Mutex<Option<(HeaderMap, Value)>>>,
}

#[derive(Clone)]
struct Fake {
    mode: Mode,
    flavour: Flavour,
    requests: Arc<AtomicUsize>,
    closed_early: Arc<AtomicUsize>,
    last: Arc<Mutex<Option<(HeaderMap, Value)>>>,
}

/// Counts a body dropped before its end.
struct ClosedGuard(Arc<AtomicUsize>, bool);

impl Drop for ClosedGuard {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl FakeUpstream {
    /// An OpenAI-compatible fake.
    pub async fn spawn(mode: Mode) -> Self {
        Self::spawn_as(Flavour::OpenAi, mode).await
    }

    /// A fake of `flavour`.
    pub async fn spawn_as(flavour: Flavour, mode: Mode) -> Self {
        let fake = Fake {
            mode,
            flavour,
            requests: Arc::default(),
            closed_early: Arc::default(),
            last: Arc::default(),
        };
        let root = match flavour {
            Flavour::OpenAi => "/v1",
            Flavour::Zhipu => "/api/paas/v4",
        };
        let router = axum::Router::new()
            .route(
                &format!("{root}/chat/completions"),
                axum::routing::post(answer),
            )
            .route(
                &format!("{root}/images/generations"),
                axum::routing::post(images),
            )
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            base_url: format!("http://127.0.0.1:{port}{root}"),
            requests: fake.requests,
            closed_early: fake.closed_early,
            last: fake.last,
        }
    }

    /// How many requests came.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The JSON body of the last request.
    pub fn last_body(&self) -> Value {
        self.last.lock().unwrap().clone().expect("a request came").1
    }
}

impl Fake {
    /// Records the request; the refusal to send instead of answering, if any.
    fn take(&self, headers: HeaderMap, body: Value) -> Option<Response> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let authorized = headers
            .get(header::AUTHORIZATION)
            .is_some_and(|v| v == format!("Bearer {API_KEY}").as_str());
        *self.last.lock().unwrap() = Some((headers, body));
        if !authorized {
            return Some(self.error(401));
        }
        match self.mode {
            Mode::Status(status) => Some(self.error(status)),
            _ => None,
        }
    }

    /// The service's error answer for `status`.
    fn error(&self, status: u16) -> Response {
        let body = match self.flavour {
            Flavour::OpenAi => json!({"error": {
                "message": format!("fake says {status}; key {API_KEY}"),
                "type": "server_error", "code": null}}),
            Flavour::Zhipu => json!({"error": {
                "code": if status == 429 { "1302" } else { "1234" },
                "message": format!("网络错误，错误id：fake-{status}，请联系客服。key {API_KEY}")}}),
        };
        (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
    }

    /// One content chunk in the service's shape.
    fn chunk(&self, content: &str) -> String {
        let chunk = match self.flavour {
            Flavour::OpenAi => json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                "created": 1, "model": "fake",
                "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]}),
            Flavour::Zhipu => json!({"id": "8313807536837492492", "created": 1706092316,
                "model": "glm-4-air",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": content}}]}),
        };
        format!("data: {chunk}\n\n")
    }

    /// The end of a whole answer of `n` words, `cut` short at the request's token limit:
    /// the finish chunk, then (OpenAI sends it only when asked) the usage chunk.
    fn end(&self, n: usize, cut: bool, include_usage: bool) -> String {
        let finish = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk",
            "created": 1, "model": "fake", "choices": [{"index": 0, "delta": {},
            "finish_reason": if cut { "length" } else { "stop" }}]});
        match self.flavour {
            Flavour::OpenAi if include_usage => {
                let usage = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                    "created": 1, "model": "fake", "choices": [],
                    "usage": {"prompt_tokens": 7, "completion_tokens": n, "total_tokens": 7 + n}});
                format!("data: {finish}\n\ndata: {usage}\n\ndata: [DONE]\n\n")
            }
            Flavour::OpenAi => format!("data: {finish}\n\ndata: [DONE]\n\n"),
            Flavour::Zhipu => {
                let last = json!({"id": "8313807536837492492", "created": 1706092316,
                    "model": "glm-4-air",
                    "choices": [{"index": 0, "finish_reason": "stop",
                        "delta": {"role": "assistant", "content": ""}}],
                    "usage": {"prompt_tokens": 6, "completion_tokens": 3, "total_tokens": 9}});
                format!("data: {last}\n\ndata: [DONE]\n\n")
            }
        }
    }

    fn content_type(&self) -> &'static str {
        match self.flavour {
            Flavour::OpenAi => "text/event-stream",
            Flavour::Zhipu => "text/event-stream;charset=UTF-8",
        }
    }
}

async fn answer(
    axum::extract::State(fake): axum::extract::State<Fake>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let include_usage = body["stream_options"]["include_usage"] == true;
    let limit = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|field| body[field].as_u64())
        .map_or(usize::MAX, |n| n as usize);
    if let Some(refusal) = fake.take(headers, body) {
        return refusal;
    }
    let (words, tail) = match fake.mode {
        Mode::Status(_) => unreachable!("answered by take"),
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            unreachable!()
        }
        Mode::Answer(n) => (
            Some(n.min(limit)),
            fake.end(n.min(limit), n > limit, include_usage),
        ),
        Mode::Unmetered(n) => (Some(n.min(limit)), fake.end(n.min(limit), n > limit, false)),
        Mode::StallAfter(n) => (Some(n), String::new()),
        Mode::BreakAfter(n) => (
            Some(n),
            "data: {\"error\":{\"message\":\"overloaded\"}}\n\n".to_owned(),
        ),
        Mode::Endless => (None, String::new()),
    };
    let guard = ClosedGuard(fake.closed_early.clone(), false);
    // A keep-alive comment first, as real services send.
    let start = vec![Ok::<_, std::convert::Infallible>(
        ": keep-alive\n\n".to_owned(),
    )];
    let content_type = fake.content_type();
    let frames = futures::stream::unfold(
        (0usize, guard, fake, tail),
        move |(i, mut guard, fake, tail)| async move {
            if guard.1 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(if words.is_none() { 20 } else { 2 })).await;
            let frame = match words {
                Some(n) if i >= n && matches!(fake.mode, Mode::StallAfter(_)) => {
                    std::future::pending::<()>().await;
                    unreachable!()
                }
                Some(n) if i >= n => {
                    guard.1 = true;
                    tail.clone()
                }
                _ => fake.chunk(&format!("w{i} ")),
            };
            Some((Ok(frame), (i + 1, guard, fake, tail)))
        },
    );
    (
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(futures::StreamExt::chain(
            futures::stream::iter(start),
            frames,
        )),
    )
        .into_response()
}

/// `/images/generations`: `n` picture URLs (`Mode::Answer(n)`).
async fn images(
    axum::extract::State(fake): axum::extract::State<Fake>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(refusal) = fake.take(headers, body) {
        return refusal;
    }
    match fake.mode {
        Mode::Answer(n) => {
            let data: Vec<Value> = (0..n)
                .map(|i| {
                    json!({"url": format!("https://images.example/fake-{i}.png"),
                    "revised_prompt": "a fake picture"})
                })
                .collect();
            axum::Json(json!({"created": 1, "data": data})).into_response()
        }
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            unreachable!()
        }
        _ => fake.error(500),
    }
}
