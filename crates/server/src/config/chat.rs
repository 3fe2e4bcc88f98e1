//! `[chat]` and `[trial]`: the models behind the chat, by client-facing name (the model
//! map), what a call costs, the free trial and the sensitive-word lists.

use super::Secret;
use anyhow::Context as _;
use domain::chat::{Pricing, TokenRates, Trial, WordAction, WordFilter};
use domain::product::ModelType;
use domain::service::ChatRules;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The word list built in (a small default; `file = "builtin"`).
pub const BUILTIN_WORDS: &str = include_str!("../../assets/words/default.txt");

/// `[chat]`: the quota-metered chat and the models behind it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ChatSettings {
    /// OpenAI-compatible upstreams (`[[chat.upstreams]]`).
    pub upstreams: Vec<ChatUpstreamSettings>,
    /// The model map (`[chat.models."gpt-3.5-turbo"]`): what a client-facing model name
    /// means. A name not in it goes, as it is, to the upstream whose prefix matches.
    pub models: BTreeMap<String, ChatModelSettings>,
    /// Serve the built-in offline model for models no upstream matches; unset = on exactly
    /// when no upstream is configured.
    #[serde(alias = "sandbox_model")]
    pub offline_model: Option<bool>,
    /// Quota one call costs when the model map names no price (the original: 1).
    pub default_price: u32,
    /// Replaced by `chat.models."name".price`; read only to stop a start that sets it
    /// (its prices would otherwise be dropped without a word).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pricing: BTreeMap<String, u32>,
    /// Sensitive-word lists (`[[chat.word_lists]]`), applied to every chat route.
    pub word_lists: Vec<WordListSettings>,
    /// Milliseconds to open a connection to an upstream.
    pub connect_timeout_ms: u64,
    /// Milliseconds from sending a request to the first byte of the answer.
    pub first_byte_timeout_ms: u64,
    /// Milliseconds an answer may pause between two chunks.
    pub idle_timeout_ms: u64,
    /// An upstream that failed this many times in a row before a first token is skipped
    /// (its breaker opens) while another can answer.
    pub breaker_failures: u32,
    /// How long an open breaker skips its upstream at first, in seconds (doubling, at
    /// most 10 times that, while it keeps failing).
    pub breaker_open_secs: u64,
}

/// One `[[chat.upstreams]]` entry.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ChatUpstreamSettings {
    /// The name the model map refers to it by; empty = referred to by prefix only.
    #[serde(default)]
    pub name: String,
    /// Models not in the model map whose name starts with this go here; empty matches
    /// every model.
    #[serde(default)]
    pub prefix: String,
    /// The API root including its version, e.g. `https://api.openai.com/v1` or
    /// `https://open.bigmodel.cn/api/paas/v4`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …`; empty sends none.
    #[serde(default)]
    pub api_key: Secret,
}

/// What a model of the map is: each field may be left out.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ChatModelSettings {
    /// The `name` of the upstream that serves it; empty = the upstream whose prefix matches
    /// the client-facing name, else the offline model.
    pub upstream: String,
    /// Upstreams (`name`s) tried in this order when the one before fails before its first
    /// token or its breaker is open; the call is charged once.
    pub fallbacks: Vec<String>,
    /// The upstream's name for it; empty = the client-facing name.
    pub model: String,
    /// Quota per call; unset = `chat.default_price`.
    pub price: Option<u32>,
    pub kind: ModelKind,
    /// `call` (the price per call, the original's way) or `tokens` (the two prices below).
    pub billing: BillingKind,
    /// With `billing = "tokens"`: quota per 1,000 prompt tokens (e.g. 0.5).
    pub prompt_price: Option<f64>,
    /// With `billing = "tokens"`: quota per 1,000 completion tokens.
    pub completion_price: Option<f64>,
    /// With `billing = "tokens"`: the most completion tokens one call reserves for (and the
    /// upstream is told to stop at); unset = 4,096.
    pub max_tokens: Option<u32>,
}

/// How a model's calls are charged.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BillingKind {
    #[default]
    Call,
    Tokens,
}

/// The answer limit a model billed by the token reserves for when its entry sets none.
const DEFAULT_MAX_TOKENS: u32 = 4_096;

impl ChatModelSettings {
    /// Its token rates, if it is billed by the token.
    fn rates(&self) -> anyhow::Result<Option<TokenRates>> {
        if self.billing == BillingKind::Call {
            return Ok(None);
        }
        anyhow::ensure!(
            self.kind == ModelKind::Chat,
            "billing = \"tokens\" is for chat models; an image model is billed per call"
        );
        // Quota per 1,000 tokens is millionths of a quota per token times 1,000.
        let micros = |field: &str, price: Option<f64>| {
            let price = price.with_context(|| {
                format!("billing = \"tokens\" needs {field} (quota per 1,000 tokens)")
            })?;
            let micros = (price * 1_000.0).round();
            anyhow::ensure!(
                price.is_finite() && price >= 0.0 && micros < 1e15,
                "{field} must be a number of quota per 1,000 tokens, at least 0"
            );
            anyhow::ensure!(
                price == 0.0 || micros >= 1.0,
                "{field} = {price} is below the smallest rate, 0.001 quota per 1,000 tokens"
            );
            Ok(micros as u64)
        };
        let rates = TokenRates::new(
            micros("prompt_price", self.prompt_price)?,
            micros("completion_price", self.completion_price)?,
            self.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        )?;
        Ok(Some(rates))
    }
}

