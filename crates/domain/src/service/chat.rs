//! One metered chat call: screen the prompt's words, spend the price (or, for a user who
//! never bought, one of the free trial's calls), open the model, wait for the first token (a
//! failure until then gives the price back), then stream. The usage row ends exactly once,
//! also when the caller goes away mid-answer (then it is CANCELLED, and the call counts).
//!
//! A model billed by the token reserves what the prompt and the longest answer allowed
//! cost (the answer's limit lowered to what the balance pays for, and sent to the model),
//! and settles when the call ends: the model's reported tokens (or our count of the prompt
//! and of the text streamed, when it reports none, or the caller left) at most the
//! reservation, the rest given back in the same write.

use crate::api_key::Caller;
use crate::chat::{
    Billing, Charge, ChatRequest, Price, Pricing, Screened, Settlement, Spend, TokenRates,
    TokenUsage, Trial, UsageEnd, UsageId, UsageStatus, WordFilter,
};
use crate::ports::{Background, ChatAccounts, Clock, ModelAnswer, ModelGateway};
use crate::product::ModelType;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Why a chat call did not start its answer. Nothing is spent on any of them.
#[derive(Debug, thiserror::Error)]
pub enum ChatError<E> {
    #[error("model {0} is not served here")]
    ModelNotServed(String),
    #[error("no chat quota yet: buy a package first")]
    NoAccount,
    #[error("chat quota used up ({total} in all): buy another package")]
    NoQuota { total: i64 },
    #[error("the {calls} free calls of this period are used up: buy a package")]
    TrialUsedUp { calls: u32 },
    #[error("the prompt holds a word this service does not accept")]
    SensitiveWords,
    #[error("this API key's own quota is used up")]
    KeyCapReached,
    #[error("your packages do not include model {0}")]
    ModelNotGranted(String),
    #[error("your account is frozen")]
    Frozen,
    /// The model failed before its first token; the price was given back.
    #[error("{0}")]
    Model(E),
    #[error("internal error")]
    Store(#[from] anyhow::Error),
}

/// The chat: calls metered against the accounts' quota.
pub struct Chat<A, G> {
    accounts: Arc<A>,
    models: Arc<G>,
    pricing: Pricing,
    trial: Option<Trial>,
    words: WordFilter,
    clock: Arc<dyn Clock>,
    background: Arc<dyn Background>,
}

/// The chat's rules besides the prices: the free trial and the sensitive words.
#[derive(Debug, Clone, Default)]
pub struct ChatRules {
    pub pricing: Pricing,
    /// `None`: no free calls.
    pub trial: Option<Trial>,
    pub words: WordFilter,
}

impl<A, G> Chat<A, G>
where
    A: ChatAccounts,
    G: ModelGateway,
{
    /// A chat over `accounts` and `models`, under `rules`.
    pub fn new(
        accounts: Arc<A>,
        models: Arc<G>,
        rules: ChatRules,
        clock: Arc<dyn Clock>,
        background: Arc<dyn Background>,
    ) -> Self {
        Self {
            accounts,
            models,
            pricing: rules.pricing,
            trial: rules.trial,
            words: rules.words,
            clock,
            background,
        }
    }

    /// The model services.
    pub fn models(&self) -> &Arc<G> {
        &self.models
    }

    /// The free trial, if there is one.
    pub fn trial(&self) -> Option<&Trial> {
        self.trial.as_ref()
    }

    /// Spends the call's price, opens the model and waits for its first token.
    pub async fn start(
        &self,
        caller: &Caller,
        mut request: ChatRequest,
        options: &G::Options,
    ) -> Result<MeteredAnswer<A, G::Answer>, ChatError<G::Error>> {
        let model = request.model.clone();
        if !self.models.serves(&model) {
            return Err(ChatError::ModelNotServed(model.as_str().to_owned()));
        }
        self.screen(&mut request)?;
        let user = &caller.user;
        let started = self.clock.now();
        let (price, mut meter) = self.reserve(caller, &mut request).await?;
        let (usage, reserved) = match self.spend(caller, &request, price, started).await? {
            (Spend::Spent(usage), reserved) => (usage, reserved),
            (Spend::NoAccount, _) => return Err(ChatError::NoAccount),
            (Spend::Frozen, _) => return Err(ChatError::Frozen),
            (Spend::ModelNotGranted, _) => {
                return Err(ChatError::ModelNotGranted(model.as_str().to_owned()));
            }
            (Spend::NoQuota { total }, _) => return Err(ChatError::NoQuota { total }),
            (Spend::TrialUsedUp, _) => {
                let calls = self.trial.as_ref().map_or(0, Trial::calls);
                return Err(ChatError::TrialUsedUp { calls });
            }
            (Spend::KeyCapReached, _) => return Err(ChatError::KeyCapReached),
        };
        if let Some(tokens) = &mut meter {
            tokens.reserved = reserved;
        }
        let mut usage = UsageGuard {
            accounts: self.accounts.clone(),
            clock: self.clock.clone(),
            background: self.background.clone(),
            usage,
            model: model.clone(),
            taken: reserved,
            started,
            first_token_ms: None,
            ended: false,
            meter,
            reported: None,
        };
        let opened = async {
            let mut answer = self.models.open(&request, options).await?;
            let first = answer.next_delta().await?;
            Ok::<_, G::Error>((answer, first))
        }
        .await;
        match opened {
            Ok((answer, first)) => {
                if let Some(text) = &first {
                    usage.streamed(text);
                }
                metrics::gauge!(OPEN_STREAMS).increment(1.0);
                Ok(MeteredAnswer {
                    answer,
                    first,
                    usage,
                })
            }
            Err(error) => {
                tracing::warn!(%user, model = model.as_str(), %error,
                    "chat model failed before the first token; refunding");
                usage.refund(&error.to_string()).await;
                Err(ChatError::Model(error))
            }
        }
    }
}

impl<A, G> Chat<A, G>
where
    A: ChatAccounts,
    G: ModelGateway,
{
    /// Masks listed words in every message (a client can write the assistant's turns too),
    /// or refuses the call.
    fn screen<E>(&self, request: &mut ChatRequest) -> Result<(), ChatError<E>> {
        for message in &mut request.messages {
            match self.words.screen(&message.content) {
                Screened::Clean => {}
                Screened::Masked(text) => message.content = text,
                Screened::Refused => {
                    tracing::info!(
                        model = request.model.as_str(),
                        "prompt refused for its words"
                    );
                    return Err(ChatError::SensitiveWords);
                }
            }
        }
        Ok(())
    }

    /// The call's price: for a model billed by the token, what its prompt and longest
    /// answer cost, the answer's limit (`request.max_tokens`) lowered to what the caller
    /// can pay for; and the meter that settles it.
    async fn reserve(
        &self,
        caller: &Caller,
        request: &mut ChatRequest,
    ) -> anyhow::Result<(Price, Option<TokenMeter>)> {
        let rates = match self.pricing.billing_of(&request.model) {
            Billing::PerCall(price) => return Ok((price, None)),
            Billing::PerToken(rates) => rates,
        };
        let (models, model) = (self.models.clone(), request.model.clone());
        let tokens_in: Arc<dyn Fn(&str) -> u64 + Send + Sync> =
            Arc::new(move |text| models.tokens_in(&model, text));
        let prompt = request.prompt_tokens(|text| tokens_in(text));
        let wanted = request
            .max_tokens
            .unwrap_or(rates.max_completion())
            .min(rates.max_completion());
        let spendable = self
            .accounts
            .spendable(&caller.user, caller.key.as_ref().map(|k| k.id))
            .await?;
        // A balance too small even for one token asks for the whole answer: the spend then
        // refuses it with the reason (no quota, frozen, …), or the trial pays.
        let affordable = rates.completion_within(spendable, prompt);
        let max_tokens = if affordable == 0 {
            wanted
        } else {
            wanted.min(affordable)
        };
        request.max_tokens = Some(max_tokens);
        let reserve = rates.charge(TokenUsage {
            prompt,
            completion: u64::from(max_tokens),
        });
        let price =
            Price::new(u32::try_from(reserve.max(1)).unwrap_or(u32::MAX)).expect("at least 1");
        Ok((
            price,
            Some(TokenMeter {
                rates,
                prompt,
                reserved: 0,
                streamed: String::new(),
                tokens_in,
            }),
        ))
    }

    /// The account pays the price (within the key's models and cap, when the call comes
    /// through one); a user without one gets a trial call, if the trial is on and covers
    /// the model. With what was taken from the account (0 for a trial call).
    async fn spend(
        &self,
        caller: &Caller,
        request: &ChatRequest,
        price: Price,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(Spend, i64)> {
        let (user, model) = (&caller.user, &request.model);
        if caller.key.as_ref().is_some_and(|key| !key.allows(model)) {
            return Ok((Spend::ModelNotGranted, 0));
        }
        let key = caller.key.as_ref().map(|key| key.id);
        let spent = self.accounts.spend(user, model, price, key, now).await?;
        let (Spend::NoAccount, Some(trial)) = (spent, &self.trial) else {
            return Ok((spent, i64::from(price.get())));
        };
        if !trial.covers(model) {
            return Ok((Spend::ModelNotGranted, 0));
        }
        let window = trial.window_of(now);
        let counted = self
            .accounts
            .spend_trial(user, model, window, trial.calls(), now)
            .await?;
        Ok((counted.map_or(Spend::TrialUsedUp, Spend::Spent), 0))
    }
}

/// How a call billed by the token is settled.
struct TokenMeter {
    rates: TokenRates,
    /// Our count of the prompt's tokens.
    prompt: u64,
    /// What the spend took (0 for a trial call: nothing to settle).
    reserved: i64,
    /// The answer so far, counted if the model reports no tokens.
    streamed: String,
    tokens_in: Arc<dyn Fn(&str) -> u64 + Send + Sync>,
}

impl TokenMeter {
    /// The tokens the call used (`reported` by the model, else counted) and its charge.
    fn settle(&self, reported: Option<TokenUsage>) -> Settlement {
        let tokens = reported.unwrap_or_else(|| TokenUsage {
            prompt: self.prompt,
            completion: (self.tokens_in)(&self.streamed),
        });
        let charge = (self.reserved > 0).then(|| Charge {
            reserved: self.reserved,
            spent: self.rates.charge(tokens).min(self.reserved),
        });
        Settlement {
            tokens: Some(tokens),
            charge,
        }
    }
}

/// The gauge of answers being streamed now.
const OPEN_STREAMS: &str = "chatmall_chat_open_streams";

/// A call whose answer has started. Dropping it unended (the caller left) ends its usage
/// as CANCELLED; the dropped model answer closes its connection.
pub struct MeteredAnswer<A: ChatAccounts, R: ModelAnswer> {
    answer: R,
    first: Option<String>,
    usage: UsageGuard<A>,
}

impl<A: ChatAccounts, R: ModelAnswer> MeteredAnswer<A, R>
where
    R::Error: std::fmt::Display,
{
    /// The call's usage record.
    pub fn id(&self) -> UsageId {
        self.usage.usage
    }

    /// The tokens the model reported, once it did (with its last chunk).
    pub fn usage(&self) -> Option<crate::chat::TokenUsage> {
        self.answer.usage()
    }

    /// Whether the model stopped the answer at its token limit (OpenAI's `length`).
    pub fn cut_short(&self) -> bool {
        self.answer.cut_short()
    }

    /// The next delta; `None` once the answer ended (the usage is then OK), or the error it
    /// broke off with (the usage is then FAILED, and the call counts).
    pub async fn next(&mut self) -> Option<Result<String, R::Error>> {
        if self.usage.ended {
            return None;
        }
        if let Some(first) = self.first.take() {
            return Some(Ok(first));
        }
        match self.answer.next_delta().await {
            Ok(Some(text)) => {
                self.usage.streamed(&text);
                Some(Ok(text))
            }
            Ok(None) => {
                self.usage.finish(UsageEnd::Ok, self.answer.usage()).await;
                None
            }
            Err(error) => {
                tracing::warn!(usage = %self.usage.usage, %error,
                    "chat model failed mid-answer; the call counts");
                let end = UsageEnd::Failed(error.to_string());
                self.usage.finish(end, self.answer.usage()).await;
                Some(Err(error))
            }
        }
    }
}

impl<A: ChatAccounts, R: ModelAnswer> Drop for MeteredAnswer<A, R> {
    fn drop(&mut self) {
        metrics::gauge!(OPEN_STREAMS).decrement(1.0);
        // The guard, dropped next, settles a caller that left with what the model reported.
        self.usage.reported = self.answer.usage();
    }
}

/// The call's usage row, ended exactly once: explicitly, or as CANCELLED when dropped
/// unended.
struct UsageGuard<A: ChatAccounts> {
    accounts: Arc<A>,
    clock: Arc<dyn Clock>,
    background: Arc<dyn Background>,
    usage: UsageId,
    model: ModelType,
    /// What the spend took (0 for a trial call).
    taken: i64,
    started: DateTime<Utc>,
    first_token_ms: Option<i64>,
    ended: bool,
    /// For a call billed by the token.
    meter: Option<TokenMeter>,
    /// The tokens the model reported before the caller left, if it did.
    reported: Option<TokenUsage>,
}

impl<A: ChatAccounts> UsageGuard<A> {
    /// `text` reached the caller.
    fn streamed(&mut self, text: &str) {
        if self.first_token_ms.is_none() {
            let elapsed = self.clock.now() - self.started;
            self.first_token_ms = Some(elapsed.num_milliseconds().max(0));
        }
        if let Some(meter) = &mut self.meter {
            meter.streamed.push_str(text);
        }
    }

    /// The ended call in the metrics: its outcome, time to the first token, the quota it
    /// kept (none if refunded) and its tokens.
    fn counted(&self, outcome: UsageStatus, settlement: &Settlement) {
        let model = self.model.as_str().to_owned();
        metrics::counter!("chatmall_chat_calls_total", "model" => model.clone(),
            "outcome" => outcome.as_str().to_ascii_lowercase())
        .increment(1);
        if let Some(ms) = self.first_token_ms {
            metrics::histogram!("chatmall_chat_first_token_seconds", "model" => model.clone())
                .record(ms as f64 / 1000.0);
        }
        let kept = match (outcome, settlement.charge) {
            (UsageStatus::Refunded, _) => 0,
            (_, Some(charge)) => charge.spent,
            (_, None) => self.taken,
        };
        metrics::counter!("chatmall_chat_quota_spent_total", "model" => model.clone())
            .increment(u64::try_from(kept).unwrap_or(0));
        if let Some(tokens) = settlement.tokens {
            for (kind, n) in [("prompt", tokens.prompt), ("completion", tokens.completion)] {
                metrics::counter!("chatmall_chat_tokens_total", "model" => model.clone(), "kind" => kind)
                    .increment(n);
            }
        }
    }

    /// What the call used and costs, given what the model `reported`.
    fn settlement(&self, reported: Option<TokenUsage>) -> Settlement {
        match &self.meter {
            Some(meter) => meter.settle(reported),
            None => Settlement {
                tokens: reported,
                charge: None,
            },
        }
    }

    async fn refund(&mut self, error: &str) {
        self.ended = true;
        self.counted(UsageStatus::Refunded, &Settlement::default());
        if let Err(e) = self
            .accounts
            .refund(self.usage, error, self.clock.now())
            .await
        {
            tracing::error!(usage = %self.usage, error = ?e, "could not refund a failed chat call");
        }
    }

    async fn finish(&mut self, end: UsageEnd, reported: Option<TokenUsage>) {
        self.ended = true;
        let settlement = self.settlement(reported);
        self.counted(end.status(), &settlement);
        if let Err(e) = self
            .accounts
            .finish(
                self.usage,
                &end,
                self.first_token_ms,
                &settlement,
                self.clock.now(),
            )
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
        let settlement = self.settlement(self.reported);
        self.counted(UsageStatus::Cancelled, &settlement);
        tracing::info!(%usage, "chat caller went away; the call counts");
        // Drop cannot wait: the write runs in the background (at shutdown the row may stay
        // STARTED, and the interrupted-chats job ends it).
        self.background.run(Box::pin(async move {
            if let Err(e) = accounts
                .finish(usage, &UsageEnd::Cancelled, first, &settlement, now)
                .await
            {
                tracing::error!(%usage, error = ?e, "could not record a cancelled chat call");
            }
        }));
    }
}
