//! Order numbers: unique, time-ordered, and valid as WeChat Pay's `out_trade_no`.

use chrono::{DateTime, Utc};
use std::fmt;
use std::sync::Mutex;

/// An order number, usable as WeChat Pay's `out_trade_no`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderNo(String);

/// The text is not an order number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an order number is 12 to 32 characters of [0-9A-Za-z_-|*], got {0:?}")]
pub struct OrderNoError(pub String);

impl OrderNo {
    /// Parses an order number: 12–32 characters of WeChat's `out_trade_no` alphabet.
    pub fn parse(text: &str) -> Result<Self, OrderNoError> {
        let ok = (12..=32).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-|*".contains(&b));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(OrderNoError(text.chars().take(40).collect()))
        }
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrderNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Issues order numbers `YYYYMMDDhhmmss` + node (3 digits) + sequence (5 digits): 22 digits.
///
/// Uniqueness does not rest on chance: within one process numbers strictly increase (a
/// counter per second, borrowing from the next second when 100,000 are issued in one, and
/// never going back when the wall clock does), and distinct processes have distinct node
/// ids. The store's unique index on `order_no` is the last line of defence.
#[derive(Debug)]
pub struct OrderNoGenerator {
    node: u16,
    last: Mutex<(i64, u32)>,
}

/// Node ids are three decimal digits.
pub const MAX_NODE: u16 = 999;
const SEQUENCE_PER_SECOND: u32 = 100_000;

impl OrderNoGenerator {
    /// A generator for node `node` (0–999), unique among processes sharing a database.
    pub fn new(node: u16) -> Self {
        assert!(
            node <= MAX_NODE,
            "order number node ids are 0..=999, got {node}"
        );
        Self {
            node,
            last: Mutex::new((i64::MIN, 0)),
        }
    }

    /// Continues after `last`, a number this node issued before (e.g. before a restart), so
    /// a process that restarts within the same second cannot issue it again. Numbers of
    /// other nodes or of another shape are ignored.
    pub fn resume_after(&self, last: &OrderNo) {
        let text = last.as_str();
        if text.len() != 22
            || !text.bytes().all(|b| b.is_ascii_digit())
            || text[14..17] != format!("{:03}", self.node)
        {
            return;
        }
        let Ok(stamp) = chrono::NaiveDateTime::parse_from_str(&text[..14], "%Y%m%d%H%M%S") else {
            return;
        };
        let sequence: u32 = text[17..].parse().expect("five digits");
        let mut state = self
            .last
            .lock()
            .expect("the generator lock is never poisoned");
        *state = (*state).max((stamp.and_utc().timestamp(), sequence));
    }

    /// The next number, stamped with `now`'s second (or later, if numbers ran ahead).
    pub fn next(&self, now: DateTime<Utc>) -> OrderNo {
        let mut last = self
            .last
            .lock()
            .expect("the generator lock is never poisoned");
        let (mut second, mut sequence) = *last;
        if now.timestamp() > second {
            (second, sequence) = (now.timestamp(), 0);
        } else {
            sequence += 1;
            if sequence == SEQUENCE_PER_SECOND {
                (second, sequence) = (second + 1, 0);
            }
        }
        *last = (second, sequence);
        let stamp = DateTime::from_timestamp(second, 0)
            .expect("a second near now is a valid timestamp")
            .format("%Y%m%d%H%M%S");
        OrderNo(format!("{stamp}{:03}{sequence:05}", self.node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn parse_follows_wechat_out_trade_no_rules() {
        assert!(OrderNo::parse("2026112815220000100001").is_ok());
        assert!(OrderNo::parse("ABC_def-12|*").is_ok());
        assert!(OrderNo::parse("short").is_err());
        assert!(OrderNo::parse(&"1".repeat(33)).is_err());
        assert!(OrderNo::parse("2026112815220000100 01").is_err());
    }

    #[test]
    fn numbers_are_unique_and_increasing_even_in_a_burst_and_when_the_clock_steps_back() {
        let ids = OrderNoGenerator::new(7);
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut seen = HashSet::new();
        let mut previous = None;
        // More than one second's worth, then the clock goes back an hour.
        for i in 0..(SEQUENCE_PER_SECOND + 10) {
            let now = if i < 50_000 {
                t
            } else {
                t - chrono::Duration::hours(1)
            };
            let no = ids.next(now);
            assert!(
                OrderNo::parse(no.as_str()).is_ok(),
                "{no} is a valid out_trade_no"
            );
            assert!(previous.as_ref() < Some(&no), "{no} follows {previous:?}");
            assert!(seen.insert(no.clone()));
            previous = Some(no);
        }
        assert_eq!(previous.unwrap().as_str().len(), 22);
    }

    #[test]
    fn a_restarted_generator_continues_after_the_last_number_it_issued() {
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let before = OrderNoGenerator::new(3);
        let issued: Vec<_> = (0..5).map(|_| before.next(t)).collect();
        let after = OrderNoGenerator::new(3);
        after.resume_after(issued.last().unwrap());
        // Another node's number does not move it.
        after.resume_after(&OrderNoGenerator::new(4).next(t + chrono::Duration::hours(1)));
        let next = after.next(t);
        assert!(
            issued.iter().all(|no| *no < next),
            "{next} follows {issued:?}"
        );
        assert_eq!(
            &next.as_str()[..14],
            &issued[0].as_str()[..14],
            "same second, higher sequence"
        );
    }

    #[test]
    fn different_nodes_never_collide() {
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let (a, b) = (OrderNoGenerator::new(1), OrderNoGenerator::new(2));
        let from_a: HashSet<_> = (0..1000).map(|_| a.next(t)).collect();
        assert!((0..1000).map(|_| b.next(t)).all(|no| !from_a.contains(&no)));
    }
}
