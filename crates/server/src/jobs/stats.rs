//! Per-job counters since start, shared with the admin API.

use super::runner::RoundReport;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// One job's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct JobTotals {
    pub rounds: u64,
    pub scanned: u64,
    pub fixed: u64,
    pub failed: u64,
}

/// Every job's totals, by job name.
#[derive(Debug, Default)]
pub struct JobStats(Mutex<BTreeMap<&'static str, JobTotals>>);

impl JobStats {
    /// Adds a round's report to `job`'s totals and returns them.
    pub fn record(&self, job: &'static str, report: RoundReport) -> JobTotals {
        let mut all = self.0.lock().expect("the stats lock is never poisoned");
        let totals = all.entry(job).or_default();
        totals.rounds += 1;
        totals.scanned += report.scanned as u64;
        totals.fixed += report.fixed as u64;
        totals.failed += report.failed as u64;
        *totals
    }

    /// A copy of every job's totals.
    pub fn snapshot(&self) -> BTreeMap<&'static str, JobTotals> {
        self.0
            .lock()
            .expect("the stats lock is never poisoned")
            .clone()
    }
}
