//! chatmall's adapters: the SeaORM store and its migrations, and test helpers.

pub mod migration;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod wechatpay_channel;
