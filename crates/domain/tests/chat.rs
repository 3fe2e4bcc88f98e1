//! The metered chat's rules on their own, over in-memory ports: the price is spent before
//! the model is asked, given back when it fails before its first token, kept when it breaks
//! off later or the caller leaves, and every usage ends exactly once.

use chatmall_domain::chat::{
    ChatRequest, ChatUsage, Price, Pricing, Spend, UsageEnd, UsageId, UsageStatus,
};
use chatmall_domain::clock::ManualClock;
use chatmall_domain::ports::{Background, ChatAccounts, ModelAnswer, ModelGateway};
use chatmall_domain::product::ModelType;
use chatmall_domain::service::{Chat, ChatError};
use chatmall_domain::user::UserId;
use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// One account's quota and the usage rows, in memory.
struct Accounts {
    surplus: Mutex<i64>,
    granted: Vec<ModelType>,
    usages: Mutex<Vec<(UsageStatus, i64)>>,
}

impl Accounts {
    fn with(surplus: i64) -> Self {
        Self {
            surplus: Mutex::new(surplus),
            granted: vec![model("gpt-4o")],
            usages: Mutex::new(Vec::new()),
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
        _: DateTime<Utc>,
    ) -> anyhow::Result<Spend> {
        if !self.granted.contains(model) {
            return Ok(Spend::ModelNotGranted);
        }
        let mut surplus = self.surplus.lock().unwrap();
        let price = i64::from(price.get());
        if *surplus < price {
            return Ok(Spend::NoQuota);
        }
        *surplus -= price;
        let mut usages = self.usages.lock().unwrap();
        usages.push((UsageStatus::Started, price));
        Ok(Spend::Spent(UsageId(usages.len() as i64 - 1)))
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
}

struct Answer(VecDeque<Step>);

impl ModelGateway for Models {
    type Options = ();
    type Answer = Answer;
    type Error = String;

    fn serves(&self, model: &ModelType) -> bool {
        model.as_str().starts_with("gpt-")
    }

    async fn open(&self, _: &ChatRequest, _: &()) -> Result<Answer, String> {
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
    let accounts = Arc::new(Accounts::with(surplus));
    let background = Arc::new(Deferred::default());
    let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let chat = Chat::new(
        accounts.clone(),
        Arc::new(models),
        Pricing::new(2, std::iter::empty()).unwrap(),
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
    }
}

fn user() -> UserId {
    UserId::parse("oChatter").unwrap()
}

#[tokio::test]
async fn a_whole_answer_is_streamed_and_paid_once() {
    let f = fixture(5, answering(vec![Step::Delta("Hel"), Step::Delta("lo")]));
    let mut answer = f.chat.start(&user(), request("gpt-4o"), &()).await.unwrap();
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
        },
        answering(vec![Step::Fail("broke at once")]),
    ] {
        let f = fixture(5, models);
        let refused = f.chat.start(&user(), request("gpt-4o"), &()).await;
        assert!(matches!(refused, Err(ChatError::Model(_))));
        assert_eq!(f.accounts.statuses(), [UsageStatus::Refunded]);
        assert_eq!(f.accounts.surplus(), 5, "the price came back");
    }
}

#[tokio::test]
async fn an_answer_that_breaks_off_after_a_token_counts_and_ends_once() {
    let f = fixture(5, answering(vec![Step::Delta("Hel"), Step::Fail("reset")]));
    let mut answer = f.chat.start(&user(), request("gpt-4o"), &()).await.unwrap();
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
    let mut answer = f.chat.start(&user(), request("gpt-4o"), &()).await.unwrap();
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
        let refused = f.chat.start(&user(), request(name), &()).await;
        let right = match (&refused, why) {
            (Err(ChatError::ModelNotServed(m)), "not served") => m == name,
            (Err(ChatError::ModelNotGranted(m)), "not granted") => m == name,
            (Err(ChatError::NoQuota), "no quota") => true,
            _ => false,
        };
        assert!(right, "{name}: {:?}", refused.err());
    }
    assert!(f.accounts.statuses().is_empty());
    assert_eq!(f.accounts.surplus(), 1);
}
