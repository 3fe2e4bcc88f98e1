//! A metered answer as a response body: our pages' SSE frames (one `data:` event per delta,
//! then `data: [DONE]`, or an `event: error` if the model breaks off), or the original's
//! bare text (the deltas as they are, then its error text if the model breaks off).

use super::ModelReply;
use super::upstream::UpstreamError;
use axum::body::Bytes;
use domain::ports::ChatAccounts;
use domain::service::MeteredAnswer;
use serde_json::{Value, json};

/// The frames of `answer`. Dropping the stream (the client left) drops the answer, which
/// ends its usage as CANCELLED and closes the upstream connection.
pub fn sse<A: ChatAccounts>(
    answer: MeteredAnswer<A, ModelReply>,
) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    futures::stream::unfold(Some(answer), |state| async move {
        let mut answer = state?;
        match answer.next().await {
            Some(Ok(text)) => Some((Ok(delta_frame(&text)), Some(answer))),
            Some(Err(error)) => Some((Ok(error_frame(&error)), None)),
            None => Some((Ok(Bytes::from_static(b"data: [DONE]\n\n")), None)),
        }
    })
}

/// The deltas of `answer` as they come, with no framing; if the model breaks off,
/// `broke_off` on a line of its own ends the body. Dropping the stream ends the call as
/// [`sse`]'s does.
pub fn bare<A: ChatAccounts>(
    answer: MeteredAnswer<A, ModelReply>,
    broke_off: &'static str,
) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    futures::stream::unfold(Some(answer), move |state| async move {
        let mut answer = state?;
        match answer.next().await {
            Some(Ok(text)) => Some((Ok(Bytes::from(text)), Some(answer))),
            Some(Err(_)) => Some((Ok(Bytes::from(format!("\r\n{broke_off}"))), None)),
            None => None,
        }
    })
}

/// What an OpenAI chunk says besides its delta.
#[derive(Debug, Clone)]
pub struct Completion {
    /// `chatcmpl-…`
    pub id: String,
    /// The model as the client named it.
    pub model: String,
    /// Unix seconds.
    pub created: i64,
    /// `stream_options.include_usage`: a last chunk with the tokens, when the model said.
    pub include_usage: bool,
    /// A content chunk's bytes after its delta, the same for every chunk of the answer.
    content_tail: String,
}

impl Completion {
    /// The chunks' common fields.
    pub fn new(id: String, model: String, created: i64, include_usage: bool) -> Self {
        // serde_json writes object keys sorted: the tail follows `choices` as `chunk` does.
        let content_tail = format!(
            ",\"finish_reason\":null,\"index\":0,\"logprobs\":null}}],\"created\":{created},\"id\":{},\"model\":{},\"object\":\"chat.completion.chunk\",\"system_fingerprint\":null}}\n\n",
            Value::String(id.clone()),
            Value::String(model.clone()),
        );
        Self {
            id,
            model,
            created,
            include_usage,
            content_tail,
        }
    }

    /// A content chunk: the bytes [`Self::delta`] would write, made without building a
    /// JSON tree (it is written for every delta of every stream).
    fn content(&self, text: &str) -> Bytes {
        const HEAD: &[u8] = b"data: {\"choices\":[{\"delta\":{\"content\":";
        let mut frame = Vec::with_capacity(HEAD.len() + text.len() + 8 + self.content_tail.len());
        frame.extend_from_slice(HEAD);
        serde_json::to_writer(&mut frame, text).expect("a string always serializes");
        frame.push(b'}');
        frame.extend_from_slice(self.content_tail.as_bytes());
        Bytes::from(frame)
    }

    /// One `chat.completion.chunk` event with `choices` and, if given, `usage`.
    fn chunk(&self, choices: Value, usage: Option<Value>) -> Bytes {
        let mut chunk = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "system_fingerprint": null, "choices": choices,
        });
        if let Some(usage) = usage {
            chunk["usage"] = usage;
        }
        Bytes::from(format!("data: {chunk}\n\n"))
    }

    fn delta(&self, delta: Value, finish_reason: Value) -> Bytes {
        self.chunk(
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]),
            None,
        )
    }
}

/// OpenAI's `usage` object.
pub fn usage_json(usage: domain::chat::TokenUsage) -> Value {
    json!({"prompt_tokens": usage.prompt, "completion_tokens": usage.completion,
        "total_tokens": usage.total()})
}

