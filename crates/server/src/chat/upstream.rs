//! A client for one OpenAI-compatible `/chat/completions` endpoint with `stream: true`:
//! the answer comes back as content deltas, under three time limits (connect, first byte,
//! idle between chunks). Dropping an [`UpstreamReply`] drops the HTTP response and so
//! closes the connection: the upstream stops working for a client that left.

use super::sse::SseParser;
use crate::config::Secret;
use domain::chat::{ChatRequest, TokenUsage};
use serde_json::{Map, Value, json};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::{Instant, timeout_at};

/// The largest `/images/generations` answer read (URLs, not pictures, are expected).
const MAX_IMAGE_ANSWER: usize = 1024 * 1024;
/// Upstream error texts kept for logs and usage rows are cut to this many characters.
const MAX_MESSAGE_CHARS: usize = 300;

/// How long each stage may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// From sending the request to the first byte of the answer's body.
    pub first_byte: Duration,
    /// Between two chunks of the body (keep-alive comments count).
    pub idle: Duration,
}

/// Why the upstream did not deliver. Texts never carry the API key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("could not reach the model service: {0}")]
    Connect(String),
    #[error("the model service sent nothing for {0} ms ({1})")]
    Timeout(u128, &'static str),
    #[error("the model service answered HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("the model service reported an error: {0}")]
    Model(String),
    #[error("the model service broke the stream: {0}")]
    Protocol(String),
}

impl UpstreamError {
    /// Whether the upstream was too slow (504) rather than failing outright (502).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout(..))
    }
}

/// One configured upstream.
#[derive(Clone)]
pub struct Upstream {
    /// `…/v1`; requests go to `{base_url}/chat/completions`.
    base_url: String,
    api_key: Secret,
    client: reqwest::Client,
    timeouts: Timeouts,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .finish()
    }
}

impl Upstream {
    /// An upstream at `base_url` (e.g. `https://api.openai.com/v1`); an empty key sends no
    /// `Authorization`. Loopback upstreams bypass any environment proxy.
    pub fn new(base_url: &str, api_key: Secret, timeouts: Timeouts) -> anyhow::Result<Self> {
        let base_url = base_url.trim_end_matches('/').to_owned();
        anyhow::ensure!(
            base_url.starts_with("http://") || base_url.starts_with("https://"),
            "a chat upstream's base_url is an http(s) URL, got {base_url:?}"
        );
        let mut builder = reqwest::Client::builder().connect_timeout(timeouts.connect);
        if crate::net::is_loopback(&base_url) {
            builder = builder.no_proxy();
        }
        Ok(Self {
            base_url,
            api_key,
            client: builder.build()?,
            timeouts,
        })
    }

    /// The base URL (never the key), for logs.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends the request, under the upstream's name for its model, and waits for the
    /// answer's headers (within the first-byte limit).
    pub async fn open(
        &self,
        model: &str,
        request: &ChatRequest,
        options: &Map<String, Value>,
    ) -> Result<UpstreamReply, UpstreamError> {
        let mut body = options.clone();
        body.insert("model".into(), json!(model));
        let messages: Vec<Value> = request
            .messages
            .iter()
            .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
            .collect();
        body.insert("messages".into(), Value::Array(messages));
        if let Some(max) = request.max_tokens {
            // The chat may have lowered the caller's limit (to what the balance pays for);
            // it goes under the name the caller used.
            let field = if body.contains_key("max_completion_tokens") {
                "max_completion_tokens"
            } else {
                "max_tokens"
            };
            body.insert(field.into(), json!(max));
        }
        body.insert("stream".into(), Value::Bool(true));
        // The tokens come with the last chunk (OpenAI sends them only when asked).
        body.insert("stream_options".into(), json!({"include_usage": true}));
        let mut call = self
            .client
            .post(format!("{}/chat/completions", self.base_url))
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(&body);
        if !self.api_key.is_empty() {
            call = call.bearer_auth(self.api_key.expose());
        }
        let first_byte_by = Instant::now() + self.timeouts.first_byte;
        let response = timeout_at(first_byte_by, call.send())
            .await
            .map_err(|_| self.timed_out(self.timeouts.first_byte, "first byte"))?
            .map_err(|e| UpstreamError::Connect(self.redact(&e.without_url().to_string())))?;
        let mut reply = UpstreamReply {
            response,
            upstream: self.clone(),
            parser: SseParser::new(),
            pending: VecDeque::new(),
            next_chunk_by: Some(first_byte_by),
            finish_reason_seen: false,
            cut_short: false,
            usage: None,
            done: false,
        };
        let status = reply.response.status();
        if !status.is_success() {
            let text = reply.body_text().await;
            return Err(UpstreamError::Status {
                status: status.as_u16(),
                message: self.redact(&error_message(&text)),
            });
        }
        Ok(reply)
    }

