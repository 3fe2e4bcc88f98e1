//! Platform-certificate refresh (live mode, `wechatpay.platform_certificates`): WeChat Pay
//! publishes a new certificate well before it signs with it, so downloading the list twice a
//! day trusts every new one in time.

use super::runner::{self, RoundReport, Schedule};
use crate::state::AppState;
use domain::ports::Clock;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wechatpay::client::Client;

/// How often the certificates are downloaded again.
pub const INTERVAL: Duration = Duration::from_secs(12 * 3600);

/// Downloads the certificates and trusts the unexpired ones: scanned = listed, fixed = trusted.
pub async fn round(client: &Client, clock: &dyn Clock) -> anyhow::Result<RoundReport> {
    let listed = client.refresh_platform_certificates().await?;
    let now = clock.now().timestamp();
    let trusted: Vec<&str> = listed
        .iter()
        .filter(|c| !c.is_expired(now))
        .map(|c| c.serial_no.as_str())
        .collect();
    tracing::info!(serials = ?trusted, "trusting WeChat Pay platform certificates");
    Ok(RoundReport {
        scanned: listed.len(),
        fixed: trusted.len(),
        failed: 0,
    })
}

/// Refreshes every [`INTERVAL`] until `stop`; start-up has already done the first round.
pub fn spawn(state: &AppState, stop: &CancellationToken) -> JoinHandle<()> {
    let (client, clock) = (state.wechatpay.clone(), state.clock.clone());
    let schedule = Schedule {
        first_after: INTERVAL,
        ..Schedule::every(INTERVAL)
    };
    runner::spawn(
        "platform_certificates",
        schedule,
        state.job_stats.clone(),
        stop.clone(),
        move || {
            let (client, clock) = (client.clone(), clock.clone());
            async move { round(&client, clock.as_ref()).await }
        },
    )
}
