//! One chat call: spend the price, open the upstream, wait for the first token (a failure
//! until then gives the price back), then stream; the usage row ends exactly once, also
//! when the client goes away mid-answer (then it is CANCELLED, and the call counts).

use super::ChatService;
use super::error::ChatError;
use super::upstream::{UpstreamError, UpstreamReply};
use axum::body::Bytes;
use domain::chat::{ChatAccounts, ChatRequest, Spend, UsageEnd, UsageId};
use domain::clock::Clock;
use domain::user::UserId;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tokio::time::Instant;

/// A call whose answer has started: its SSE frames, via [`ChatStream::into_frames`].
pub struct ChatStream<A: ChatAccounts> {
    reply: UpstreamReply,
    first: Option<String>,
    usage: UsageGuard<A>,
}

/// Spends, opens the upstream and waits for its first token.
pub async fn start<A: ChatAccounts>(
    accounts: Arc<A>,
    service: &ChatService,
    user: &UserId,
    request: ChatRequest,
    options: Map<String, Value>,
) -> Result<ChatStream<A>, ChatError> {
    let model = request.model.clone();
    let upstream = service
        .routes
        .for_model(&model)
        .ok_or_else(|| ChatError::ModelNotServed(model.as_str().to_owned()))?
        .clone();
    let price = service.pricing.price_of(&model);
    let started = Instant::now();
    let usage = match accounts
        .spend(user, &model, price, service.clock.now())
        .await?
    {
        Spend::Spent(usage) => usage,
        Spend::NoAccount => return Err(ChatError::NoAccount),
        Spend::Frozen => return Err(ChatError::Frozen),
        Spend::ModelNotGranted => {
            return Err(ChatError::ModelNotGranted(model.as_str().to_owned()));
        }
        Spend::NoQuota => return Err(ChatError::NoQuota),
    };
    let mut usage = UsageGuard {
        accounts,
        clock: service.clock.clone(),
        usage,
        started,
        first_token_ms: None,
        ended: false,
    };
    let opened = async {
        let mut reply = upstream.open(&request, &options).await?;
        let first = reply.next_delta().await?;
        Ok::<_, UpstreamError>((reply, first))
    }
    .await;
    match opened {
        Ok((reply, first)) => {
            if first.is_some() {
                usage.first_token();
            }
            Ok(ChatStream {
                reply,
                first,
                usage,
            })
        }
        Err(error) => {
            tracing::warn!(%user, model = model.as_str(), upstream = upstream.base_url(), %error,
                "chat upstream failed before the first token; refunding");
            usage.refund(&error).await;
            Err(ChatError::Upstream(error))
        }
    }
}

impl<A: ChatAccounts> ChatStream<A> {
    /// The SSE frames to send: one `data:` event per delta, then `data: [DONE]`, or an
    /// `event: error` if the upstream breaks off. Dropping the stream (the client left)
    /// drops the upstream answer, which closes its connection.
    pub fn into_frames(
        self,
    ) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
        futures::stream::unfold(Some(self), |state| async move {
            let mut call = state?;
            if let Some(first) = call.first.take() {
                return Some((Ok(delta_frame(&first)), Some(call)));
            }
            match call.reply.next_delta().await {
                Ok(Some(text)) => {
                    call.usage.first_token();
                    Some((Ok(delta_frame(&text)), Some(call)))
                }
                Ok(None) => {
                    call.usage.finish(UsageEnd::Ok).await;
                    Some((Ok(Bytes::from_static(b"data: [DONE]\n\n")), None))
                }
                Err(error) => {
                    tracing::warn!(usage = %call.usage.usage, %error,
                        "chat upstream failed mid-answer; the call counts");
                    call.usage.finish(UsageEnd::Failed(error.to_string())).await;
                    Some((Ok(error_frame(&error)), None))
                }
            }
        })
    }
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

/// The call's usage row, ended exactly once: explicitly, or as CANCELLED when dropped
/// unended (the client left while waiting or streaming).
struct UsageGuard<A: ChatAccounts> {
    accounts: Arc<A>,
    clock: Arc<dyn Clock>,
    usage: UsageId,
    started: Instant,
    first_token_ms: Option<i64>,
    ended: bool,
}

impl<A: ChatAccounts> UsageGuard<A> {
    fn first_token(&mut self) {
        if self.first_token_ms.is_none() {
            let ms = self.started.elapsed().as_millis();
            self.first_token_ms = Some(i64::try_from(ms).unwrap_or(i64::MAX));
        }
    }

    async fn refund(&mut self, error: &UpstreamError) {
        self.ended = true;
        if let Err(e) = self
            .accounts
            .refund(self.usage, &error.to_string(), self.clock.now())
            .await
        {
            tracing::error!(usage = %self.usage, error = ?e, "could not refund a failed chat call");
        }
    }

    async fn finish(&mut self, end: UsageEnd) {
        self.ended = true;
        if let Err(e) = self
            .accounts
            .finish(self.usage, &end, self.first_token_ms, self.clock.now())
            .await
        {
            tracing::error!(usage = %self.usage, error = ?e, "could not record the end of a chat call");
        }
    }
}

impl<A: ChatAccounts> Drop for UsageGuard<A> {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let (accounts, usage, first) = (self.accounts.clone(), self.usage, self.first_token_ms);
        let now = self.clock.now();
        tracing::info!(%usage, "chat client went away; the call counts");
        // Drop cannot await: the write goes to the runtime (absent only at shutdown, when
        // the row simply stays STARTED).
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = accounts
                    .finish(usage, &UsageEnd::Cancelled, first, now)
                    .await
                {
                    tracing::error!(%usage, error = ?e, "could not record a cancelled chat call");
                }
            });
        }
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
    fn clients_never_see_upstream_words() {
        let error = UpstreamError::Status {
            status: 401,
            message: "Incorrect API key provided: sk-abc***xyz".into(),
        };
        assert_eq!(client_text(&error), "the model service answered HTTP 401");
    }
}