    /// Asks `/images/generations` for one picture of `prompt`; the URLs of what it made.
    /// The whole answer is due within the first-byte limit (a picture takes a while).
    pub async fn images(&self, model: &str, prompt: &str) -> Result<Vec<String>, UpstreamError> {
        let body = json!({"model": model, "prompt": prompt, "n": 1});
        let mut call = self
            .client
            .post(format!("{}/images/generations", self.base_url))
            .json(&body);
        if !self.api_key.is_empty() {
            call = call.bearer_auth(self.api_key.expose());
        }
        let limit = self.timeouts.first_byte;
        let answer =
            async {
                let mut response = call.send().await.map_err(|e| {
                    UpstreamError::Connect(self.redact(&e.without_url().to_string()))
                })?;
                let status = response.status();
                let mut bytes = Vec::new();
                while let Some(chunk) = response.chunk().await.map_err(|e| {
                    UpstreamError::Protocol(self.redact(&e.without_url().to_string()))
                })? {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() > MAX_IMAGE_ANSWER {
                        return Err(UpstreamError::Protocol(format!(
                            "an image answer over {MAX_IMAGE_ANSWER} bytes"
                        )));
                    }
                }
                Ok::<_, UpstreamError>((status, bytes))
            };
        let (status, bytes) = tokio::time::timeout(limit, answer)
            .await
            .map_err(|_| self.timed_out(limit, "image"))??;
        let text = String::from_utf8_lossy(&bytes);
        if !status.is_success() {
            return Err(UpstreamError::Status {
                status: status.as_u16(),
                message: self.redact(&error_message(&text)),
            });
        }
        image_urls(&text).map_err(|e| UpstreamError::Protocol(self.redact(&e)))
    }

    fn timed_out(&self, after: Duration, stage: &'static str) -> UpstreamError {
        UpstreamError::Timeout(after.as_millis(), stage)
    }

    /// The text with the API key blanked out (some services echo part of a bad key), cut
    /// to a loggable length.
    fn redact(&self, text: &str) -> String {
        let key = self.api_key.expose();
        let text = if key.len() >= 4 {
            text.replace(key, "***")
        } else {
            text.to_owned()
        };
        text.chars().take(MAX_MESSAGE_CHARS).collect()
    }
}

/// A streaming answer. Each [`next_delta`](Self::next_delta) waits for the next piece of
/// content; dropping it closes the upstream connection.
pub struct UpstreamReply {
    response: reqwest::Response,
    upstream: Upstream,
    parser: SseParser,
    pending: VecDeque<String>,
    /// The deadline for the next chunk: the first-byte limit, then the idle limit.
    next_chunk_by: Option<Instant>,
    finish_reason_seen: bool,
    /// The service said the answer stopped at its token limit.
    cut_short: bool,
    usage: Option<TokenUsage>,
    done: bool,
}

impl UpstreamReply {
    /// The tokens the service reported, once it did.
    pub fn usage(&self) -> Option<TokenUsage> {
        self.usage
    }

    /// Whether the service stopped the answer at its token limit (`finish_reason: length`).
    pub fn cut_short(&self) -> bool {
        self.cut_short
    }

    /// The next non-empty content delta, `Ok(None)` once the answer is complete.
    pub async fn next_delta(&mut self) -> Result<Option<String>, UpstreamError> {
        loop {
            if self.done {
                return Ok(None);
            }
            if let Some(data) = self.pending.pop_front() {
                if let Some(text) = self.on_event(&data)? {
                    return Ok(Some(text));
                }
                continue;
            }
            match self.next_chunk().await? {
                Some(bytes) => {
                    let events = self.parser.feed(&bytes).map_err(|e| {
                        self.done = true;
                        UpstreamError::Protocol(e.to_string())
                    })?;
                    self.pending.extend(events.into_iter().map(|e| e.data));
                }
                None => {
                    if let Some(event) = self.parser.finish() {
                        self.pending.push_back(event.data);
                        continue;
                    }
                    self.done = true;
                    // A clean end without `[DONE]` is complete only if the model said so.
                    return if self.finish_reason_seen {
                        Ok(None)
                    } else {
                        Err(UpstreamError::Protocol(
                            "the stream ended before the answer was complete".into(),
                        ))
                    };
                }
            }
        }
    }

