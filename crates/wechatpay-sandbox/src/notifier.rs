//! Callback delivery: builds signed, encrypted notifications and sends them to `notify_url`
//! on WeChat's retry schedule, as background tasks, with drop/duplicate/delay faults.
//!
//! Unlike real WeChat, `http://` notify URLs are accepted: a loopback sandbox has no TLS.

use crate::respond::signature_headers;
use crate::sandbox::Sandbox;
use crate::state::rfc3339_cst;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use wechatpay::model::{EncryptedResource, NotificationEnvelope};

/// Delays before each resend after a failed send (WeChat's official schedule; each is
/// multiplied by `time_scale`).
pub const RETRY_SCHEDULE: [Duration; 15] = [
    Duration::from_secs(15),
    Duration::from_secs(15),
    Duration::from_secs(30),
    Duration::from_secs(3 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(20 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(60 * 60),
    Duration::from_secs(3 * 3600),
    Duration::from_secs(3 * 3600),
    Duration::from_secs(3 * 3600),
    Duration::from_secs(6 * 3600),
    Duration::from_secs(6 * 3600),
];

/// At most this many sends per notification (PROTOCOL §3), so the last delay is never used.
pub const MAX_SENDS: u32 = 15;

/// What became of one send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DeliveryOutcome {
    /// The drop fault fired: nothing was sent (attempt 0).
    Dropped,
    /// The merchant answered 200 or 204.
    Delivered { status: u16 },
    /// The merchant answered anything else.
    Rejected { status: u16 },
    /// No answer within `notify_timeout`.
    Timeout,
    /// Connection or protocol failure.
    Transport { error: String },
    /// All sends failed; WeChat gives up (attempt = last attempt).
    GaveUp,
}

/// One line of the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotificationRecord {
    /// The notification id `EV-…` (duplicates share it).
    pub event_id: String,
    /// e.g. `TRANSACTION.SUCCESS`.
    pub event_type: String,
    /// The order it is about.
    pub out_trade_no: String,
    /// 0 for the original; 1 for the duplicate-fault copy.
    pub copy: u32,
    /// 1-based send number (0 for a dropped notification).
    pub attempt: u32,
    /// What happened.
    pub outcome: DeliveryOutcome,
    /// When, RFC 3339 +08:00.
    pub at: String,
}

/// A notification ready to send.
#[derive(Debug, Clone)]
pub struct Notification {
    /// `EV-…`.
    pub event_id: String,
    /// e.g. `TRANSACTION.SUCCESS`.
    pub event_type: String,
    /// The order it is about.
    pub out_trade_no: String,
    /// Where to send it.
    pub notify_url: String,
    /// The JSON envelope, byte for byte (every resend carries the same body).
    pub body: String,
}

/// A fresh `EV-…` id.
pub fn event_id() -> String {
    let now = chrono::Utc::now().with_timezone(&crate::state::cst());
    format!(
        "EV-{}{:05}",
        now.format("%Y%m%d%H%M%S"),
        rand::random_range(0..100_000u32)
    )
}

/// Encrypts `plaintext` as a callback resource and wraps it in an envelope.
pub fn build(
    sandbox: &Sandbox,
    event_type: &str,
    summary: &str,
    original_type: &str,
    plaintext: &[u8],
) -> (String, String) {
    let nonce: String = wechatpay::nonce::generate().chars().take(12).collect();
    let ciphertext = sandbox
        .apiv3_key()
        .encrypt(&nonce, original_type, plaintext)
        .expect("a 12-char nonce is a valid AES-GCM nonce");
    let id = event_id();
    let envelope = NotificationEnvelope {
        id: id.clone(),
        create_time: rfc3339_cst(chrono::Utc::now()),
        resource_type: "encrypt-resource".to_owned(),
        event_type: event_type.to_owned(),
        summary: summary.to_owned(),
        resource: EncryptedResource {
            algorithm: "AEAD_AES_256_GCM".to_owned(),
            ciphertext,
            associated_data: original_type.to_owned(),
            nonce,
            original_type: Some(original_type.to_owned()),
        },
    };
    let body = serde_json::to_string(&envelope).expect("the envelope serialises");
    (id, body)
}

/// The headers of one send: the signature set plus `Content-Type`.
pub fn headers_for(sandbox: &Sandbox, body: &str, timestamp: i64) -> Vec<(String, String)> {
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    headers.extend(signature_headers(
        sandbox,
        sandbox.notification_serial(),
        body.as_bytes(),
        timestamp,
        false,
    ));
    headers
}

/// Applies the drop/duplicate/delay faults and spawns the delivery task(s); never blocks.
pub fn dispatch(sandbox: &Sandbox, notification: Notification) {
    let faults = sandbox.faults();
    if sandbox.roll(faults.drop_notification) {
        sandbox.record(&notification, 0, 0, DeliveryOutcome::Dropped);
        return;
    }
    let copies = if sandbox.roll(faults.duplicate_notification) {
        2
    } else {
        1
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::error!(
            "sandbox: no Tokio runtime, notification {} not sent",
            notification.event_id
        );
        return;
    };
    let notification = Arc::new(notification);
    for copy in 0..copies {
        let (min, max) = faults.notification_delay_ms;
        let delay = Duration::from_millis(if max > min {
            sandbox.random_range(min, max)
        } else {
            min
        });
        let pending = PendingGuard::new(sandbox.clone());
        let sandbox = sandbox.clone();
        let notification = notification.clone();
        runtime.spawn(async move {
            let _pending = pending;
            deliver(&sandbox, &notification, copy, delay).await;
        });
    }
}

/// Counts a delivery task as pending until it ends (or is cancelled with its runtime).
struct PendingGuard(Sandbox);

impl PendingGuard {
    fn new(sandbox: Sandbox) -> Self {
        sandbox
            .pending_counter()
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(sandbox)
    }
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.0
            .pending_counter()
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn deliver(sandbox: &Sandbox, notification: &Notification, copy: u32, delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    for attempt in 1..=MAX_SENDS {
        if attempt > 1 {
            let wait = RETRY_SCHEDULE[attempt as usize - 2].mul_f64(sandbox.time_scale());
            tokio::time::sleep(wait).await;
        }
        let outcome = send_once(sandbox, notification).await;
        let delivered = matches!(outcome, DeliveryOutcome::Delivered { .. });
        sandbox.record(notification, copy, attempt, outcome);
        if delivered {
            return;
        }
    }
    sandbox.record(notification, copy, MAX_SENDS, DeliveryOutcome::GaveUp);
}

async fn send_once(sandbox: &Sandbox, notification: &Notification) -> DeliveryOutcome {
    // Each send is signed afresh, so a late resend is still inside the replay window.
    let mut request = sandbox
        .http()
        .post(&notification.notify_url)
        .timeout(sandbox.notify_timeout())
        .body(notification.body.clone());
    for (name, value) in headers_for(sandbox, &notification.body, chrono::Utc::now().timestamp()) {
        request = request.header(name, value);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            // Read the answer so the connection can be reused; its content doesn't matter.
            let _ = response.bytes().await;
            if status == 200 || status == 204 {
                DeliveryOutcome::Delivered { status }
            } else {
                DeliveryOutcome::Rejected { status }
            }
        }
        Err(e) if e.is_timeout() => DeliveryOutcome::Timeout,
        Err(e) => DeliveryOutcome::Transport {
            error: e.to_string(),
        },
    }
}
