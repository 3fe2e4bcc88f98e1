//! The secrets of redemption codes: fresh codes from the system CSPRNG, and HMAC-SHA-256
//! digests under a key derived from the session secret (which every instance sharing the
//! database shares, and the database does not hold), so a reader of the database cannot
//! turn a stored digest into a code.

use aws_lc_rs::hmac;
use domain::login_code::CodeDigest;
use domain::ports::RedemptionSecrets;
use domain::redemption::{CODE_BYTES, RedemptionCode};

/// The digest key of redemption codes.
pub struct RedemptionKeys {
    digest: hmac::Key,
}

impl RedemptionKeys {
    /// The key for `session_secret`.
    pub fn new(session_secret: &[u8]) -> Self {
        let root = hmac::Key::new(hmac::HMAC_SHA256, session_secret);
        let derived = hmac::sign(&root, b"chatmall redemption code digests v1");
        Self {
            digest: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        }
    }
}

impl RedemptionSecrets for RedemptionKeys {
    fn fresh_code(&self) -> RedemptionCode {
        let mut bytes = [0u8; CODE_BYTES];
        aws_lc_rs::rand::fill(&mut bytes).expect("the system CSPRNG works");
        RedemptionCode::from_random(bytes)
    }

    fn digest(&self, code: &RedemptionCode) -> CodeDigest {
        CodeDigest::new(hex::encode(hmac::sign(
            &self.digest,
            code.as_str().as_bytes(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_fresh_and_digests_keyed_apart_from_login_codes() {
        let keys = RedemptionKeys::new(b"secret one");
        let (a, b) = (keys.fresh_code(), keys.fresh_code());
        assert_ne!(a, b);
        let digest = keys.digest(&a);
        assert_eq!(digest, RedemptionKeys::new(b"secret one").digest(&a));
        assert_ne!(digest, RedemptionKeys::new(b"secret two").digest(&a));
        assert_eq!(digest.as_str().len(), 64);
        assert!(!digest.as_str().contains(&a.as_str().to_lowercase()));
    }
}
