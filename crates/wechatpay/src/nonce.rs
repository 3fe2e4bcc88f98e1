//! Request nonces: 32 characters of `[0-9A-Za-z]`.

use rand::Rng;
use rand::distr::Alphanumeric;

/// A fresh 32-character alphanumeric nonce from the OS-seeded thread RNG.
pub fn generate() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn nonces_are_32_alphanumerics_and_differ() {
        let (a, b) = (super::generate(), super::generate());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
