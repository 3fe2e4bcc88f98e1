//! Chat: the quota-metered, OpenAI-compatible streaming chat (issue 4).
//!
//! [`sse`] parses upstream event streams, [`upstream`] talks to one OpenAI-compatible
//! service, [`routing`] picks it by model prefix, [`sandbox`] is the offline model served by
//! this process, and [`call`] runs one call against the quota port.

pub mod call;
pub mod error;
pub mod routing;
pub mod sandbox;
pub mod sse;
pub mod upstream;

use crate::config::{ChatSettings, Secret};
use anyhow::Context as _;
use domain::chat::Pricing;
use routing::Routes;
use std::time::Duration;
use upstream::{Timeouts, Upstream};

/// The chat's configuration, ready to use: routes to upstreams and prices.
#[derive(Clone)]
pub struct ChatService {
    pub routes: Routes,
    pub pricing: Pricing,
    /// The key the sandbox model's route asks of its caller, when that model is on.
    sandbox_key: Option<Secret>,
    /// The service's clock.
    pub clock: std::sync::Arc<dyn domain::clock::Clock>,
}

impl ChatService {
    /// From `[chat]`; `local_url` reaches this server over loopback (for the sandbox model),
    /// `live` says whether real payments are taken: then the sandbox model is off unless
    /// `chat.sandbox_model = true` says otherwise, so paying users never get its fixed text.
    pub fn from_settings(
        settings: &ChatSettings,
        local_url: &str,
        live: bool,
        clock: std::sync::Arc<dyn domain::clock::Clock>,
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
        let sandbox_on = settings
            .sandbox_model
            .unwrap_or(settings.upstreams.is_empty() && !live);
        // Its route is on this server's port: only this process, which knows the key, may
        // call it (it would otherwise be a free model for anyone).
        let sandbox_key = sandbox_on.then(|| Secret::from(sandbox::fresh_key()));
        let sandbox_upstream = sandbox_key
            .as_ref()
            .map(|key| {
                let url = format!("{}{}", local_url.trim_end_matches('/'), sandbox::BASE_PATH);
                Upstream::new(&url, key.clone(), timeouts)
            })
            .transpose()
            .context("the sandbox model's upstream")?;
        let pricing = Pricing::new(
            settings.default_price,
            settings.pricing.iter().map(|(m, p)| (m.as_str(), *p)),
        )
        .context("chat.pricing / chat.default_price")?;
        Ok(Self {
            routes: Routes::new(by_prefix, sandbox_upstream),
            pricing,
            sandbox_key,
            clock,
        })
    }

    /// The sandbox model's routes, when it is on (they must be mounted).
    pub fn sandbox_router(&self) -> Option<axum::Router> {
        self.sandbox_key.clone().map(sandbox::router)
    }
}
