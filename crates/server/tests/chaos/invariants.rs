//! The invariants, checked against the database and the sandbox until they hold (they may
//! take a moment: expiry, retries, leases of killed processes running out).

use crate::harness::Run;
use infra::store::SeaStore;
use infra::store::entities::{account, ledger, order, redemption_code, refund};
use sea_orm::EntityTrait;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;
use wechatpay::model::{RefundStatus, TradeState};

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
    pub refunds: usize,
    pub refunded_fen: i64,
    pub quota_back: i64,
    pub partly_refunded: usize,
    pub refunded: usize,
    pub codes_redeemed: usize,
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
    let refunds = refund::Entity::find().all(db).await.unwrap();
    let codes = redemption_code::Entity::find().all(db).await.unwrap();
    let refunds_at_wechat: HashMap<String, (RefundStatus, i64)> = run
        .sandbox
        .refunds()
        .into_iter()
        .map(|r| (r.out_refund_no, (r.status, r.amount.refund)))
        .collect();
    let mut refunded_of: HashMap<&str, i64> = HashMap::new();
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
    // Every refund ended, here and at WeChat alike, and took its quota back once.
    for r in &refunds {
        counts.refunds += 1;
        match (r.status.as_str(), refunds_at_wechat.get(&r.refund_no)) {
            ("SUCCESS", Some((RefundStatus::Success, fen))) if *fen == r.amount => {
                counts.refunded_fen += r.amount;
                counts.quota_back += r.quota_back;
                *refunded_of.entry(r.order_no.as_str()).or_default() += r.amount;
            }
            (here, there) => problems.push(format!(
                "refund {} is {here} here, {there:?} at WeChat (amount {})",
                r.refund_no, r.amount
            )),
        }
        let taken = credits.get(r.refund_no.as_str()).copied().unwrap_or(0);
        if taken != usize::from(r.quota_back > 0) {
            problems.push(format!("refund {} has {taken} ledger rows", r.refund_no));
        }
    }
    for no in refunds_at_wechat.keys() {
        if !refunds.iter().any(|r| &r.refund_no == no) {
            problems.push(format!("refund {no} exists at WeChat but not here"));
        }
    }
    for o in &orders {
        let remote = at_wechat.get(&o.order_no).copied();
        let credited = credits.get(o.order_no.as_str()).copied().unwrap_or(0);
        let refunded = refunded_of.get(o.order_no.as_str()).copied().unwrap_or(0);
        if o.refunded_fen != refunded {
            problems.push(format!(
                "{} says {} fen refunded, its refunds {refunded}",
                o.order_no, o.refunded_fen
            ));
        }
        let expected = match refunded {
            0 => "DELIVERED",
            r if r < o.amount => "PARTLY_REFUNDED",
            _ => "REFUNDED",
        };
        match o.status.as_str() {
            status @ ("DELIVERED" | "PARTLY_REFUNDED" | "REFUNDED") => {
                counts.delivered += 1;
                counts.partly_refunded += usize::from(status == "PARTLY_REFUNDED");
                counts.refunded += usize::from(status == "REFUNDED");
                delivered_quota += o.quota;
                if status != expected {
                    problems.push(format!(
                        "{} is {status} with {refunded} fen refunded",
                        o.order_no
                    ));
                }
                let paid_there = if refunded > 0 {
                    TradeState::Refund
                } else {
                    TradeState::Success
                };
                if remote != Some(paid_there) {
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
            TradeState::Success | TradeState::Refund => counts.sandbox_paid += 1,
            TradeState::Closed => counts.sandbox_closed += 1,
            other => problems.push(format!("{no} is {other:?} at WeChat")),
        }
        if !orders.iter().any(|o| &o.order_no == no) {
            problems.push(format!("{no} exists at WeChat but not here"));
        }
    }
    // Every redeemed code credited once, to the user who took it; none credited untaken.
    for code in &codes {
        let credited = credits
            .get(code.id.to_string().as_str())
            .copied()
            .unwrap_or(0);
        let taken = code.redeemed_by.is_some();
        counts.codes_redeemed += usize::from(taken);
        if credited != usize::from(taken) {
            problems.push(format!(
                "code {} is {} and credited {credited} times",
                code.id,
                if taken { "redeemed" } else { "unused" }
            ));
        }
    }
    // Σ quota = Σ delivered − Σ taken back (+ the codes redeemed).
    let redeemed_quota = counts.codes_redeemed as i64 * crate::harness::CODE_QUOTA;
    counts.quota = accounts.iter().map(|a| a.total_quota).sum();
    if counts.quota != delivered_quota - counts.quota_back + redeemed_quota {
        problems.push(format!(
            "accounts hold {} quota; delivered orders {delivered_quota}, taken back {}, redeemed {redeemed_quota}",
            counts.quota, counts.quota_back
        ));
    }
    let taking_refunds = refunds.iter().filter(|r| r.quota_back > 0).count();
    if ledger_rows.len() != counts.delivered + taking_refunds + counts.codes_redeemed {
        problems.push(format!(
            "{} ledger rows for {} delivered orders, {taking_refunds} refunds and {} codes",
            ledger_rows.len(),
            counts.delivered,
            counts.codes_redeemed
        ));
    }
    (counts, problems)
}
