//! The metered chat's rules on their own, over in-memory ports: the price is spent before
//! the model is asked, given back when it fails before its first token, kept when it breaks
//! off later or the caller leaves, and every usage ends exactly once.

use chatmall_domain::chat::{
    ChatRequest, ChatUsage, Price, Pricing, Settlement, Spend, TokenRates, TokenUsage, Trial,
    UsageEnd, UsageId, UsageStatus, WordAction, WordFilter,
};
use chatmall_domain::clock::ManualClock;
use chatmall_domain::ports::{Background, ChatAccounts, ModelAnswer, ModelGateway};
use chatmall_domain::product::ModelType;
use chatmall_domain::service::{Chat, ChatError, ChatRules};
use chatmall_domain::user::UserId;
use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// One account's quota and the usage rows, in memory.
/// A negative surplus stands for "no account"; trial calls are counted per window.
struct Accounts {
    surplus: Mutex<i64>,
    granted: Vec<ModelType>,
    /// Each call's status and what it spent.
    usages: Mutex<Vec<(UsageStatus, i64)>>,
    /// Each ended call's tokens, as settled.
    tokens: Mutex<Vec<Option<TokenUsage>>>,
    trial_calls: Mutex<std::collections::HashMap<i64, u32>>,
}

impl Accounts {
    fn with(surplus: i64) -> Self {
        Self {
            surplus: Mutex::new(surplus),
            granted: vec![model("gpt-4o")],
            usages: Mutex::new(Vec::new()),
            tokens: Mutex::default(),
            trial_calls: Mutex::default(),
        }
    }

    fn spent(&self) -> Vec<i64> {
        self.usages.lock().unwrap().iter().map(|u| u.1).collect()
    }

    fn surplus(&self) -> i64 {
        *self.surplus.lock().unwrap()
    }

    fn statuses(&self) -> Vec<UsageStatus> {
        self.usages.lock().unwrap().iter().map(|u| u.0).collect()
    }

    /// Ends a STARTED usage once; `false` if it had ended.
    fn end(&self, usage: UsageId, status: UsageStatus) -> bool {
        let mut usages = self.usages.lock().unwrap();
        let row = &mut usages[usage.0 as usize];
        if row.0 != UsageStatus::Started {
            return false;
        }
        row.0 = status;
        true
    }
}

impl ChatAccounts for Accounts {
    async fn spend(
        &self,
        _: &UserId,
        model: &ModelType,
        price: Price,
        _: Option<chatmall_domain::api_key::ApiKeyId>,
        _: DateTime<Utc>,
    ) -> anyhow::Result<Spend> {
        if *self.surplus.lock().unwrap() < 0 {
            return Ok(Spend::NoAccount);
        }
        if !self.granted.contains(model) {
            return Ok(Spend::ModelNotGranted);
        }
        let mut surplus = self.surplus.lock().unwrap();
        let price = i64::from(price.get());
        if *surplus < price {
            return Ok(Spend::NoQuota { total: 5 });
        }
        *surplus -= price;
        let mut usages = self.usages.lock().unwrap();
        usages.push((UsageStatus::Started, price));
        Ok(Spend::Spent(UsageId(usages.len() as i64 - 1)))
    }

    async fn spend_trial(
        &self,
        _: &UserId,
        _: &ModelType,
        window: i64,
        limit: u32,
        _: DateTime<Utc>,
    ) -> anyhow::Result<Option<UsageId>> {
        let mut counts = self.trial_calls.lock().unwrap();
        let count = counts.entry(window).or_default();
        if *count >= limit {
            return Ok(None);
        }
        *count += 1;
        let mut usages = self.usages.lock().unwrap();
        usages.push((UsageStatus::Started, 0));
        Ok(Some(UsageId(usages.len() as i64 - 1)))
    }

    async fn refund(&self, usage: UsageId, _: &str, _: DateTime<Utc>) -> anyhow::Result<bool> {
        let ended = self.end(usage, UsageStatus::Refunded);
        if ended {
            *self.surplus.lock().unwrap() += self.usages.lock().unwrap()[usage.0 as usize].1;
        }
        Ok(ended)
    }