/// What a model makes.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// A streamed text answer (`/chat/completions`).
    #[default]
    Chat,
    /// Pictures (`/images/generations`), answered as markdown images.
    Image,
}

/// One `[[chat.word_lists]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WordListSettings {
    /// A UTF-8 file, one word per line (`#` starts a comment), or `builtin`.
    pub file: PathBuf,
    /// `mask` (replace the words with `*` in the prompt) or `refuse` (refuse the call).
    pub action: String,
}

/// `[trial]`: free calls for users who never bought a package (the original: 10 a day).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct TrialSettings {
    /// Free calls per period; 0 = no trial.
    pub calls: u32,
    /// The period, in hours; whole days start at midnight China Standard Time.
    pub period_hours: u32,
    /// The models the trial may use, comma-separated.
    pub models: String,
}

impl Default for TrialSettings {
    fn default() -> Self {
        Self {
            calls: 10,
            period_hours: 24,
            // The original front-end's default model, the original's cheapest OpenAI one,
            // and the demo catalog's smallest.
            models: "chatglm_turbo,gpt-3.5-turbo,gpt-4o-mini".into(),
        }
    }
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self {
            upstreams: Vec::new(),
            models: original_models(),
            offline_model: None,
            default_price: 1,
            pricing: BTreeMap::new(),
            word_lists: vec![WordListSettings {
                file: PathBuf::from("builtin"),
                action: "mask".into(),
            }],
            connect_timeout_ms: 5_000,
            first_byte_timeout_ms: 60_000,
            idle_timeout_ms: 60_000,
            breaker_failures: 3,
            breaker_open_secs: 30,
        }
    }
}

/// The original's model names, mapped to today's models of the same family and tier, so
/// its clients keep working: each goes to the upstream whose prefix matches it (`gpt-`,
/// `chatglm`, `dall-e`) under its current name.
fn original_models() -> BTreeMap<String, ChatModelSettings> {
    let chat = |model: &str| ChatModelSettings {
        model: model.into(),
        ..ChatModelSettings::default()
    };
    let image = |model: &str| ChatModelSettings {
        model: model.into(),
        kind: ModelKind::Image,
        ..ChatModelSettings::default()
    };
    [
        ("gpt-3.5-turbo", chat("gpt-4o-mini")),
        ("gpt-3.5-turbo-16k", chat("gpt-4o-mini")),
        ("gpt-4", chat("gpt-4o")),
        ("gpt-4-32k", chat("gpt-4o")),
        ("chatglm_lite", chat("glm-4-flash")),
        ("chatglm_std", chat("glm-4-air")),
        ("chatglm_turbo", chat("glm-4-air")),
        ("chatglm_pro", chat("glm-4-plus")),
        ("dall-e-2", image("dall-e-2")),
        ("dall-e-3", image("dall-e-3")),
    ]
    .into_iter()
    .map(|(name, entry)| (name.to_owned(), entry))
    .collect()
}

impl ChatSettings {
    /// The prices, the trial and the word lists as the domain's rules (word files are read
    /// here, so a missing one stops the start).
    pub fn rules(&self, trial: &TrialSettings) -> anyhow::Result<ChatRules> {
        if let Some((model, price)) = self.pricing.iter().next() {
            anyhow::bail!(
                "chat.pricing is replaced by the model map: write [chat.models.{model:?}] \
                 price = {price} (and so for each model)"
            );
        }
        for name in self.models.keys() {
            ModelType::parse(name).with_context(|| format!("chat.models.{name:?}"))?;
        }
        let mut pricing = Pricing::new(
            self.default_price,
            self.models
                .iter()
                .filter_map(|(name, m)| m.price.map(|p| (name.as_str(), p))),
        )
        .context("chat.models.*.price / chat.default_price")?;
        for (name, entry) in &self.models {
            if let Some(rates) = entry
                .rates()
                .with_context(|| format!("chat.models.{name:?}"))?
            {
                pricing = pricing.with_rates(name, rates)?;
            }
        }
        let models = ModelType::parse_list(&trial.models).context("trial.models")?;
        let trial = Trial::new(trial.calls, trial.period_hours, models).context("[trial]")?;
        Ok(ChatRules {
            pricing,
            trial,
            words: self.words()?,
        })
    }

