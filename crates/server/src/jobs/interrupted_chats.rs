//! Chat calls whose process stopped mid-answer stay STARTED, since only that process could
//! end them; once older than any call lasts, they are ended as FAILED (the price stays
//! spent, as for any call that broke off after it began) so usage history tells the truth.

use super::runner::RoundReport;
use crate::state::AppShop;
use domain::ports::ChatAccounts;
use std::time::Duration;

/// How often the sweep runs.
pub const INTERVAL: Duration = Duration::from_secs(10 * 60);
/// A call still STARTED this long after it began is taken as interrupted. Upstream answers
/// take minutes; each stage only has an idle timeout, so a stream that really ran longer
/// would be marked too, and its own end would then change nothing.
pub const MAX_CALL: Duration = Duration::from_secs(3600);

/// Ends the interrupted calls: scanned = fixed = how many.
pub async fn round(shop: &AppShop) -> anyhow::Result<RoundReport> {
    let accounts = shop.store();
    let now = shop.clock().now();
    let cutoff = now - chrono::Duration::from_std(MAX_CALL)?;
    let ended = usize::try_from(accounts.end_interrupted(cutoff, now).await?)?;
    Ok(RoundReport {
        scanned: ended,
        fixed: ended,
        failed: 0,
    })
}