    /// One event's data: `[DONE]`, an error object, or a chunk with a content delta.
    fn on_event(&mut self, data: &str) -> Result<Option<String>, UpstreamError> {
        match read_event(data) {
            Ok(StreamEvent::Done) => {
                self.done = true;
                Ok(None)
            }
            Ok(StreamEvent::Chunk {
                delta,
                finished,
                cut_short,
                usage,
            }) => {
                self.finish_reason_seen |= finished;
                self.cut_short |= cut_short;
                self.usage = usage.or(self.usage);
                Ok(delta)
            }
            Ok(StreamEvent::Error(message)) => {
                self.done = true;
                Err(UpstreamError::Model(self.upstream.redact(&message)))
            }
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }

    async fn next_chunk(&mut self) -> Result<Option<axum::body::Bytes>, UpstreamError> {
        let (by, stage, limit) = match self.next_chunk_by {
            Some(by) => (by, "first byte", self.upstream.timeouts.first_byte),
            None => (
                Instant::now() + self.upstream.timeouts.idle,
                "idle",
                self.upstream.timeouts.idle,
            ),
        };
        let chunk = timeout_at(by, self.response.chunk())
            .await
            .map_err(|_| {
                self.done = true;
                self.upstream.timed_out(limit, stage)
            })?
            .map_err(|e| {
                self.done = true;
                UpstreamError::Protocol(self.upstream.redact(&e.without_url().to_string()))
            })?;
        self.next_chunk_by = None;
        Ok(chunk)
    }

    /// The body of an error answer, bounded in size and time.
    async fn body_text(&mut self) -> String {
        let mut body = Vec::new();
        while body.len() < 16 * 1024 {
            match self.next_chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        String::from_utf8_lossy(&body).into_owned()
    }
}

/// What one event of an OpenAI-compatible stream says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// `[DONE]`: the answer is complete.
    Done,
    /// A chunk: its non-empty content delta, whether it carries a `finish_reason`, and the
    /// token usage it reports (the last chunk, when asked with `include_usage`).
    Chunk {
        delta: Option<String>,
        finished: bool,
        /// Its `finish_reason` is `length`: the answer stopped at its token limit.
        cut_short: bool,
        usage: Option<TokenUsage>,
    },
    /// An error object in place of a chunk (its message, not yet redacted).
    Error(String),
}

/// A chunk as the services send it, read without building a JSON tree (every delta of
/// every stream is one); anything else goes the general way.
#[derive(serde::Deserialize)]
struct WireChunk<'a> {
    #[serde(borrow)]
    choices: Option<Vec<WireChoice<'a>>>,
    usage: Option<WireUsage>,
}

#[derive(serde::Deserialize)]
struct WireChoice<'a> {
    #[serde(borrow)]
    delta: Option<WireDelta<'a>>,
    #[serde(borrow)]
    finish_reason: Option<std::borrow::Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
struct WireDelta<'a> {
    #[serde(borrow)]
    content: Option<std::borrow::Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
struct WireUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

/// Reads one event's data.
pub fn read_event(data: &str) -> Result<StreamEvent, UpstreamError> {
    if data.trim() == "[DONE]" {
        return Ok(StreamEvent::Done);
    }
    // An error object, or a chunk of another shape, is read as a tree below.
    if !data.contains("\"error\"")
        && let Ok(chunk) = serde_json::from_str::<WireChunk>(data)
    {
        let choice = chunk.choices.as_ref().and_then(|c| c.first());
        return Ok(StreamEvent::Chunk {
            delta: choice
                .and_then(|c| c.delta.as_ref())
                .and_then(|d| d.content.as_deref())
                .filter(|text| !text.is_empty())
                .map(str::to_owned),
            finished: choice.is_some_and(|c| c.finish_reason.is_some()),
            cut_short: choice.is_some_and(|c| c.finish_reason.as_deref() == Some("length")),
            usage: chunk.usage.and_then(|u| {
                u.prompt_tokens
                    .zip(u.completion_tokens)
                    .map(|(prompt, completion)| TokenUsage { prompt, completion })
            }),
        });
    }
    read_tree(data)
}

/// Reads one event's data (not `[DONE]`) as a JSON tree: the general way.
fn read_tree(data: &str) -> Result<StreamEvent, UpstreamError> {
    let chunk: Value = serde_json::from_str(data)
        .map_err(|e| UpstreamError::Protocol(format!("an event is not JSON: {e}")))?;
    if let Some(error) = chunk.get("error") {
        return Ok(StreamEvent::Error(describe_error(error)));
    }
    let choice = &chunk["choices"][0];
    let usage = &chunk["usage"];
    let tokens = |key: &str| usage[key].as_u64();
    Ok(StreamEvent::Chunk {
        delta: choice["delta"]["content"]
            .as_str()
            .filter(|text| !text.is_empty())
            .map(str::to_owned),
        finished: !choice["finish_reason"].is_null(),
        cut_short: choice["finish_reason"] == "length",
        usage: tokens("prompt_tokens")
            .zip(tokens("completion_tokens"))
            .map(|(prompt, completion)| TokenUsage { prompt, completion }),
    })
}

