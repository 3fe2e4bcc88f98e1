//! Chat's adapters: the model services behind the domain's metered [`domain::service::Chat`].
//!
//! [`sse`] parses upstream event streams, [`upstream`] talks to one OpenAI-compatible
//! service, [`routing`] picks it by model prefix, [`offline`] is the offline model served by
//! this process, and [`Models`] is the `ModelGateway` over all of them.

pub mod error;
pub mod frames;
pub mod offline;
pub mod routing;
pub mod sse;
pub mod upstream;

use crate::config::{ChatSettings, Secret};
use anyhow::Context as _;
use domain::chat::ChatRequest;
use domain::ports::{Background, ModelAnswer, ModelGateway};
use domain::product::ModelType;
use routing::Routes;
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use upstream::{Timeouts, Upstream, UpstreamError, UpstreamReply};

/// The model services this server reaches, by model name.
#[derive(Clone)]
pub struct Models {
    routes: Routes,
    /// The key the offline model's route asks of its caller, when that model is on.
    offline_key: Option<Secret>,
}

impl Models {
    /// From `[chat]`; `local_url` reaches this server over loopback (for the offline model),
    /// `live` says whether real payments are taken: then the offline model is off unless
    /// `chat.offline_model = true` says otherwise, so paying users never get its fixed text.
    pub fn from_settings(
        settings: &ChatSettings,
        local_url: &str,
        live: bool,
    ) -> anyhow::Result<Self> {
        let timeouts = Timeouts {
            connect: Duration::from_millis(settings.connect_timeout_ms),
            first_byte: Duration::from_millis(settings.first_byte_timeout_ms),
            idle: Duration::from_millis(settings.idle_timeout_ms),
        };
        let by_prefix = settings
            .upstreams
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let upstream = Upstream::new(&u.base_url, u.api_key.clone(), timeouts)
                    .with_context(|| format!("chat.upstreams[{i}]"))?;
                Ok((u.prefix.clone(), upstream))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let offline_on = settings
            .offline_model
            .unwrap_or(settings.upstreams.is_empty() && !live);
        // Its route is on this server's port: only this process, which knows the key, may
        // call it (it would otherwise be a free model for anyone).
        let offline_key = offline_on.then(|| Secret::from(offline::fresh_key()));
        let offline_upstream = offline_key
            .as_ref()
            .map(|key| {
                let url = format!("{}{}", local_url.trim_end_matches('/'), offline::BASE_PATH);
                Upstream::new(&url, key.clone(), timeouts)
            })
            .transpose()
            .context("the offline model's upstream")?;
        Ok(Self {
            routes: Routes::new(by_prefix, offline_upstream),
            offline_key,
        })
    }

    /// The offline model's routes, when it is on (they must be mounted).
    pub fn offline_router(&self) -> Option<axum::Router> {
        self.offline_key.clone().map(offline::router)
    }
}

impl ModelGateway for Models {
    /// Request fields passed on to the upstream as they are.
    type Options = Map<String, Value>;
    type Answer = UpstreamReply;
    type Error = UpstreamError;

    fn serves(&self, model: &ModelType) -> bool {
        self.routes.for_model(model).is_some()
    }

    async fn open(
        &self,
        request: &ChatRequest,
        options: &Self::Options,
    ) -> Result<UpstreamReply, UpstreamError> {
        let upstream = self.routes.for_model(&request.model).ok_or_else(|| {
            UpstreamError::Connect(format!("no model service for {}", request.model.as_str()))
        })?;
        upstream.open(request, options).await.inspect_err(|error| {
            tracing::warn!(upstream = upstream.base_url(), %error, "chat upstream failed");
        })
    }
}

impl ModelAnswer for UpstreamReply {
    type Error = UpstreamError;

    async fn next_delta(&mut self) -> Result<Option<String>, UpstreamError> {
        UpstreamReply::next_delta(self).await
    }
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
