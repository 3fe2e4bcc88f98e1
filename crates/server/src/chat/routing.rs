//! Which upstream answers a model, under which name, and how: the model map's entry names
//! its upstream, the upstream's model name and its kind; a model without one (or whose
//! entry names no upstream) goes to the configured upstream with the longest prefix that
//! matches its client-facing or its upstream name (so `chatglm_turbo`, sent as
//! `glm-4-air`, finds an upstream of prefix `chatglm` or `glm-`), else to the offline
//! model when it is on. An entry's `fallbacks` follow its upstream, in order. Each upstream
//! has one circuit breaker, whichever models it serves.

use super::upstream::Upstream;
use crate::config::{ChatModelSettings, ModelKind};
use domain::product::ModelType;
use failsafe::backoff::{self, Exponential};
use failsafe::failure_policy::{self, ConsecutiveFailures};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// An upstream's circuit breaker: open after some failures in a row, for a while.
pub type Breaker = failsafe::StateMachine<ConsecutiveFailures<Exponential>, ()>;

/// When a breaker opens, and for how long at first.
#[derive(Debug, Clone, Copy)]
pub struct BreakerPolicy {
    pub failures: u32,
    pub open_for: Duration,
}

impl BreakerPolicy {
    fn breaker(self) -> Breaker {
        let backoff = backoff::exponential(self.open_for, self.open_for * 10);
        let policy = failure_policy::consecutive_failures(self.failures.max(1), backoff);
        failsafe::Config::new().failure_policy(policy).build()
    }
}

/// An upstream and its breaker.
pub struct Hop {
    pub upstream: Upstream,
    pub breaker: Breaker,
}

impl std::fmt::Debug for Hop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.upstream.fmt(f)
    }
}

/// Where one model's calls go.
#[derive(Debug, Clone)]
pub struct Route {
    /// The upstreams to try, in order (at least one).
    pub hops: Vec<Arc<Hop>>,
    /// The upstreams' name for the model.
    pub model: String,
    pub kind: ModelKind,
}

/// The upstreams by name and prefix, the model map, and the offline-model fallback.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    by_prefix: Vec<(String, Arc<Hop>)>,
    by_name: HashMap<String, Arc<Hop>>,
    models: BTreeMap<String, ChatModelSettings>,
    offline: Option<Arc<Hop>>,
}

impl Routes {
    /// Routes over `(name, prefix, upstream)` triples (an empty prefix matches every model,
    /// an empty name is not referred to by the map), with `offline` answering the models
    /// no prefix matches. An entry of `models` naming an unknown upstream is an error.
    pub fn new(
        upstreams: Vec<(String, String, Upstream)>,
        models: BTreeMap<String, ChatModelSettings>,
        offline: Option<Upstream>,
        policy: BreakerPolicy,
    ) -> anyhow::Result<Self> {
        let hop = |upstream| {
            Arc::new(Hop {
                upstream,
                breaker: policy.breaker(),
            })
        };
        let mut by_prefix = Vec::new();
        let mut by_name = HashMap::new();
        for (name, prefix, upstream) in upstreams {
            let upstream = hop(upstream);
            if !name.is_empty() && by_name.insert(name.clone(), upstream.clone()).is_some() {
                anyhow::bail!("two chat.upstreams are named {name:?}");
            }
            by_prefix.push((prefix, upstream));
        }
        // Longest first, so the first match is the most specific.
        by_prefix.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        for (model, entry) in &models {
            let named = (!entry.upstream.is_empty()).then_some(&entry.upstream);
            for name in named.into_iter().chain(&entry.fallbacks) {
                anyhow::ensure!(
                    by_name.contains_key(name),
                    "chat.models.{model:?} names no chat.upstreams entry {name:?}"
                );
            }
        }
        Ok(Self {
            by_prefix,
            by_name,
            models,
            offline: offline.map(hop),
        })
    }

