//! Money: an integer number of fen (1 yuan = 100 fen). Never a float.

use std::fmt;

/// An amount of money in fen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fen(u64);

/// The amount is not a valid price.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FenError {
    #[error("an amount must be a non-negative integer number of fen, got {0}")]
    Negative(i64),
    #[error("an amount of {0} fen is above the largest WeChat Pay accepts")]
    TooLarge(u64),
}

impl Fen {
    /// WeChat Pay's `amount.total` is a 32-bit signed integer.
    pub const MAX: u64 = i32::MAX as u64;

    /// An amount from a count of fen.
    pub fn new(fen: u64) -> Result<Self, FenError> {
        if fen > Self::MAX {
            return Err(FenError::TooLarge(fen));
        }
        Ok(Self(fen))
    }

    /// An amount from a signed count (a database column or a wire field).
    pub fn from_i64(fen: i64) -> Result<Self, FenError> {
        u64::try_from(fen)
            .map_err(|_| FenError::Negative(fen))
            .and_then(Self::new)
    }

    /// The count of fen.
    pub fn fen(self) -> u64 {
        self.0
    }

    /// The count of fen as a signed integer (WeChat's and the database's type).
    pub fn as_i64(self) -> i64 {
        // Bounded by MAX at construction.
        self.0 as i64
    }
}

impl fmt::Display for Fen {
    /// Yuan with two decimals: `12.50`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_yuan_and_bounds_the_wire_type() {
        assert_eq!(Fen::new(1250).unwrap().to_string(), "12.50");
        assert_eq!(Fen::new(7).unwrap().to_string(), "0.07");
        assert_eq!(Fen::from_i64(-1), Err(FenError::Negative(-1)));
        assert!(Fen::new(Fen::MAX + 1).is_err());
        assert_eq!(Fen::new(Fen::MAX).unwrap().as_i64(), i32::MAX as i64);
    }
}
