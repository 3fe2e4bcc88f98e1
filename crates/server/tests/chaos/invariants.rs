//! The invariants, checked against the database and the sandbox until they hold (they may
//! take a moment: expiry, retries, leases of killed processes running out).

use crate::harness::Run;
use infra::store::SeaStore;
use infra::store::entities::{account, ledger, order};
use sea_orm::EntityTrait;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;
use wechatpay::model::TradeState;

/// What the run ended with.
#[derive(Debug, Default)]
pub struct Counts {
    pub orders: usize,
    pub delivered: usize,
    pub closed: usize,
    pub review: usize,
    pub sandbox_paid: usize,
    pub sandbox_closed: usize,
    pub never_reached_wechat: usize,
    pub quota: i64,
}

/// Waits (with a deadline) until every invariant holds; panics with what is still wrong.
pub async fn wait_until_settled(run: &Run) -> Counts {
    let store = SeaStore::connect(&run.db_url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (counts, violations) = check(run, &store).await;
        if violations.is_empty() {
            return counts;
        }
        if Instant::now() > deadline {
            panic!(
                "invariants still broken after 120 s ({} problems), e.g.:\n{}",
                violations.len(),
                violations[..violations.len().min(15)].join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn check(run: &Run, store: &SeaStore) -> (Counts, Vec<String>) {
    let db = store.db();
    let orders = order::Entity::find().all(db).await.unwrap();
    let accounts = account::Entity::find().all(db).await.unwrap();
    let ledger_rows = ledger::Entity::find().all(db).await.unwrap();
    let at_wechat: HashMap<String, TradeState> = run
        .sandbox
        .orders()
        .into_iter()
        .map(|t| (t.out_trade_no, t.trade_state))
        .collect();
    let mut credits: HashMap<&str, usize> = HashMap::new();
    for row in &ledger_rows {
        *credits.entry(row.reference.as_str()).or_default() += 1;
    }

    let mut problems = Vec::new();
    let mut counts = Counts {
        orders: orders.len(),
        ..Counts::default()
    };
    let mut delivered_quota = 0;
    for o in &orders {
        let remote = at_wechat.get(&o.order_no).copied();
        let credited = credits.get(o.order_no.as_str()).copied().unwrap_or(0);
        match o.status.as_str() {
            "DELIVERED" => {
                counts.delivered += 1;
                delivered_quota += o.quota;
                if remote != Some(TradeState::Success) {
                    problems.push(format!(
                        "{} delivered but WeChat says {remote:?}",
                        o.order_no
                    ));
                }
                if credited != 1 {
                    problems.push(format!(
                        "{} delivered with {credited} ledger rows",
                        o.order_no
                    ));
                }
            }
            "CLOSED" => {
                counts.closed += 1;
                match remote {
                    None => counts.never_reached_wechat += 1,
                    Some(TradeState::Closed) => {}
                    Some(other) => problems.push(format!(
                        "{} closed locally but WeChat says {other:?}",
                        o.order_no
                    )),
                }
                if credited != 0 {
                    problems.push(format!(
                        "{} closed but credited {credited} times",
                        o.order_no
                    ));
                }
            }
            "REVIEW" => {
                counts.review += 1;
                problems.push(format!(
                    "{} went to review: {:?}",
                    o.order_no, o.review_reason
                ));
            }
            other => problems.push(format!("{} still {other}", o.order_no)),
        }
    }
    for (no, state) in &at_wechat {
        match state {
            TradeState::Success => counts.sandbox_paid += 1,
            TradeState::Closed => counts.sandbox_closed += 1,
            other => problems.push(format!("{no} is {other:?} at WeChat")),
        }
        if !orders.iter().any(|o| &o.order_no == no) {
            problems.push(format!("{no} exists at WeChat but not here"));
        }
    }
    counts.quota = accounts.iter().map(|a| a.total_quota).sum();
    if counts.quota != delivered_quota {
        problems.push(format!(
            "accounts hold {} quota, delivered orders {delivered_quota}",
            counts.quota
        ));
    }
    if ledger_rows.len() != counts.delivered {
        problems.push(format!(
            "{} ledger rows for {} delivered orders",
            ledger_rows.len(),
            counts.delivered
        ));
    }
    (counts, problems)
}