/// The picture URLs of an `/images/generations` answer (`{"data":[{"url":…}]}`).
fn image_urls(body: &str) -> Result<Vec<String>, String> {
    let answer: Value =
        serde_json::from_str(body).map_err(|e| format!("an image answer is not JSON: {e}"))?;
    if let Some(error) = answer.get("error") {
        return Err(describe_error(error));
    }
    let urls: Vec<String> = answer["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|image| image["url"].as_str())
        // They go into markdown as `![](url)`: nothing that could end or leave it.
        .filter(|url| url.starts_with("https://") || url.starts_with("http://"))
        .filter(|url| {
            !url.contains(|c: char| c.is_whitespace() || c.is_control() || "()<>\"'\\`".contains(c))
        })
        .map(str::to_owned)
        .collect();
    if urls.is_empty() {
        return Err("an image answer without an http(s) picture URL".into());
    }
    Ok(urls)
}

fn error_message(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(value) if value.get("error").is_some() => describe_error(&value["error"]),
        _ => body.trim().to_owned(),
    }
}

fn describe_error(error: &Value) -> String {
    match error.get("message").and_then(Value::as_str) {
        Some(message) => message.to_owned(),
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_chunk_reader_reads_what_the_tree_reads() {
        let chunks = [
            r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"w0 "},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"a\"b\n\u4f60"}}]}"#,
            r#"{"choices":[{"index":0,"finish_reason":"stop","delta":{"content":""}}],"usage":{"prompt_tokens":6,"completion_tokens":3,"total_tokens":9}}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2}}"#,
            r#"{"choices":[{"delta":{"content":null},"finish_reason":null}],"usage":null}"#,
            r#"{"choices":[{"delta":{}}]}"#,
            r#"{"choices":[{"delta":{"content":"x"},"finish_reason":"length"}]}"#,
            r#"{"usage":{"prompt_tokens":7}}"#,
            r#"{}"#,
        ];
        for chunk in chunks {
            let quick = serde_json::from_str::<WireChunk>(chunk);
            assert!(quick.is_ok(), "{chunk}: the quick reader takes it");
            assert_eq!(
                read_event(chunk).unwrap(),
                read_tree(chunk).unwrap(),
                "{chunk}"
            );
        }
        // Other shapes go the general way, and read as before.
        for odd in [
            r#"{"choices":[{"delta":{"content":5}}]}"#,
            r#"{"choices":"none"}"#,
            r#"{"usage":{"prompt_tokens":-1,"completion_tokens":2}}"#,
            r#"42"#,
            r#"{"error":{"message":"overloaded"}}"#,
            r#"{"error":null}"#,
        ] {
            assert_eq!(
                format!("{:?}", read_event(odd)),
                format!("{:?}", read_tree(odd)),
                "{odd}"
            );
        }
    }

    fn upstream(key: &str) -> Upstream {
        let timeouts = Timeouts {
            connect: Duration::from_secs(1),
            first_byte: Duration::from_secs(1),
            idle: Duration::from_secs(1),
        };
        Upstream::new(
            "http://127.0.0.1:9/v1/",
            Secret::from(key.to_owned()),
            timeouts,
        )
        .unwrap()
    }

    #[test]
    fn the_key_never_reaches_texts_or_debug_output() {
        let up = upstream("sk-very-secret-key");
        assert_eq!(
            up.redact("Incorrect API key provided: sk-very-secret-key."),
            "Incorrect API key provided: ***."
        );
        assert!(!format!("{up:?}").contains("sk-very"));
        assert_eq!(up.base_url(), "http://127.0.0.1:9/v1");
    }

    #[test]
    fn error_bodies_yield_their_message() {
        assert_eq!(
            error_message(r#"{"error":{"message":"Rate limit reached","type":"x"}}"#),
            "Rate limit reached"
        );
        assert_eq!(error_message(" busy \n"), "busy");
    }

    #[test]
    fn image_answers_yield_their_urls_and_nothing_else() {
        let urls =
            image_urls(r#"{"created":1,"data":[{"url":"https://x/a.png","revised_prompt":"p"}]}"#);
        assert_eq!(urls.unwrap(), ["https://x/a.png"]);
        assert!(image_urls(r#"{"data":[{"b64_json":"AAAA"}]}"#).is_err());
        assert!(image_urls(r#"{"data":[{"url":"javascript:alert(1)"}]}"#).is_err());
        assert!(image_urls(r#"{"data":[{"url":"https://x/a.png)<script>"}]}"#).is_err());
        assert_eq!(
            image_urls(r#"{"error":{"message":"bad prompt"}}"#).unwrap_err(),
            "bad prompt"
        );
    }

    #[test]
    fn a_base_url_must_be_http() {
        let timeouts = upstream("").timeouts;
        assert!(Upstream::new("ftp://x", Secret::default(), timeouts).is_err());
    }
}
