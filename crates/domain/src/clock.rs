//! Clocks for the `Clock` port: the wall clock, and two that tests drive.

use crate::ports::Clock;
use chrono::{DateTime, Utc};

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until moved: for tests of expiry and windows, which must
/// never wait real time.
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock showing `at`.
    pub fn at(at: DateTime<Utc>) -> Self {
        Self(std::sync::Mutex::new(at))
    }

    /// Moves the clock by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The wall clock, moved forward on demand: time still passes, and a test can jump over a
/// deadline (an order's expiry, a code's lifetime) instead of waiting for it.
#[derive(Debug, Default)]
pub struct ShiftedClock(std::sync::Mutex<chrono::Duration>);

impl ShiftedClock {
    /// Moves the clock `by` further ahead of the wall clock.
    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
