//! Brute-force limits on failed logins: a sliding window per client address and one for
//! everyone. In-process, so with several instances each enforces its own limits.
//!
//! An attempt reserves a failure slot *before* the code is checked and gives it back only on
//! success, so a burst of concurrent guesses cannot slip past the limit.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Limits, from `[login]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_ip: u32,
    pub global: u32,
    pub window: Duration,
}

/// Why an attempt was refused, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// This address failed too often.
    Address { retry_after: Duration },
    /// Everyone together failed too often.
    Global { retry_after: Duration },
}

/// A reserved attempt: counts as a failure unless [`FailureLimiter::release`] returns it.
#[derive(Debug)]
#[must_use = "an attempt counts as failed unless it is released"]
pub struct Attempt {
    ip: IpAddr,
    id: u64,
}

#[derive(Debug, Default)]
struct Windows {
    next_id: u64,
    global: VecDeque<(Instant, u64)>,
    per_ip: HashMap<IpAddr, VecDeque<(Instant, u64)>>,
}

/// Counts failed logins in sliding windows.
#[derive(Debug)]
pub struct FailureLimiter {
    limits: Limits,
    windows: Mutex<Windows>,
}

impl FailureLimiter {
    /// A limiter with these limits.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            windows: Mutex::new(Windows::default()),
        }
    }

    /// Reserves an attempt for `ip` at `now`, or says why it is refused.
    pub fn begin(&self, ip: IpAddr, now: Instant) -> Result<Attempt, Limited> {
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let window = self.limits.window;
        let fresh = |at: &Instant| now.saturating_duration_since(*at) < window;
        while w.global.front().is_some_and(|(at, _)| !fresh(at)) {
            w.global.pop_front();
        }
        // Entries only exist while the global window holds them, so this bounds the map.
        if w.per_ip.len() > w.global.len() {
            w.per_ip.retain(|_, q| {
                q.retain(|(at, _)| fresh(at));
                !q.is_empty()
            });
        }
        let retry = |oldest: Option<&(Instant, u64)>| {
            oldest.map_or(window, |(at, _)| {
                window.saturating_sub(now.saturating_duration_since(*at))
            })
        };
        if let Some(q) = w.per_ip.get_mut(&ip) {
            while q.front().is_some_and(|(at, _)| !fresh(at)) {
                q.pop_front();
            }
            if q.len() >= self.limits.per_ip as usize {
                return Err(Limited::Address {
                    retry_after: retry(q.front()),
                });
            }
        } else if self.limits.per_ip == 0 {
            return Err(Limited::Address {
                retry_after: window,
            });
        }
        if w.global.len() >= self.limits.global as usize {
            return Err(Limited::Global {
                retry_after: retry(w.global.front()),
            });
        }
        w.next_id += 1;
        let id = w.next_id;
        w.global.push_back((now, id));
        w.per_ip.entry(ip).or_default().push_back((now, id));
        Ok(Attempt { ip, id })
    }

    /// The attempt did not fail (it succeeded, or the server failed): it no longer counts.
    pub fn release(&self, attempt: Attempt) {
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        w.global.retain(|(_, id)| *id != attempt.id);
        if let Some(q) = w.per_ip.get_mut(&attempt.ip) {
            q.retain(|(_, id)| *id != attempt.id);
            if q.is_empty() {
                w.per_ip.remove(&attempt.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    fn limiter(per_ip: u32, global: u32) -> FailureLimiter {
        FailureLimiter::new(Limits {
            per_ip,
            global,
            window: Duration::from_secs(60),
        })
    }

    #[test]
    fn an_address_is_limited_after_its_failures_until_the_window_slides() {
        let limiter = limiter(3, 100);
        let t0 = Instant::now();
        for i in 0..3 {
            let _failed = limiter.begin(ip(1), t0 + Duration::from_secs(i)).unwrap();
        }
        let refused = limiter.begin(ip(1), t0 + Duration::from_secs(10));
        assert_eq!(
            refused.unwrap_err(),
            Limited::Address {
                retry_after: Duration::from_secs(50)
            }
        );
        // Another address is unaffected.
        let _other = limiter.begin(ip(2), t0 + Duration::from_secs(10)).unwrap();
        // The first failure leaves the window after 60 s.
        let _again = limiter.begin(ip(1), t0 + Duration::from_secs(60)).unwrap();
    }

    #[test]
    fn successes_do_not_count() {
        let limiter = limiter(2, 100);
        let t0 = Instant::now();
        for _ in 0..10 {
            let attempt = limiter.begin(ip(1), t0).unwrap();
            limiter.release(attempt);
        }
        let _one = limiter.begin(ip(1), t0).unwrap();
        let _two = limiter.begin(ip(1), t0).unwrap();
        assert!(limiter.begin(ip(1), t0).is_err());
    }

    #[test]
    fn everyone_together_is_limited_too() {
        let limiter = limiter(5, 4);
        let t0 = Instant::now();
        for i in 0..4 {
            let _failed = limiter.begin(ip(i), t0).unwrap();
        }
        assert!(matches!(
            limiter.begin(ip(200), t0),
            Err(Limited::Global { .. })
        ));
        assert!(limiter.begin(ip(200), t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn stale_addresses_are_forgotten() {
        let limiter = limiter(5, 1000);
        let t0 = Instant::now();
        for i in 0..=255 {
            let _failed = limiter.begin(ip(i), t0).unwrap();
        }
        let _late = limiter.begin(ip(7), t0 + Duration::from_secs(120)).unwrap();
        assert_eq!(limiter.windows.lock().unwrap().per_ip.len(), 1);
    }
}
