//! Making API keys: 24 random bytes from the system's CSPRNG after `sk-cm-`, stored as
//! their SHA-256 (a key has 192 bits of entropy, so a fast hash is as safe as a slow one
//! and lets the lookup be one indexed equality).

use base64::Engine as _;
use domain::api_key::KEY_PREFIX;

/// A new key and what is stored of it.
pub struct NewKey {
    /// The key, shown to its owner once.
    pub key: String,
    /// SHA-256 of the key, lower-case hex.
    pub digest: String,
    /// The first characters, to tell keys apart in a list.
    pub hint: String,
}

/// A fresh key.
pub fn fresh() -> NewKey {
    let mut bytes = [0u8; 24];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system CSPRNG works");
    let key = format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hint = format!("{}…", &key[..KEY_PREFIX.len() + 4]);
    NewKey {
        digest: digest(&key),
        hint,
        key,
    }
}

/// The stored form of `key`.
pub fn digest(key: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        key.as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fresh_and_stored_only_by_digest() {
        let (a, b) = (fresh(), fresh());
        assert_ne!(a.key, b.key);
        assert!(
            a.key.starts_with("sk-cm-") && a.key.len() == 6 + 32,
            "{}",
            a.key
        );
        assert_eq!(a.digest, digest(&a.key));
        assert_eq!(a.digest.len(), 64);
        assert!(!a.digest.contains(&a.key[6..]) && a.key.starts_with(a.hint.trim_end_matches('…')));
    }
}