/// The answer as OpenAI's stream: a first chunk with the role, a chunk per delta, one
/// with `finish_reason` (`stop`, or `length` at the token limit), the usage chunk when
/// asked, then `data: [DONE]`; if the model breaks off, an `{"error":…}` event ends it (the
/// `openai` clients raise on it).
pub fn openai<A: ChatAccounts>(
    answer: MeteredAnswer<A, ModelReply>,
    completion: Completion,
) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    let first = completion.delta(json!({"role": "assistant", "content": ""}), Value::Null);
    // The completion travels with the answer: nothing is copied per delta.
    let rest = futures::stream::unfold(Some((answer, completion)), |state| async move {
        let (mut answer, completion) = state?;
        let frame = match answer.next().await {
            Some(Ok(text)) => {
                let frame = completion.content(&text);
                return Some((Ok(frame), Some((answer, completion))));
            }
            Some(Err(error)) => {
                let body = json!({"error": {"message": format!("the answer broke off: {}", client_text(&error)),
                    "type": "server_error", "param": null, "code": "upstream_error"}});
                Bytes::from(format!("data: {body}\n\n"))
            }
            None => {
                let mut end = completion.delta(json!({}), finish_reason(&answer)).to_vec();
                if let Some(usage) = answer.usage().filter(|_| completion.include_usage) {
                    end.extend_from_slice(&completion.chunk(json!([]), Some(usage_json(usage))));
                }
                end.extend_from_slice(b"data: [DONE]\n\n");
                Bytes::from(end)
            }
        };
        Some((Ok(frame), None))
    });
    futures::StreamExt::chain(futures::stream::iter([Ok(first)]), rest)
}

/// OpenAI's `finish_reason` of an ended answer: `length` if the model stopped at the
/// answer's token limit, else `stop`.
pub fn finish_reason<A: ChatAccounts>(answer: &MeteredAnswer<A, ModelReply>) -> Value {
    json!(if answer.cut_short() { "length" } else { "stop" })
}

/// A content delta as one SSE event; each line of it is a `data:` line, so a client's
/// SSE parser joins them back with `\n` (a CR in the text arrives as `\n`).
pub fn delta_frame(text: &str) -> Bytes {
    let mut frame = String::with_capacity(text.len() + 16);
    for line in text.split("\r\n").flat_map(|l| l.split(['\r', '\n'])) {
        frame.push_str("data: ");
        frame.push_str(line);
        frame.push('\n');
    }
    frame.push('\n');
    Bytes::from(frame)
}

/// The stream's end when the upstream broke off after answering something.
fn error_frame(error: &UpstreamError) -> Bytes {
    let body = json!({
        "code": crate::http::envelope::code::ERROR,
        "info": format!("the answer broke off: {}", client_text(error)),
    });
    Bytes::from(format!("event: error\ndata: {body}\n\n"))
}

/// What a client is told of an upstream failure: the kind and HTTP status, not the
/// upstream's own words (which may describe its configuration).
pub fn client_text(error: &UpstreamError) -> String {
    match error {
        UpstreamError::Connect(_) => "the model service could not be reached".into(),
        UpstreamError::Timeout(ms, stage) => {
            format!("the model service sent nothing for {ms} ms ({stage})")
        }
        UpstreamError::Status { status, .. } => {
            format!("the model service answered HTTP {status}")
        }
        UpstreamError::Model(_) => "the model service reported an error".into(),
        UpstreamError::Protocol(_) => "the model service broke the stream".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_deltas_become_several_data_lines() {
        assert_eq!(delta_frame("hi"), "data: hi\n\n");
        assert_eq!(delta_frame("a\nb\r\nc"), "data: a\ndata: b\ndata: c\n\n");
        assert_eq!(delta_frame(" x"), "data:  x\n\n");
    }

    #[test]
    fn a_content_chunk_is_the_same_bytes_as_the_json_tree_would_be() {
        let completion = Completion::new(
            "chatcmpl-42".into(),
            "gpt-4o \"mini\"".into(),
            1_800_000_000,
            true,
        );
        for text in ["w0 ", "", "a\"b\\c\n\u{1}", "你好 👋"] {
            let tree = completion.delta(json!({ "content": text }), Value::Null);
            assert_eq!(completion.content(text), tree, "{text:?}");
        }
    }

    #[test]
    fn clients_never_see_upstream_words() {
        let error = UpstreamError::Status {
            status: 401,
            message: "Incorrect API key provided: sk-abc***xyz".into(),
        };
        assert_eq!(client_text(&error), "the model service answered HTTP 401");
    }
}
