//! What every request handler shares.

use crate::jobs::delivery::DeliveryTrigger;
use crate::session::Sessions;
use domain::service::Shop;
use infra::store::SeaStore;
use infra::wechatpay_channel::WechatPayChannel;
use std::sync::Arc;

/// The shop over the real adapters.
pub type AppShop = Shop<SeaStore, WechatPayChannel>;

/// Handler state.
#[derive(Clone)]
pub struct AppState {
    pub shop: AppShop,
    pub sessions: Arc<Sessions>,
    /// Verifies and decrypts notifications.
    pub wechatpay: wechatpay::client::Client,
    pub delivery: DeliveryTrigger,
}
