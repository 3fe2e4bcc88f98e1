//! Which upstream answers a model: the configured upstream with the longest matching
//! model-name prefix, else the offline model when it is on.

use super::upstream::Upstream;
use domain::product::ModelType;
use std::sync::Arc;

/// The upstreams by prefix, and the offline-model fallback.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    by_prefix: Vec<(String, Arc<Upstream>)>,
    offline: Option<Arc<Upstream>>,
}

impl Routes {
    /// Routes over `(prefix, upstream)` pairs (an empty prefix matches every model), with
    /// `offline` answering the models no prefix matches.
    pub fn new(by_prefix: Vec<(String, Upstream)>, offline: Option<Upstream>) -> Self {
        let mut by_prefix: Vec<_> = by_prefix
            .into_iter()
            .map(|(prefix, upstream)| (prefix, Arc::new(upstream)))
            .collect();
        // Longest first, so the first match is the most specific.
        by_prefix.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        Self {
            by_prefix,
            offline: offline.map(Arc::new),
        }
    }

    /// The upstream for `model`, if any serves it.
    pub fn for_model(&self, model: &ModelType) -> Option<&Arc<Upstream>> {
        self.by_prefix
            .iter()
            .find(|(prefix, _)| model.as_str().starts_with(prefix.as_str()))
            .map(|(_, upstream)| upstream)
            .or(self.offline.as_ref())
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

    #[test]
    fn the_longest_prefix_wins_and_the_offline_model_takes_the_rest() {
        let model = |m| ModelType::parse(m).unwrap();
        let routes = Routes::new(
            vec![
                ("gpt-".into(), up("http://a/v1")),
                ("gpt-4o".into(), up("http://b/v1")),
            ],
            Some(up("http://offline/v1")),
        );
        let url = |m| routes.for_model(&model(m)).unwrap().base_url().to_owned();
        assert_eq!(url("gpt-4o-mini"), "http://b/v1");
        assert_eq!(url("gpt-3.5-turbo"), "http://a/v1");
        assert_eq!(url("o3-mini"), "http://offline/v1");
        let strict = Routes::new(vec![("gpt-".into(), up("http://a/v1"))], None);
        assert!(strict.for_model(&model("o3-mini")).is_none());
    }
}
