//! The metered chat's rules on their own, over in-memory ports: the price is spent before
//! the model is asked, given back when it fails before its first token, kept when it breaks
//! off later or the caller leaves, and every usage ends exactly once.

use chatmall_domain::chat::{
    ChatRequest, ChatUsage, Price, Pricing, Spend, Trial, UsageEnd, UsageId, UsageStatus,
    WordAction, WordFilter,
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
    usages: Mutex<Vec<(UsageStatus, i64)>>,
    trial_calls: Mutex<std::collections::HashMap<i64, u32>>,
}

impl Accounts {
    fn with(surplus: i64) -> Self {
        Self {
            surplus: Mutex::new(surplus),
            granted: vec![model("gpt-4o")],
            usages: Mutex::new(Vec::new()),
            trial_calls: Mutex::default(),
        }
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
        _: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        Ok(self.end(usage, end.status()))
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
    /// The messages of the last request the model was sent.
    seen: Mutex<Vec<String>>,
}

struct Answer(VecDeque<Step>);

impl ModelGateway for Models {
    type Options = ();
    type Answer = Answer;
    type Error = String;

    fn serves(&self, model: &ModelType) -> bool {
        model.as_str().starts_with("gpt-")
    }

    async fn open(&self, request: &ChatRequest, _: &()) -> Result<Answer, String> {
        *self.seen.lock().unwrap() = request.messages.iter().map(|m| m.content.clone()).collect();
        match self.open_fails {
            Some(why) => Err(why.to_owned()),
            None => Ok(Answer(self.script.iter().cloned().collect())),
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
    let accounts = Arc::new(Accounts::with(surplus));
    let background = Arc::new(Deferred::default());
    let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let chat = Chat::new(
        accounts.clone(),
        Arc::new(models),
        ChatRules {
            pricing: Pricing::new(2, std::iter::empty()).unwrap(),
            ..rules
        },
        Arc::new(ManualClock::at(at)),
        background.clone(),
    );
    Fixture {
        chat,
        accounts,
        background,
    }
}

fn answering(script: Vec<Step>) -> Models {
    Models {
        open_fails: None,
        script,
        seen: Mutex::default(),
    }
}

fn user() -> UserId {
    UserId::parse("oChatter").unwrap()
}

#[tokio::test]
async fn a_whole_answer_is_streamed_and_paid_once() {
    let f = fixture(5, answering(vec![Step::Delta("Hel"), Step::Delta("lo")]));
    let mut answer = f
        .chat
        .start(&user().into(), request("gpt-4o"), &())
        .await
        .unwrap();
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
            script: vec![],
            seen: Mutex::default(),
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
    let mut answer = f
        .chat
        .start(&user().into(), request("gpt-4o"), &())
        .await
        .unwrap();
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
    let mut answer = f
        .chat
        .start(&user().into(), request("gpt-4o"), &())
        .await
        .unwrap();
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
