//! Chat's adapters: the model services behind the domain's metered [`domain::service::Chat`].
//!
//! [`sse`] parses upstream event streams, [`upstream`] talks to one OpenAI-compatible
//! service (chat and images), [`routing`] picks it by the model map and model prefix,
//! [`offline`] is the offline model served by this process, [`frames`] writes a metered
//! answer as our pages' SSE frames or as the original's bare text, and [`Models`] is the
//! `ModelGateway` over all of them.

pub mod error;
pub mod frames;
pub mod offline;
pub mod routing;
pub mod sse;
pub mod upstream;

use crate::config::{ChatSettings, ModelKind, Secret};
use anyhow::Context as _;
use domain::chat::{ChatRequest, Role};
use domain::ports::{Background, ModelAnswer, ModelGateway};
use domain::product::ModelType;
use routing::Routes;
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use upstream::{Timeouts, Upstream, UpstreamError, UpstreamReply};

/// The model services this server reaches, by model name.
#[derive(Clone)]
pub struct Models {
    routes: Routes,
    /// The offline model's key and address, when it is on.
    offline: Option<offline::Offline>,
}

impl Models {
    /// From `[chat]`; `local_url` reaches this server over loopback (for the offline model),
    /// `public_url` is where browsers reach it (for the offline model's pictures), `live`
    /// says whether real payments are taken: then the offline model is off unless
    /// `chat.offline_model = true` says otherwise, so paying users never get its fixed text.
    pub fn from_settings(
        settings: &ChatSettings,
        local_url: &str,
        public_url: &str,
        live: bool,
    ) -> anyhow::Result<Self> {
        let timeouts = Timeouts {
            connect: Duration::from_millis(settings.connect_timeout_ms),
            first_byte: Duration::from_millis(settings.first_byte_timeout_ms),
            idle: Duration::from_millis(settings.idle_timeout_ms),
        };
        let upstreams = settings
            .upstreams
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let upstream = Upstream::new(&u.base_url, u.api_key.clone(), timeouts)
                    .with_context(|| format!("chat.upstreams[{i}]"))?;
                Ok((u.name.clone(), u.prefix.clone(), upstream))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let offline_on = settings
            .offline_model
            .unwrap_or(settings.upstreams.is_empty() && !live);
        // Its route is on this server's port: only this process, which knows the key, may
        // call it (it would otherwise be a free model for anyone).
        let offline = offline_on.then(|| offline::Offline {
            key: Secret::from(offline::fresh_key()),
            public_url: public_url.trim_end_matches('/').to_owned(),
        });
        let offline_upstream = offline
            .as_ref()
            .map(|offline| {
                let url = format!("{}{}", local_url.trim_end_matches('/'), offline::BASE_PATH);
                Upstream::new(&url, offline.key.clone(), timeouts)
            })
            .transpose()
            .context("the offline model's upstream")?;
        Ok(Self {
            routes: Routes::new(
                upstreams,
                settings.models.clone(),
                offline_upstream,
                routing::BreakerPolicy {
                    failures: settings.breaker_failures,
                    open_for: Duration::from_secs(settings.breaker_open_secs),
                },
            )?,
            offline,
        })
    }

    /// What `model` makes, if some model service answers it.
    pub fn kind_of(&self, model: &ModelType) -> Option<ModelKind> {
        self.routes.for_model(model).map(|route| route.kind)
    }

    /// The offline model's routes, when it is on (they must be mounted).
    pub fn offline_router(&self) -> Option<axum::Router> {
        self.offline.clone().map(offline::router)
    }
}

impl ModelGateway for Models {
    /// Request fields passed on to the upstream as they are.
    type Options = Map<String, Value>;
    type Answer = ModelReply;
    type Error = UpstreamError;

    fn serves(&self, model: &ModelType) -> bool {
        self.routes.for_model(model).is_some()
    }

    /// o200k_base (GPT-4o's) for every model: for the others (GLM, …) a close count, and
    /// the model's own report replaces it whenever it sends one.
    fn tokens_in(&self, _model: &ModelType, text: &str) -> u64 {
        tokens_in(text)
    }

