//! What every request handler shares.

use crate::jobs::relay::DeliveryTrigger;
use crate::jobs::stats::JobStats;
use crate::session::Sessions;
use domain::service::Shop;
use infra::store::SeaStore;
use infra::wechatpay_channel::WechatPayChannel;
use std::sync::Arc;

/// The shop over the real adapters.
pub type AppShop = Shop<SeaStore, WechatPayChannel>;

/// The chat over the real adapters.
pub type AppChat = domain::service::Chat<SeaStore, crate::chat::Models>;

/// The operators' console over the store.
pub type AppConsole = domain::service::Console<SeaStore, crate::console::ConsoleKeys>;

/// Redemption codes over the store.
pub type AppRedemptions = domain::service::Redemptions<SeaStore>;

/// The most troubled orders counted (a gauge and a dashboard figure, not a report).
const TROUBLED_COUNTED: u64 = 1_000;

impl AppState {
    /// How many orders are troubled (checks failed `troubled_after` times), up to 1,000.
    pub async fn troubled_count(&self) -> anyhow::Result<usize> {
        use domain::ports::OrderJobs as _;
        let troubled = self
            .shop
            .store()
            .troubled_orders(self.troubled_after, TROUBLED_COUNTED)
            .await?;
        Ok(troubled.len())
    }
}

/// Handler state.
#[derive(Clone)]
pub struct AppState {
    /// Login through the official account (codes, limits, the account itself).
    pub login: Arc<crate::login_desk::LoginDesk>,
    pub shop: AppShop,
    pub sessions: Arc<Sessions>,
    /// Verifies and decrypts notifications.
    pub wechatpay: wechatpay::client::Client,
    pub delivery: DeliveryTrigger,
    /// Background jobs' counters.
    pub job_stats: Arc<JobStats>,
    /// The operators' bearer token; empty disables the admin API.
    pub admin_token: Arc<crate::config::Secret>,
    /// Failed checks after which an order is reported as troubled.
    pub troubled_after: u32,
    /// The metered chat over the model services.
    pub chat: Arc<AppChat>,
    /// Redemption codes: batches for operators, redemption for users.
    pub redemptions: AppRedemptions,
    /// This process's node id (`server.node_id`), for its readiness probe row.
    pub node_id: u16,
    /// Operator accounts, console sessions and the audit log.
    pub console: AppConsole,
    /// Console cookies carry `Secure` (the shop is served over HTTPS).
    pub secure_cookies: bool,
    /// The one clock every flow reads.
    pub clock: Arc<dyn domain::ports::Clock>,
}