    fn words(&self) -> anyhow::Result<WordFilter> {
        let lists = self
            .word_lists
            .iter()
            .enumerate()
            .map(|(i, list)| {
                let action = WordAction::parse(&list.action).with_context(|| {
                    format!(
                        "chat.word_lists[{i}].action is mask or refuse, got {:?}",
                        list.action
                    )
                })?;
                let text = if list.file.as_os_str() == "builtin" {
                    BUILTIN_WORDS.to_owned()
                } else {
                    std::fs::read_to_string(&list.file).with_context(|| {
                        format!("chat.word_lists[{i}]: read {}", list.file.display())
                    })?
                };
                Ok((action, words_of(&text)))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(WordFilter::new(lists)?)
    }
}

/// A list file's words: one per line, blank lines and `#` comments skipped.
fn words_of(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::chat::{Billing, Price, Screened};

    #[test]
    fn the_defaults_map_the_originals_models_and_price_them_at_one() {
        let settings = ChatSettings::default();
        let rules = settings.rules(&TrialSettings::default()).unwrap();
        let model = |m| ModelType::parse(m).unwrap();
        assert_eq!(
            rules.pricing.billing_of(&model("chatglm_turbo")),
            Billing::PerCall(Price::ONE)
        );
        assert_eq!(settings.models["dall-e-3"].kind, ModelKind::Image);
        assert_eq!(settings.models["gpt-3.5-turbo"].model, "gpt-4o-mini");
        let trial = rules.trial.unwrap();
        assert_eq!(trial.calls(), 10);
        assert!(trial.covers(&model("chatglm_turbo")));
        assert_eq!(
            rules.words.screen("哪里可以赌博"),
            Screened::Masked("哪里可以**".into())
        );
    }

    #[test]
    fn a_model_billed_by_the_token_has_its_rates_and_bad_ones_stop_the_start() {
        let mut settings = ChatSettings::default();
        let entry = settings.models.entry("gpt-4".into()).or_default();
        entry.billing = BillingKind::Tokens;
        entry.prompt_price = Some(0.5);
        entry.completion_price = Some(2.0);
        let rules = settings.rules(&TrialSettings::default()).unwrap();
        let model = ModelType::parse("gpt-4").unwrap();
        assert_eq!(
            rules.pricing.billing_of(&model),
            Billing::PerToken(TokenRates::new(500, 2_000, DEFAULT_MAX_TOKENS).unwrap())
        );
        let error_of = |settings: &ChatSettings| {
            format!(
                "{:#}",
                settings.rules(&TrialSettings::default()).unwrap_err()
            )
        };
        let entry = settings.models.get_mut("gpt-4").unwrap();
        entry.completion_price = None;
        assert!(error_of(&settings).contains("needs completion_price"));
        let entry = settings.models.get_mut("gpt-4").unwrap();
        entry.completion_price = Some(0.0001);
        assert!(error_of(&settings).contains("below the smallest rate"));
        let entry = settings.models.get_mut("gpt-4").unwrap();
        entry.completion_price = Some(-1.0);
        assert!(error_of(&settings).contains("at least 0"));
        let entry = settings.models.get_mut("dall-e-3").unwrap();
        entry.billing = BillingKind::Tokens;
        settings.models.get_mut("gpt-4").unwrap().completion_price = Some(1.0);
        assert!(error_of(&settings).contains("an image model is billed per call"));
    }

    #[test]
    fn the_old_price_table_stops_the_start_rather_than_being_dropped() {
        let mut settings = ChatSettings::default();
        settings.pricing.insert("gpt-4o".into(), 5);
        let error = settings.rules(&TrialSettings::default()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains(r#"[chat.models."gpt-4o"] price = 5"#),
            "{error}"
        );
    }

    #[test]
    fn word_files_and_actions_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("refuse.txt");
        std::fs::write(
            &file,
            "# refused outright\n违禁词 # comment\n\n  secret plan \n",
        )
        .unwrap();
        let mut settings = ChatSettings {
            word_lists: vec![WordListSettings {
                file: file.clone(),
                action: "refuse".into(),
            }],
            ..ChatSettings::default()
        };
        let rules = settings.rules(&TrialSettings::default()).unwrap();
        assert_eq!(rules.words.screen("这是违 禁 词"), Screened::Refused);
        assert_eq!(rules.words.screen("the SECRET-PLAN"), Screened::Refused);
        assert_eq!(
            rules.words.screen("赌博"),
            Screened::Clean,
            "builtin replaced"
        );

        settings.word_lists[0].action = "delete".into();
        let error = settings.rules(&TrialSettings::default()).unwrap_err();
        assert!(
            format!("{error:#}").contains("word_lists[0].action"),
            "{error:#}"
        );
        settings.word_lists[0] = WordListSettings {
            file: dir.path().join("missing.txt"),
            action: "mask".into(),
        };
        let error = settings.rules(&TrialSettings::default()).unwrap_err();
        assert!(format!("{error:#}").contains("missing.txt"), "{error:#}");
    }
}