    /// Tries the model's upstreams in order, skipping those whose breaker is open (all of
    /// them, if every breaker is), until one gives its first token; the domain has spent
    /// the call's price once, whichever answers.
    async fn open(
        &self,
        request: &ChatRequest,
        options: &Self::Options,
    ) -> Result<ModelReply, UpstreamError> {
        let route = self.routes.for_model(&request.model).ok_or_else(|| {
            UpstreamError::Connect(format!("no model service for {}", request.model.as_str()))
        })?;
        let closed: Vec<_> = route
            .hops
            .iter()
            .filter(|hop| hop.breaker.is_call_permitted())
            .collect();
        let hops = if closed.is_empty() {
            route.hops.iter().collect()
        } else {
            closed
        };
        let mut failure = None;
        for hop in hops {
            match open_one(&hop.upstream, &route, request, options).await {
                Ok(reply) => {
                    hop.breaker.on_success();
                    return Ok(reply);
                }
                Err(error) => {
                    hop.breaker.on_error();
                    metrics::counter!("chatmall_chat_upstream_errors_total",
                        "upstream" => hop.upstream.base_url().to_owned())
                    .increment(1);
                    tracing::warn!(upstream = hop.upstream.base_url(), model = route.model,
                        %error, "chat upstream failed before its first token");
                    failure = Some(error);
                }
            }
        }
        Err(failure.expect("a route has an upstream"))
    }
}

/// One upstream's answer up to its first delta (so that a failure until then can go to
/// the next upstream).
async fn open_one(
    upstream: &Upstream,
    route: &routing::Route,
    request: &ChatRequest,
    options: &Map<String, Value>,
) -> Result<ModelReply, UpstreamError> {
    match route.kind {
        ModelKind::Chat => {
            let mut reply = upstream.open(&route.model, request, options).await?;
            let first = reply.next_delta().await?;
            Ok(ModelReply::Stream {
                reply: Box::new(reply),
                first,
            })
        }
        ModelKind::Image => {
            let urls = upstream
                .images(&route.model, &image_prompt(request))
                .await?;
            Ok(ModelReply::Images(urls.into()))
        }
    }
}

/// An image model's prompt, as the original made it: the user's messages joined by CRLF.
fn image_prompt(request: &ChatRequest) -> String {
    request
        .messages
        .iter()
        .filter(|m| m.role == Role::User)
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// A model's answer: streamed text, or the pictures an image model made, each one delta
/// (a markdown image, as the original sent it).
pub enum ModelReply {
    /// A stream, with its first delta already read.
    Stream {
        reply: Box<UpstreamReply>,
        first: Option<String>,
    },
    Images(VecDeque<String>),
}

impl ModelAnswer for ModelReply {
    type Error = UpstreamError;

    async fn next_delta(&mut self) -> Result<Option<String>, UpstreamError> {
        match self {
            Self::Stream { reply, first } => match first.take() {
                Some(text) => Ok(Some(text)),
                None => reply.next_delta().await,
            },
            Self::Images(urls) => Ok(urls.pop_front().map(|url| format!("![]({url})"))),
        }
    }

    fn usage(&self) -> Option<domain::chat::TokenUsage> {
        match self {
            Self::Stream { reply, .. } => reply.usage(),
            Self::Images(_) => None,
        }
    }

    fn cut_short(&self) -> bool {
        matches!(self, Self::Stream { reply, .. } if reply.cut_short())
    }
}

/// How many o200k_base tokens `text` is.
pub fn tokens_in(text: &str) -> u64 {
    tiktoken_rs::o200k_base_singleton().count_ordinary(text) as u64
}

/// Background work on the tokio runtime (absent only at shutdown, when it is skipped).
pub struct OnRuntime;

impl Background for OnRuntime {
    fn run(&self, task: Pin<Box<dyn Future<Output = ()> + Send + 'static>>) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(task);
        }
    }
}
