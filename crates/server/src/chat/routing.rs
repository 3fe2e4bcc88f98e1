//! Which upstream answers a model, under which name, and how: the model map's entry names
//! its upstream, the upstream's model name and its kind; a model without one (or whose
//! entry names no upstream) goes to the configured upstream with the longest prefix that
//! matches its client-facing or its upstream name (so `chatglm_turbo`, sent as
//! `glm-4-air`, finds an upstream of prefix `chatglm` or `glm-`), else to the offline
//! model when it is on.

use super::upstream::Upstream;
use crate::config::{ChatModelSettings, ModelKind};
use domain::product::ModelType;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Where one model's calls go.
#[derive(Debug, Clone)]
pub struct Route {
    pub upstream: Arc<Upstream>,
    /// The upstream's name for the model.
    pub model: String,
    pub kind: ModelKind,
}

/// The upstreams by name and prefix, the model map, and the offline-model fallback.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    by_prefix: Vec<(String, Arc<Upstream>)>,
    by_name: HashMap<String, Arc<Upstream>>,
    models: BTreeMap<String, ChatModelSettings>,
    offline: Option<Arc<Upstream>>,
}

impl Routes {
    /// Routes over `(name, prefix, upstream)` triples (an empty prefix matches every model,
    /// an empty name is not referred to by the map), with `offline` answering the models
    /// no prefix matches. An entry of `models` naming an unknown upstream is an error.
    pub fn new(
        upstreams: Vec<(String, String, Upstream)>,
        models: BTreeMap<String, ChatModelSettings>,
        offline: Option<Upstream>,
    ) -> anyhow::Result<Self> {
        let mut by_prefix = Vec::new();
        let mut by_name = HashMap::new();
        for (name, prefix, upstream) in upstreams {
            let upstream = Arc::new(upstream);
            if !name.is_empty() && by_name.insert(name.clone(), upstream.clone()).is_some() {
                anyhow::bail!("two chat.upstreams are named {name:?}");
            }
            by_prefix.push((prefix, upstream));
        }
        // Longest first, so the first match is the most specific.
        by_prefix.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        for (model, entry) in &models {
            anyhow::ensure!(
                entry.upstream.is_empty() || by_name.contains_key(&entry.upstream),
                "chat.models.{model:?}.upstream names no chat.upstreams entry: {:?}",
                entry.upstream
            );
        }
        Ok(Self {
            by_prefix,
            by_name,
            models,
            offline: offline.map(Arc::new),
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
        let upstream = named
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
        Some(Route {
            upstream: upstream.clone(),
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
    use std::time::Duration;

    fn up(url: &str) -> Upstream {
        let t = Duration::from_secs(1);
        let timeouts = Timeouts {
            connect: t,
            first_byte: t,
            idle: t,
        };
        Upstream::new(url, Secret::default(), timeouts).unwrap()
    }

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
        )
        .unwrap();
        let url = |m| {
            routes
                .for_model(&model(m))
                .unwrap()
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
        )
        .unwrap();
        assert!(strict.for_model(&model("o3-mini")).is_none());
    }

    #[test]
    fn the_model_map_names_the_upstream_its_model_name_and_kind() {
        let entry = |upstream: &str, name: &str, kind| ChatModelSettings {
            upstream: upstream.into(),
            model: name.into(),
            price: None,
            kind,
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
        )
        .unwrap();
        let glm = routes.for_model(&model("chatglm_turbo")).unwrap();
        assert_eq!(
            (glm.upstream.base_url(), glm.model.as_str()),
            ("http://zhipu/v4", "glm-4-air")
        );
        let old = routes.for_model(&model("gpt-3.5-turbo")).unwrap();
        assert_eq!(
            (old.upstream.base_url(), old.model.as_str()),
            ("http://openai/v1", "gpt-4o-mini")
        );
        let image = routes.for_model(&model("dall-e-3")).unwrap();
        assert_eq!(
            (image.model.as_str(), image.kind),
            ("dall-e-3", ModelKind::Image)
        );
        let unmapped = routes.for_model(&model("glm-4-plus")).unwrap();
        assert_eq!(
            (unmapped.upstream.base_url(), unmapped.model.as_str()),
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
        )
        .unwrap();
        let std = by_upstream_name.for_model(&model("chatglm_std")).unwrap();
        assert_eq!(std.upstream.base_url(), "http://zhipu/v4");

        let error = Routes::new(vec![], models, None).unwrap_err();
        assert!(error.to_string().contains("zhipu"), "{error}");
    }
}