    async fn finish(
        &self,
        usage: UsageId,
        end: &UsageEnd,
        _: Option<i64>,
        settlement: &Settlement,
        _: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let ended = self.end(usage, end.status());
        if ended {
            self.tokens.lock().unwrap().push(settlement.tokens);
            if let Some(charge) = settlement.charge {
                assert!(
                    charge.spent <= charge.reserved,
                    "never above the reservation"
                );
                self.usages.lock().unwrap()[usage.0 as usize].1 = charge.spent;
                *self.surplus.lock().unwrap() += charge.returned();
            }
        }
        Ok(ended)
    }

    async fn spendable(
        &self,
        _: &UserId,
        _: Option<chatmall_domain::api_key::ApiKeyId>,
    ) -> anyhow::Result<i64> {
        Ok(self.surplus().max(0))
    }

    async fn end_interrupted(&self, _: DateTime<Utc>, _: DateTime<Utc>) -> anyhow::Result<u64> {
        Ok(0)
    }

    async fn usage_of(&self, _: &UserId, _: u64) -> anyhow::Result<Vec<ChatUsage>> {
        Ok(Vec::new())
    }
}

/// What the model does: each step is a delta or the error it breaks off with.
#[derive(Clone)]
enum Step {
    Delta(&'static str),
    Fail(&'static str),
}

/// A model service that opens (or fails to) and answers as scripted.
struct Models {
    open_fails: Option<&'static str>,
    script: Vec<Step>,
    /// The tokens the model reports with its last delta, if it does.
    reports: Option<TokenUsage>,
    /// The messages of the last request the model was sent.
    seen: Mutex<Vec<String>>,
    /// The answer limit of the last request.
    seen_max_tokens: Mutex<Option<u32>>,
}

/// The script left, and the tokens reported once it is done.
struct Answer(VecDeque<Step>, Option<TokenUsage>);

impl ModelGateway for Models {
    type Options = ();
    type Answer = Answer;
    type Error = String;

    fn serves(&self, model: &ModelType) -> bool {
        model.as_str().starts_with("gpt-")
    }

    /// A token per character.
    fn tokens_in(&self, _: &ModelType, text: &str) -> u64 {
        text.chars().count() as u64
    }

    async fn open(&self, request: &ChatRequest, _: &()) -> Result<Answer, String> {
        *self.seen.lock().unwrap() = request.messages.iter().map(|m| m.content.clone()).collect();
        *self.seen_max_tokens.lock().unwrap() = request.max_tokens;
        match self.open_fails {
            Some(why) => Err(why.to_owned()),
            None => Ok(Answer(self.script.iter().cloned().collect(), self.reports)),
        }
    }
}

impl ModelAnswer for Answer {
    type Error = String;

    async fn next_delta(&mut self) -> Result<Option<String>, String> {
        match self.0.pop_front() {
            None => Ok(None),
            Some(Step::Delta(text)) => Ok(Some(text.to_owned())),
            Some(Step::Fail(why)) => Err(why.to_owned()),
        }
    }

    fn usage(&self) -> Option<TokenUsage> {
        self.1.filter(|_| self.0.is_empty())
    }
}

/// Background work kept until the test runs it, so its effect is observed deterministically.
#[derive(Default)]
struct Deferred(Mutex<Vec<Pin<Box<dyn Future<Output = ()> + Send>>>>);

impl Background for Deferred {
    fn run(&self, task: Pin<Box<dyn Future<Output = ()> + Send + 'static>>) {
        self.0.lock().unwrap().push(task);
    }
}

impl Deferred {
    async fn run_all(&self) {
        let tasks: Vec<_> = std::mem::take(&mut *self.0.lock().unwrap());
        for task in tasks {
            task.await;
        }
    }
}

fn model(name: &str) -> ModelType {
    ModelType::parse(name).unwrap()
}

fn request(model: &str) -> ChatRequest {
    ChatRequest::parse(model, vec![("user".into(), "hi".into())]).unwrap()
}

struct Fixture {
    chat: Chat<Accounts, Models>,
    accounts: Arc<Accounts>,
    background: Arc<Deferred>,
}

/// A chat at 2 quota a call over an account holding `surplus`.
fn fixture(surplus: i64, models: Models) -> Fixture {
    fixture_with(surplus, models, ChatRules::default())
}

/// As [`fixture`], with a trial and word lists.
fn fixture_with(surplus: i64, models: Models, rules: ChatRules) -> Fixture {
    let rules = ChatRules {
        pricing: Pricing::new(2, std::iter::empty()).unwrap(),
        ..rules
    };
    fixture_priced(surplus, models, rules)
}

/// A chat under `rules` exactly, over an account holding `surplus`.
fn fixture_priced(surplus: i64, models: Models, rules: ChatRules) -> Fixture {
    let accounts = Arc::new(Accounts::with(surplus));
    let background = Arc::new(Deferred::default());
    let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let chat = Chat::new(
        accounts.clone(),
        Arc::new(models),
        rules,
        Arc::new(ManualClock::at(at)),
        background.clone(),
    );
    Fixture {
        chat,
        accounts,
        background,
    }
}

impl Fixture {
    /// The user's call to gpt-4o, started.
    async fn ask(&self) -> chatmall_domain::service::MeteredAnswer<Accounts, Answer> {
        self.chat
            .start(&user().into(), request("gpt-4o"), &())
            .await
            .unwrap()
    }
}

fn answering(script: Vec<Step>) -> Models {
    Models {
        open_fails: None,
        script,
        reports: None,
        seen: Mutex::default(),
        seen_max_tokens: Mutex::default(),
    }
}

fn user() -> UserId {
    UserId::parse("oChatter").unwrap()
}

#[tokio::test]
async fn a_whole_answer_is_streamed_and_paid_once() {
    let f = fixture(5, answering(vec![Step::Delta("Hel"), Step::Delta("lo")]));
    let mut answer = f.ask().await;
    let mut text = String::new();
    while let Some(delta) = answer.next().await {
        text.push_str(&delta.unwrap());
    }
    assert_eq!(text, "Hello");
    assert!(answer.next().await.is_none(), "an ended answer stays ended");
    drop(answer);
    f.background.run_all().await;
    assert_eq!(f.accounts.statuses(), [UsageStatus::Ok]);
    assert_eq!(f.accounts.surplus(), 3);
}

#[tokio::test]
async fn a_model_that_fails_before_its_first_token_costs_nothing() {
    for models in [
        Models {
            open_fails: Some("HTTP 503"),
            ..answering(vec![])
        },
        answering(vec![Step::Fail("broke at once")]),
    ] {
        let f = fixture(5, models);
        let refused = f.chat.start(&user().into(), request("gpt-4o"), &()).await;
        assert!(matches!(refused, Err(ChatError::Model(_))));
        assert_eq!(f.accounts.statuses(), [UsageStatus::Refunded]);
        assert_eq!(f.accounts.surplus(), 5, "the price came back");
    }
}

#[tokio::test]
async fn an_answer_that_breaks_off_after_a_token_counts_and_ends_once() {
    let f = fixture(5, answering(vec![Step::Delta("Hel"), Step::Fail("reset")]));
    let mut answer = f.ask().await;
    assert_eq!(answer.next().await, Some(Ok("Hel".to_owned())));
    assert_eq!(answer.next().await, Some(Err("reset".to_owned())));
    assert_eq!(answer.next().await, None);
    drop(answer);
    f.background.run_all().await;
    assert_eq!(f.accounts.statuses(), [UsageStatus::Failed]);
    assert_eq!(f.accounts.surplus(), 3);
}

#[tokio::test]
async fn a_caller_who_leaves_mid_answer_pays_and_the_usage_ends_cancelled() {
    let f = fixture(5, answering(vec![Step::Delta("Hel"), Step::Delta("lo")]));
    let mut answer = f.ask().await;
    assert_eq!(answer.next().await, Some(Ok("Hel".to_owned())));
    drop(answer);
    assert_eq!(f.accounts.statuses(), [UsageStatus::Started]);
    f.background.run_all().await;
    assert_eq!(f.accounts.statuses(), [UsageStatus::Cancelled]);
    assert_eq!(f.accounts.surplus(), 3);
}

#[tokio::test]
async fn refusals_spend_nothing_and_ask_no_model() {
    let f = fixture(1, answering(vec![Step::Delta("never")]));
    let cases = [
        ("o3-mini", "not served"),
        ("gpt-3.5-turbo", "not granted"),
        ("gpt-4o", "no quota"),
    ];
    for (name, why) in cases {
        let refused = f.chat.start(&user().into(), request(name), &()).await;
        let right = match (&refused, why) {
            (Err(ChatError::ModelNotServed(m)), "not served") => m == name,
            (Err(ChatError::ModelNotGranted(m)), "not granted") => m == name,
            (Err(ChatError::NoQuota { total: 5 }), "no quota") => true,
            _ => false,
        };
        assert!(right, "{name}: {:?}", refused.err());
    }
    assert!(f.accounts.statuses().is_empty());
    assert_eq!(f.accounts.surplus(), 1);
}

fn trial_of(calls: u32, models: &str) -> Option<Trial> {
    Trial::new(calls, 24, ModelType::parse_list(models).unwrap()).unwrap()
}

#[tokio::test]
async fn a_user_without_an_account_gets_the_trial_calls_and_then_a_refusal() {
    let rules = ChatRules {
        trial: trial_of(2, "gpt-4o"),
        ..ChatRules::default()
    };
    let f = fixture_with(-1, answering(vec![Step::Delta("hi")]), rules);
    for _ in 0..2 {
        let mut answer = f
            .chat
            .start(&user().into(), request("gpt-4o"), &())
            .await
            .unwrap();
        while answer.next().await.is_some() {}
    }
    let refused = f.chat.start(&user().into(), request("gpt-4o"), &()).await;
    assert!(
        matches!(refused, Err(ChatError::TrialUsedUp { calls: 2 })),
        "{:?}",
        refused.err()
    );
    // A model outside the trial is not granted, and counts no trial call.
    let other = f.chat.start(&user().into(), request("gpt-4"), &()).await;
    assert!(matches!(other, Err(ChatError::ModelNotGranted(m)) if m == "gpt-4"));
    assert_eq!(f.accounts.statuses(), [UsageStatus::Ok, UsageStatus::Ok]);
    assert_eq!(f.accounts.surplus(), -1, "a trial call spends no quota");

    // Without a trial, the same user is told to buy.
    let f = fixture(-1, answering(vec![Step::Delta("hi")]));
    let refused = f.chat.start(&user().into(), request("gpt-4o"), &()).await;
    assert!(matches!(refused, Err(ChatError::NoAccount)));
}

#[tokio::test]
async fn listed_words_are_masked_before_the_model_sees_them_or_refuse_the_call() {
    let words = WordFilter::new([
        (WordAction::Mask, vec!["赌博"]),
        (WordAction::Refuse, vec!["毒品"]),
    ])
    .unwrap();
    let rules = ChatRules {
        words,
        ..ChatRules::default()
    };
    let f = fixture_with(5, answering(vec![Step::Delta("ok")]), rules);
    let masked = ChatRequest::parse(
        "gpt-4o",
        vec![
            ("assistant".into(), "赌 博".into()),
            ("user".into(), "哪里能赌博".into()),
        ],
    )
    .unwrap();
    let mut answer = f.chat.start(&user().into(), masked, &()).await.unwrap();
    while answer.next().await.is_some() {}
    assert_eq!(*f.chat.models().seen.lock().unwrap(), ["***", "哪里能**"]);
    assert_eq!(f.accounts.surplus(), 3);

    let refused = ChatRequest::parse("gpt-4o", vec![("user".into(), "买毒-品".into())]).unwrap();
    let refused = f.chat.start(&user().into(), refused, &()).await;
    assert!(matches!(refused, Err(ChatError::SensitiveWords)));
    assert_eq!(f.accounts.surplus(), 3, "a refused prompt spends nothing");
    assert_eq!(f.accounts.statuses().len(), 1);
}

/// gpt-4o billed 1 quota per 1,000 prompt tokens and 100 per 1,000 completion tokens (a
/// tenth of a quota each), reserving for at most 50 completion tokens.
fn by_the_token(trial: Option<Trial>) -> ChatRules {
    let rates = TokenRates::new(1_000, 100_000, 50).unwrap();
    ChatRules {
        pricing: Pricing::default().with_rates("gpt-4o", rates).unwrap(),
        trial,
        ..ChatRules::default()
    }
}

/// The fixtures' prompt ("hi" from the user) in their tokens (one per character): the
/// content, the role and the framing.
const PROMPT_TOKENS: u64 = 2 + 4 + 3 + 3;

fn tokens(prompt: u64, completion: u64) -> TokenUsage {
    TokenUsage { prompt, completion }
}

async fn read_all(answer: &mut chatmall_domain::service::MeteredAnswer<Accounts, Answer>) {
    while let Some(delta) = answer.next().await {
        delta.unwrap();
    }
}

#[tokio::test]
async fn a_call_billed_by_the_token_reserves_then_pays_what_the_model_reports() {
    let models = Models {
        reports: Some(tokens(9, 20)),
        ..answering(vec![Step::Delta("Hel"), Step::Delta("lo")])
    };
    let f = fixture_priced(100, models, by_the_token(None));
    let mut answer = f.ask().await;
    // The reservation: 12 prompt tokens and 50 completion tokens, 0.012 + 5 → 6.
    assert_eq!(f.accounts.surplus(), 94);
    assert_eq!(*f.chat.models().seen_max_tokens.lock().unwrap(), Some(50));
    read_all(&mut answer).await;
    // The model's own count: 0.009 + 2 → 3; the other 3 came back.
    assert_eq!(f.accounts.spent(), [3]);
    assert_eq!(f.accounts.surplus(), 97);
    assert_eq!(*f.accounts.tokens.lock().unwrap(), [Some(tokens(9, 20))]);
}

#[tokio::test]
async fn without_the_models_report_the_call_pays_our_count_of_what_was_streamed() {
    let script = vec![Step::Delta("0123456789"), Step::Delta("abcdefghij")];
    // It ends without a report: 12 prompt tokens and 20 counted, 0.012 + 2 → 3.
    let f = fixture_priced(100, answering(script.clone()), by_the_token(None));
    let mut answer = f.ask().await;
    read_all(&mut answer).await;
    assert_eq!(f.accounts.spent(), [3]);
    assert_eq!(
        *f.accounts.tokens.lock().unwrap(),
        [Some(tokens(PROMPT_TOKENS, 20))]
    );

    // The caller leaves after the first delta: 10 streamed, 0.012 + 1 → 2.
    let f = fixture_priced(100, answering(script), by_the_token(None));
    let mut answer = f.ask().await;
    assert_eq!(answer.next().await, Some(Ok("0123456789".to_owned())));
    drop(answer);
    f.background.run_all().await;
    assert_eq!(f.accounts.statuses(), [UsageStatus::Cancelled]);
    assert_eq!(f.accounts.spent(), [2]);
    assert_eq!(f.accounts.surplus(), 98);
}

#[tokio::test]
async fn a_small_balance_shortens_the_answer_to_what_it_pays_for_and_never_goes_below_zero() {
    let models = Models {
        reports: Some(tokens(PROMPT_TOKENS, 29)),
        ..answering(vec![Step::Delta("x")])
    };
    let f = fixture_priced(3, models, by_the_token(None));
    let mut answer = f.ask().await;
    // 3 quota pay for 12 prompt tokens (0.012) and 29 completion tokens (2.9).
    assert_eq!(*f.chat.models().seen_max_tokens.lock().unwrap(), Some(29));
    read_all(&mut answer).await;
    assert_eq!(f.accounts.surplus(), 0);
    assert_eq!(f.accounts.spent(), [3]);

    // Nothing left: refused before the model is asked.
    let refused = f.chat.start(&user().into(), request("gpt-4o"), &()).await;
    assert!(matches!(refused, Err(ChatError::NoQuota { .. })));
    assert_eq!(f.accounts.spent(), [3]);

    // A caller's own lower limit is kept.
    let f = fixture_priced(100, answering(vec![Step::Delta("x")]), by_the_token(None));
    let short = request("gpt-4o").with_max_tokens(Some(7));
    let mut answer = f.chat.start(&user().into(), short, &()).await.unwrap();
    read_all(&mut answer).await;
    assert_eq!(*f.chat.models().seen_max_tokens.lock().unwrap(), Some(7));
}

#[tokio::test]
async fn a_trial_call_to_a_model_billed_by_the_token_costs_no_quota() {
    let models = Models {
        reports: Some(tokens(9, 20)),
        ..answering(vec![Step::Delta("hi")])
    };
    let f = fixture_priced(-1, models, by_the_token(trial_of(1, "gpt-4o")));
    let mut answer = f.ask().await;
    read_all(&mut answer).await;
    assert_eq!(f.accounts.spent(), [0]);
    assert_eq!(f.accounts.surplus(), -1);
    assert_eq!(*f.accounts.tokens.lock().unwrap(), [Some(tokens(9, 20))]);
}
