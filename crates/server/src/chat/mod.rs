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
#[derive(Debug, Clone)]
pub struct ChatService {
    pub routes: Routes,
    pub pricing: Pricing,
    sandbox: bool,
}

impl ChatService {
    /// From `[chat]`; `local_url` reaches this server over loopback (for the sandbox model).
    pub fn from_settings(settings: &ChatSettings, local_url: &str) -> anyhow::Result<Self> {
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
        let sandbox = settings
            .sandbox_model
            .unwrap_or(settings.upstreams.is_empty());
        let sandbox_upstream = sandbox
            .then(|| {
                let url = format!("{}{}", local_url.trim_end_matches('/'), sandbox::BASE_PATH);
                Upstream::new(&url, Secret::default(), timeouts)
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
            sandbox,
        })
    }

    /// Whether the sandbox model is served (its routes must be mounted).
    pub fn sandbox_on(&self) -> bool {
        self.sandbox
    }
}
