//! How long an order may be paid.

use chrono::Duration;

/// How long an order may be paid: 1 s to 2 h. WeChat's code_url lives 2 hours, so a longer
/// deadline would show a QR code that can no longer be paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderTtl(Duration);

/// The lifetime is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an order can be paid for 1 to {MAX_SECS} seconds (the code_url lives 2 hours), got {0}")]
pub struct OrderTtlError(pub i64);

const MAX_SECS: i64 = 7_200;

impl OrderTtl {
    /// A lifetime of `secs` seconds.
    pub fn from_secs(secs: i64) -> Result<Self, OrderTtlError> {
        if (1..=MAX_SECS).contains(&secs) {
            Ok(Self(Duration::seconds(secs)))
        } else {
            Err(OrderTtlError(secs))
        }
    }

    /// The lifetime.
    pub fn get(self) -> Duration {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_a_code_url_outlives_is_accepted() {
        assert_eq!(
            OrderTtl::from_secs(1800).unwrap().get(),
            Duration::minutes(30)
        );
        assert!(OrderTtl::from_secs(7_200).is_ok());
        for bad in [0, -5, 7_201, i64::MAX] {
            assert_eq!(OrderTtl::from_secs(bad), Err(OrderTtlError(bad)));
        }
    }
}
