//! The daily reconciliation: once WeChat has made yesterday's trade bill (after 10:00
//! Beijing time), yesterday is reconciled, unless a report for it is stored already (by this
//! job on another instance, or by an operator's run). A failed run is tried again next round.

use super::runner::RoundReport;
use crate::state::AppState;
use chrono::Timelike as _;
use domain::ports::Books;
use domain::reconciliation::{ReconciliationReport, beijing, beijing_date};
use domain::service::BooksError;

/// WeChat makes the day's bill after 10:00 the next day (Beijing time).
const BILL_READY_HOUR: u32 = 10;

/// Reconciles `date` (this job's, or an operator's run) and wakes delivery for the
/// payments it confirmed.
pub async fn reconcile(
    state: &AppState,
    date: chrono::NaiveDate,
) -> Result<ReconciliationReport, BooksError> {
    let report = state.shop.reconcile_day(date).await?;
    if report.confirmed > 0 {
        state.delivery.wake();
    }
    Ok(report)
}

/// One round: scanned = fixed = 1 when it reconciled a day.
pub async fn round(state: &AppState) -> anyhow::Result<RoundReport> {
    let now = state.clock.now();
    if now.with_timezone(&beijing()).hour() < BILL_READY_HOUR {
        return Ok(RoundReport::default());
    }
    let yesterday = beijing_date(now) - chrono::Duration::days(1);
    if state.shop.store().report(yesterday).await?.is_some() {
        return Ok(RoundReport::default());
    }
    reconcile(state, yesterday)
        .await
        .map_err(|e| anyhow::anyhow!("reconcile {yesterday}: {e}"))?;
    Ok(RoundReport {
        scanned: 1,
        fixed: 1,
        failed: 0,
    })
}
