//! Sandbox configuration and fault injection settings.

use crate::keyset::KeySet;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Which key identity signs responses and callbacks (the `Wechatpay-Serial` header).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureMode {
    /// Current mode: serial is the public key id `PUB_KEY_ID_…`.
    #[default]
    PublicKey,
    /// Legacy mode: serial is the platform certificate's serial (from `/v3/certificates`).
    PlatformCertificate,
    /// WeChat's migration period: an answer is signed the way the request asked (a
    /// `Wechatpay-Serial: PUB_KEY_ID_…` request header → the public key, else the platform
    /// certificate), and notifications alternate between the two, so a merchant must
    /// trust both.
    Both,
}

/// When a prepay timeout fault strikes relative to creating the order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutMode {
    /// The request never reached WeChat: no order is created.
    #[default]
    BeforeCreate,
    /// The request reached WeChat but the answer was lost: the order exists.
    AfterCreate,
}

/// Fault injection knobs. Probabilities are in `[0, 1]`; all default to "no fault".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Probability that a notification is never sent at all.
    pub drop_notification: f64,
    /// Probability that a notification is sent twice, concurrently.
    pub duplicate_notification: f64,
    /// Extra delay before the first send, uniform in `[min, max]` milliseconds (real time,
    /// not scaled: it models network lag, not the retry schedule).
    pub notification_delay_ms: (u64, u64),
    /// Probability that a prepay hangs for `prepay_timeout_ms` and then answers 504.
    pub prepay_timeout: f64,
    /// Whether a timed-out prepay still creates the order.
    pub prepay_timeout_mode: TimeoutMode,
    /// How long a timed-out prepay hangs (real time: it must outlast the client's timeout).
    pub prepay_timeout_ms: u64,
    /// Probability that a prepay answers 500 SYSTEM_ERROR without creating anything.
    pub prepay_error: f64,
    /// Probability that a transaction query answers 500 SYSTEM_ERROR.
    pub query_error: f64,
    /// Probability that a refund request answers 500 SYSTEM_ERROR without making the refund.
    pub refund_error: f64,
    /// Probability that a refund request makes the refund and then answers 500
    /// SYSTEM_ERROR (the answer is lost: the merchant must query).
    pub refund_answer_lost: f64,
    /// Probability that a refund ends ABNORMAL (the payer's account cannot take it).
    pub refund_abnormal: f64,
    /// Probability that a refund ends CLOSED.
    pub refund_closed: f64,
    /// How long a refund stays PROCESSING before it ends (real time, milliseconds).
    pub refund_settle_ms: u64,
    /// Trade bills leave out the payment row of this out_trade_no.
    pub bill_leave_out: Option<String>,
    /// Trade bills write this out_trade_no's payment 1 fen higher than it was.
    pub bill_change_amount: Option<String>,
    /// Trade bills are answered with a SHA1 that is not their file's.
    pub bill_corrupt_hash: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            drop_notification: 0.0,
            duplicate_notification: 0.0,
            notification_delay_ms: (0, 0),
            prepay_timeout: 0.0,
            prepay_timeout_mode: TimeoutMode::BeforeCreate,
            prepay_timeout_ms: 30_000,
            prepay_error: 0.0,
            query_error: 0.0,
            refund_error: 0.0,
            refund_answer_lost: 0.0,
            refund_abnormal: 0.0,
            refund_closed: 0.0,
            refund_settle_ms: 20,
            bill_leave_out: None,
            bill_change_amount: None,
            bill_corrupt_hash: false,
        }
    }
}

/// Everything a [`crate::Sandbox`] is built from.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The merchant and WeChat-side keys.
    pub keys: KeySet,
    /// Which serial signs responses and callbacks.
    pub mode: SignatureMode,
    /// Multiplies every notification retry delay (e.g. `0.001` in tests).
    pub time_scale: f64,
    /// Initial faults (changeable at runtime).
    pub faults: Faults,
    /// Seed of the RNG behind fault decisions and ids, so runs can be reproduced.
    pub seed: u64,
    /// How long the merchant may take to answer a notification (WeChat: 5 s).
    pub notify_timeout: Duration,
}

impl SandboxConfig {
    /// Defaults: public-key mode, real time, no faults, a seed from the OS, 5 s notify timeout.
    ///
    /// The seed also drives ids (transaction ids, code_url tokens): a fixed default would
    /// make a restarted sandbox reissue the ids of its previous life, which a merchant
    /// rightly treats as duplicates. Set `seed` explicitly for a reproducible run.
    pub fn new(keys: KeySet) -> Self {
        Self {
            keys,
            mode: SignatureMode::PublicKey,
            time_scale: 1.0,
            faults: Faults::default(),
            seed: rand::random(),
            notify_timeout: Duration::from_secs(5),
        }
    }
}
