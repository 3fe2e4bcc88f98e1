//! One metered chat call: screen the prompt's words, spend the price (or, for a user who
//! never bought, one of the free trial's calls), open the model, wait for the first token (a
//! failure until then gives the price back), then stream. The usage row ends exactly once,
//! also when the caller goes away mid-answer (then it is CANCELLED, and the call counts).

use crate::api_key::Caller;
use crate::chat::{ChatRequest, Pricing, Screened, Spend, Trial, UsageEnd, UsageId, WordFilter};
use crate::ports::{Background, ChatAccounts, Clock, ModelAnswer, ModelGateway};
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
        let usage = match self.spend(caller, &request, started).await? {
            Spend::Spent(usage) => usage,
            Spend::NoAccount => return Err(ChatError::NoAccount),
            Spend::Frozen => return Err(ChatError::Frozen),
            Spend::ModelNotGranted => {
                return Err(ChatError::ModelNotGranted(model.as_str().to_owned()));
            }
            Spend::NoQuota { total } => return Err(ChatError::NoQuota { total }),
            Spend::TrialUsedUp => {
                let calls = self.trial.as_ref().map_or(0, Trial::calls);
                return Err(ChatError::TrialUsedUp { calls });
            }
            Spend::KeyCapReached => return Err(ChatError::KeyCapReached),
        };
        let mut usage = UsageGuard {
            accounts: self.accounts.clone(),
            clock: self.clock.clone(),
            background: self.background.clone(),
            usage,
            started,
            first_token_ms: None,
            ended: false,
        };
        let opened = async {
            let mut answer = self.models.open(&request, options).await?;
            let first = answer.next_delta().await?;
            Ok::<_, G::Error>((answer, first))
        }
        .await;
        match opened {
            Ok((answer, first)) => {
                if first.is_some() {
                    usage.first_token();
                }
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

    /// The account pays the price (within the key's models and cap, when the call comes
    /// through one); a user without one gets a trial call, if the trial is on and covers
    /// the model.
    async fn spend(
        &self,
        caller: &Caller,
        request: &ChatRequest,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Spend> {
        let (user, model) = (&caller.user, &request.model);
        if caller.key.as_ref().is_some_and(|key| !key.allows(model)) {
            return Ok(Spend::ModelNotGranted);
        }
        let price = self.pricing.price_of(model);
        let key = caller.key.as_ref().map(|key| key.id);
        let spent = self.accounts.spend(user, model, price, key, now).await?;
        let (Spend::NoAccount, Some(trial)) = (spent, &self.trial) else {
            return Ok(spent);
        };
        if !trial.covers(model) {
            return Ok(Spend::ModelNotGranted);
        }
        let window = trial.window_of(now);
        Ok(
            match self
                .accounts
                .spend_trial(user, model, window, trial.calls(), now)
                .await?
            {
                Some(usage) => Spend::Spent(usage),
                None => Spend::TrialUsedUp,
            },
        )
    }
}

/// A call whose answer has started. Dropping it unended (the caller left) ends its usage
/// as CANCELLED; the dropped model answer closes its connection.
pub struct MeteredAnswer<A: ChatAccounts, R> {
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
                self.usage.first_token();
                Some(Ok(text))
            }
            Ok(None) => {
                self.usage.finish(UsageEnd::Ok).await;
                None
            }
            Err(error) => {
                tracing::warn!(usage = %self.usage.usage, %error,
                    "chat model failed mid-answer; the call counts");
                self.usage.finish(UsageEnd::Failed(error.to_string())).await;
                Some(Err(error))
            }
        }
    }
}

/// The call's usage row, ended exactly once: explicitly, or as CANCELLED when dropped
/// unended.
struct UsageGuard<A: ChatAccounts> {
    accounts: Arc<A>,
    clock: Arc<dyn Clock>,
    background: Arc<dyn Background>,
    usage: UsageId,
    started: DateTime<Utc>,
    first_token_ms: Option<i64>,
    ended: bool,
}

impl<A: ChatAccounts> UsageGuard<A> {
    fn first_token(&mut self) {
        if self.first_token_ms.is_none() {
            let elapsed = self.clock.now() - self.started;
            self.first_token_ms = Some(elapsed.num_milliseconds().max(0));
        }
    }

    async fn refund(&mut self, error: &str) {
        self.ended = true;
        if let Err(e) = self
            .accounts
            .refund(self.usage, error, self.clock.now())
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
        tracing::info!(%usage, "chat caller went away; the call counts");
        // Drop cannot wait: the write runs in the background (at shutdown the row may stay
        // STARTED, and the interrupted-chats job ends it).
        self.background.run(Box::pin(async move {
            if let Err(e) = accounts
                .finish(usage, &UsageEnd::Cancelled, first, now)
                .await
            {
                tracing::error!(%usage, error = ?e, "could not record a cancelled chat call");
            }
        }));
    }
}
