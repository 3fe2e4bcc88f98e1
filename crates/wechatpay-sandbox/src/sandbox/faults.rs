//! How the sandbox misbehaves on purpose (faults, randomness) and what it sent.

use super::*;

impl Sandbox {
    /// The retry-delay multiplier.
    pub fn time_scale(&self) -> f64 {
        self.inner.time_scale
    }

    /// How long a merchant may take to answer a notification.
    pub fn notify_timeout(&self) -> Duration {
        self.inner.notify_timeout
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The current faults.
    pub fn faults(&self) -> Faults {
        lock(&self.inner.faults).clone()
    }

    /// Replaces the faults (takes effect for the next request or notification).
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.inner.faults) = faults;
    }

    /// Makes the next signed response carry a garbage signature (one shot).
    pub fn corrupt_next_response_signature(&self) {
        self.inner.corrupt_next.store(true, Ordering::SeqCst);
    }

    pub(crate) fn take_corrupt_flag(&self) -> bool {
        self.inner.corrupt_next.swap(false, Ordering::SeqCst)
    }

    /// A seeded coin flip with probability `p` (no RNG draw when `p <= 0`, so enabling one
    /// fault does not shift the others' sequence more than needed).
    pub(crate) fn roll(&self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        lock(&self.inner.rng).random_bool(p.min(1.0))
    }

    pub(crate) fn random_range(&self, min: u64, max: u64) -> u64 {
        lock(&self.inner.rng).random_range(min..=max)
    }

    pub(super) fn random_string(&self, alphabet: &[u8], len: usize) -> String {
        let mut rng = lock(&self.inner.rng);
        (0..len)
            .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
            .collect()
    }

    pub(crate) fn record(
        &self,
        notification: &Notification,
        copy: u32,
        attempt: u32,
        outcome: DeliveryOutcome,
    ) {
        tracing::debug!(
            event_id = %notification.event_id,
            attempt,
            ?outcome,
            "sandbox notification"
        );
        lock(&self.inner.log).push(NotificationRecord {
            event_id: notification.event_id.clone(),
            event_type: notification.event_type.clone(),
            out_trade_no: notification.out_trade_no.clone(),
            copy,
            attempt,
            outcome,
            at: rfc3339_cst(Utc::now()),
        });
    }

    pub(crate) fn pending_counter(&self) -> &AtomicUsize {
        &self.inner.pending
    }

    /// The log of notification sends so far (oldest first).
    pub fn notifications(&self) -> Vec<NotificationRecord> {
        lock(&self.inner.log).clone()
    }

    /// How many delivery tasks are still running (waiting, sending or retrying).
    pub fn pending_deliveries(&self) -> usize {
        self.inner.pending.load(Ordering::SeqCst)
    }
}
