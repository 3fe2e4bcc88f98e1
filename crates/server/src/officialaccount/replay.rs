//! Plain mode's `signature` covers only (token, timestamp, nonce), not the body: whoever sees
//! one signed portal URL could, inside the 5-minute window, post another body under it, e.g.
//! a message "from" someone else, and read that user's code in the reply. This guard binds
//! each signature to the first sender it came with. Repeats from the same sender (WeChat
//! retries) pass. In-process: each instance remembers what it saw.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Remembers which sender each recent signature came with.
#[derive(Debug)]
pub struct ReplayGuard {
    keep: Duration,
    seen: Mutex<HashMap<String, (String, Instant)>>,
}

impl Default for ReplayGuard {
    fn default() -> Self {
        // Twice the timestamp window: a signature cannot pass freshness after that anyway.
        Self::new(Duration::from_secs(
            2 * super::signature::MAX_CLOCK_SKEW_SECS as u64,
        ))
    }
}

impl ReplayGuard {
    /// A guard remembering signatures for `keep`.
    pub fn new(keep: Duration) -> Self {
        Self {
            keep,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the request signed `signature` may carry a message from `sender`: yes the
    /// first time, and again only for the same sender.
    pub fn admit(&self, signature: &str, sender: &str, now: Instant) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > 1024 {
            seen.retain(|_, (_, at)| now.saturating_duration_since(*at) < self.keep);
        }
        match seen.get(signature) {
            Some((first, at)) if now.saturating_duration_since(*at) < self.keep => first == sender,
            _ => {
                seen.insert(signature.to_owned(), (sender.to_owned(), now));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_bound_to_its_first_sender() {
        let guard = ReplayGuard::new(Duration::from_secs(600));
        let t0 = Instant::now();
        assert!(guard.admit("sig1", "oAlice", t0));
        assert!(guard.admit("sig1", "oAlice", t0), "a retry passes");
        assert!(
            !guard.admit("sig1", "oMallory", t0),
            "a swapped body does not"
        );
        assert!(guard.admit("sig2", "oMallory", t0));
        assert!(guard.admit("sig1", "oMallory", t0 + Duration::from_secs(600)));
    }
}