    /// Where calls to `model` go, if anywhere.
    pub fn for_model(&self, model: &ModelType) -> Option<Route> {
        let name = model.as_str();
        let entry = self.models.get(name);
        let upstream_name = entry
            .map(|e| e.model.as_str())
            .filter(|m| !m.is_empty())
            .unwrap_or(name);
        let named = entry
            .filter(|e| !e.upstream.is_empty())
            .and_then(|e| self.by_name.get(&e.upstream));
        let first = named
            .or_else(|| {
                self.by_prefix
                    .iter()
                    .find(|(prefix, _)| {
                        name.starts_with(prefix.as_str())
                            || upstream_name.starts_with(prefix.as_str())
                    })
                    .map(|(_, upstream)| upstream)
            })
            .or(self.offline.as_ref())?;
        let fallbacks = entry
            .into_iter()
            .flat_map(|e| &e.fallbacks)
            .filter_map(|name| self.by_name.get(name));
        Some(Route {
            hops: std::iter::once(first).chain(fallbacks).cloned().collect(),
            model: upstream_name.to_owned(),
            kind: entry.map(|e| e.kind).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::upstream::Timeouts;
    use crate::config::Secret;

    fn up(url: &str) -> Upstream {
        let t = Duration::from_secs(1);
        let timeouts = Timeouts {
            connect: t,
            first_byte: t,
            idle: t,
        };
        Upstream::new(url, Secret::default(), timeouts).unwrap()
    }

    const POLICY: BreakerPolicy = BreakerPolicy {
        failures: 3,
        open_for: Duration::from_secs(30),
    };

    fn model(m: &str) -> ModelType {
        ModelType::parse(m).unwrap()
    }

    #[test]
    fn the_longest_prefix_wins_and_the_offline_model_takes_the_rest() {
        let routes = Routes::new(
            vec![
                (String::new(), "gpt-".into(), up("http://a/v1")),
                (String::new(), "gpt-4o".into(), up("http://b/v1")),
            ],
            BTreeMap::new(),
            Some(up("http://offline/v1")),
            POLICY,
        )
        .unwrap();
        let url = |m| {
            routes.for_model(&model(m)).unwrap().hops[0]
                .upstream
                .base_url()
                .to_owned()
        };
        assert_eq!(url("gpt-4o-mini"), "http://b/v1");
        assert_eq!(url("gpt-3.5-turbo"), "http://a/v1");
        assert_eq!(url("o3-mini"), "http://offline/v1");
        let strict = Routes::new(
            vec![(String::new(), "gpt-".into(), up("http://a/v1"))],
            BTreeMap::new(),
            None,
            POLICY,
        )
        .unwrap();
        assert!(strict.for_model(&model("o3-mini")).is_none());
    }

    #[test]
    fn the_model_map_names_the_upstream_its_model_name_and_kind() {
        let entry = |upstream: &str, name: &str, kind| ChatModelSettings {
            upstream: upstream.into(),
            model: name.into(),
            kind,
            ..ChatModelSettings::default()
        };
        let models = BTreeMap::from([
            (
                "chatglm_turbo".to_owned(),
                entry("zhipu", "glm-4-air", ModelKind::Chat),
            ),
            (
                "gpt-3.5-turbo".to_owned(),
                entry("", "gpt-4o-mini", ModelKind::Chat),
            ),
            ("dall-e-3".to_owned(), entry("", "", ModelKind::Image)),
        ]);
        let routes = Routes::new(
            vec![
                ("openai".into(), "".into(), up("http://openai/v1")),
                ("zhipu".into(), "glm-".into(), up("http://zhipu/v4")),
            ],
            models.clone(),
            None,
            POLICY,
        )
        .unwrap();
        let glm = routes.for_model(&model("chatglm_turbo")).unwrap();
        assert_eq!(
            (glm.hops[0].upstream.base_url(), glm.model.as_str()),
            ("http://zhipu/v4", "glm-4-air")
        );
        let old = routes.for_model(&model("gpt-3.5-turbo")).unwrap();
        assert_eq!(
            (old.hops[0].upstream.base_url(), old.model.as_str()),
            ("http://openai/v1", "gpt-4o-mini")
        );
        let image = routes.for_model(&model("dall-e-3")).unwrap();
        assert_eq!(
            (image.model.as_str(), image.kind),
            ("dall-e-3", ModelKind::Image)
        );
        let unmapped = routes.for_model(&model("glm-4-plus")).unwrap();
        assert_eq!(
            (
                unmapped.hops[0].upstream.base_url(),
                unmapped.model.as_str()
            ),
            ("http://zhipu/v4", "glm-4-plus")
        );

        // An upstream whose prefix matches the upstream's name for a mapped model.
        let by_upstream_name = Routes::new(
            vec![
                (String::new(), "".into(), up("http://openai/v1")),
                (String::new(), "glm-".into(), up("http://zhipu/v4")),
            ],
            BTreeMap::from([(
                "chatglm_std".to_owned(),
                entry("", "glm-4-air", ModelKind::Chat),
            )]),
            None,
            POLICY,
        )
        .unwrap();
        let std = by_upstream_name.for_model(&model("chatglm_std")).unwrap();
        assert_eq!(std.hops[0].upstream.base_url(), "http://zhipu/v4");

        // Fallbacks follow the first upstream, in order.
        let with_fallbacks = BTreeMap::from([(
            "gpt-4o".to_owned(),
            ChatModelSettings {
                upstream: "zhipu".into(),
                fallbacks: vec!["openai".into()],
                ..ChatModelSettings::default()
            },
        )]);
        let routes = Routes::new(
            vec![
                ("openai".into(), "".into(), up("http://openai/v1")),
                ("zhipu".into(), "glm-".into(), up("http://zhipu/v4")),
            ],
            with_fallbacks,
            None,
            POLICY,
        )
        .unwrap();
        let hops: Vec<_> = routes.for_model(&model("gpt-4o")).unwrap().hops;
        let urls: Vec<_> = hops.iter().map(|h| h.upstream.base_url()).collect();
        assert_eq!(urls, ["http://zhipu/v4", "http://openai/v1"]);

        let error = Routes::new(vec![], models, None, POLICY).unwrap_err();
        assert!(error.to_string().contains("zhipu"), "{error}");
    }
}
