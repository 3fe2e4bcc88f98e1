//! Reconciliation (对账): a day's statement from the payment channel (WeChat's trade bill)
//! against our orders and refunds of that day, Beijing time. A payment only the channel
//! knows is confirmed through the normal confirm path (so delivered once); every other
//! difference is listed for an operator with what was done.

use crate::money::Fen;
use chrono::{DateTime, NaiveDate, Utc};

/// A payment the statement lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementPayment {
    pub out_trade_no: String,
    pub transaction_id: String,
    pub total: Fen,
    /// The row exactly as the statement had it.
    pub raw: String,
}

/// A refund the statement lists (accepted that day; its status is a snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRefund {
    pub out_trade_no: String,
    pub out_refund_no: String,
    pub refund_id: String,
    pub amount: Fen,
    pub status: String,
    pub raw: String,
}

/// A day's statement from the channel, its file's integrity checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub date: NaiveDate,
    pub payments: Vec<StatementPayment>,
    pub refunds: Vec<StatementRefund>,
    /// What its summary says was paid and refunded, in fen.
    pub paid_total: i64,
    pub refunded_total: i64,
}

/// One difference between the statement and our books, and what was done about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// What kind, e.g. `paid_there_not_here`, `amount_differs`, `missing_there`.
    pub kind: String,
    pub order_no: Option<String>,
    pub refund_no: Option<String>,
    pub detail: String,
    /// What was done: [`Difference::CONFIRMED`], [`Difference::SETTLED`] or
    /// [`Difference::LISTED`].
    pub action: String,
}

/// What a day's reconciliation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconciliationReport {
    pub date: NaiveDate,
    pub run_at: DateTime<Utc>,
    pub statement_payments: u64,
    pub statement_paid_fen: i64,
    pub statement_refunds: u64,
    pub statement_refunded_fen: i64,
    pub our_payments: u64,
    pub our_paid_fen: i64,
    pub our_refunds: u64,
    pub our_refunded_fen: i64,
    /// Payments only the channel knew, confirmed now through the normal path.
    pub confirmed: u64,
    /// Our refunds still open that the statement showed settled, settled now.
    pub refunds_settled: u64,
    pub differences: Vec<Difference>,
}

impl ReconciliationReport {
    /// Whether the books agree (nothing listed for an operator; what was fixed is fine).
    pub fn agrees(&self) -> bool {
        self.differences
            .iter()
            .all(|d| d.action != Difference::LISTED)
    }
}

impl Difference {
    /// The action of a difference left for an operator.
    pub const LISTED: &'static str = "listed for an operator";
    /// The action of a payment confirmed through the normal path.
    pub const CONFIRMED: &'static str = "confirmed through the normal path";
    /// The action of a refund settled by asking the channel.
    pub const SETTLED: &'static str = "refund settled by query";
}

/// Beijing time (UTC+8), in which WeChat's days and bills run.
pub fn beijing() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// The instants a Beijing-time day spans, `[from, to)`.
pub fn day_bounds(date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let from = date
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_local_timezone(beijing())
        .single()
        .expect("a fixed offset has one midnight")
        .with_timezone(&Utc);
    (from, from + chrono::Duration::days(1))
}

/// The Beijing-time date of `at`.
pub fn beijing_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&beijing()).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_beijing_midnight_to_midnight() {
        let date = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let (from, to) = day_bounds(date);
        assert_eq!(from.to_rfc3339(), "2026-11-30T16:00:00+00:00");
        assert_eq!(to - from, chrono::Duration::days(1));
        assert_eq!(beijing_date(from), date);
        assert_eq!(beijing_date(to - chrono::Duration::seconds(1)), date);
        assert_ne!(beijing_date(to), date);
    }
}
