//! Operators' passwords and session tokens: Argon2id (OWASP's parameters, the crate's
//! defaults) on the blocking pool, 256-bit tokens from the system CSPRNG stored by SHA-256.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash as Phc;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use aws_lc_rs::digest;
use base64::Engine as _;
use domain::operator::{Password, PasswordHash};
use domain::ports::OperatorKeys;
use std::sync::{Arc, OnceLock};

/// The console's hasher and token source.
#[derive(Default)]
pub struct ConsoleKeys {
    /// A hash of a random password: what an unknown name is checked against, so it takes
    /// as long as a known one.
    decoy: Arc<OnceLock<String>>,
}

fn hash_now(password: &[u8]) -> anyhow::Result<String> {
    Ok(Argon2::default()
        .hash_password(password)
        .map_err(|e| anyhow::anyhow!("hash a password: {e}"))?
        .to_string())
}

fn matches(hash: &str, password: &[u8]) -> bool {
    Phc::new(hash)
        .map(|phc| Argon2::default().verify_password(password, &phc).is_ok())
        .unwrap_or(false)
}

impl OperatorKeys for ConsoleKeys {
    async fn hash(&self, password: &Password) -> anyhow::Result<PasswordHash> {
        let password = password.expose().as_bytes().to_vec();
        let hash = tokio::task::spawn_blocking(move || hash_now(&password)).await??;
        Ok(PasswordHash(hash))
    }

    async fn verify(&self, hash: Option<&PasswordHash>, password: &Password) -> bool {
        let known = hash.map(|h| h.0.clone());
        let password = password.expose().as_bytes().to_vec();
        let decoy = self.decoy.clone();
        tokio::task::spawn_blocking(move || match known {
            Some(hash) => matches(&hash, &password),
            None => {
                let decoy = decoy.get_or_init(|| {
                    hash_now(fresh().as_bytes()).expect("Argon2 with its defaults hashes")
                });
                let _ = matches(decoy, &password);
                false
            }
        })
        .await
        .unwrap_or(false)
    }

    fn fresh_token(&self) -> String {
        fresh()
    }

    fn digest(&self, token: &str) -> String {
        hex::encode(digest::digest(&digest::SHA256, token.as_bytes()))
    }
}

fn fresh() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system CSPRNG works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_is_argon2id_salted_and_checks_only_its_password() {
        let keys = ConsoleKeys::default();
        let right = Password::new("correct horse battery".into()).unwrap();
        let wrong = Password::offered("correct horse battery!".into()).unwrap();
        let a = keys.hash(&right).await.unwrap();
        let b = keys.hash(&right).await.unwrap();
        assert!(a.0.starts_with("$argon2id$"), "{}", a.0);
        assert_ne!(a, b, "each hash has its own salt");
        assert!(keys.verify(Some(&a), &right).await);
        assert!(!keys.verify(Some(&a), &wrong).await);
        assert!(!keys.verify(None, &right).await);
        assert!(
            !keys
                .verify(Some(&PasswordHash("garbage".into())), &right)
                .await
        );
    }

    #[test]
    fn tokens_are_fresh_and_stored_by_digest() {
        let keys = ConsoleKeys::default();
        let (a, b) = (keys.fresh_token(), keys.fresh_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(keys.digest(&a).len(), 64);
        assert_ne!(keys.digest(&a), keys.digest(&b));
    }
}
