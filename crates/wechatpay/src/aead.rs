//! AEAD_AES_256_GCM, as WeChat Pay encrypts callback resources and platform certificates.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::fmt;

/// Why a resource could not be decrypted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecryptError {
    /// The nonce is not 12 bytes.
    #[error("the nonce must be 12 bytes, got {0}")]
    NonceLength(usize),
    /// The ciphertext is not base64.
    #[error("the ciphertext is not valid base64")]
    Base64,
    /// The ciphertext cannot even hold the tag.
    #[error("the ciphertext is shorter than the 16-byte tag")]
    TooShort,
    /// The tag did not match.
    #[error("authentication failed: wrong key, nonce, associated data, or tampered ciphertext")]
    Authentication,
}

/// The merchant's APIv3 key: exactly 32 bytes, used as the AES-256 key.
///
/// Holds the expanded AES key, built once: expanding it per call made a callback's decrypt
/// about 40 % slower than the bare aws-lc-rs call (chatmall-bench, benchmark 5).
#[derive(Clone)]
pub struct ApiV3Key(std::sync::Arc<LessSafeKey>);

impl fmt::Debug for ApiV3Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiV3Key(<redacted>)")
    }
}

/// The APIv3 key is not 32 bytes long (a configuration error).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the APIv3 key must be exactly 32 bytes, got {0}")]
pub struct ApiV3KeyLength(pub usize);

impl ApiV3Key {
    /// Takes the key as configured (its UTF-8 bytes are the AES key).
    pub fn new(key: &str) -> Result<Self, ApiV3KeyLength> {
        let bytes: [u8; 32] = key
            .as_bytes()
            .try_into()
            .map_err(|_| ApiV3KeyLength(key.len()))?;
        Ok(Self(std::sync::Arc::new(LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &bytes).expect("32 bytes is an AES-256 key"),
        ))))
    }

    fn key(&self) -> &LessSafeKey {
        &self.0
    }

    /// Decrypts `ciphertext_b64` = base64(ciphertext ‖ tag) with the given nonce and AAD.
    pub fn decrypt(
        &self,
        nonce: &str,
        associated_data: &str,
        ciphertext_b64: &str,
    ) -> Result<Vec<u8>, DecryptError> {
        let nonce = nonce_of(nonce)?;
        let mut in_out = STANDARD
            .decode(ciphertext_b64)
            .map_err(|_| DecryptError::Base64)?;
        if in_out.len() < AES_256_GCM.tag_len() {
            return Err(DecryptError::TooShort);
        }
        let plain = self
            .key()
            .open_in_place(nonce, Aad::from(associated_data.as_bytes()), &mut in_out)
            .map_err(|_| DecryptError::Authentication)?;
        let len = plain.len();
        in_out.truncate(len);
        Ok(in_out)
    }

    /// Encrypts `plaintext`, returning base64(ciphertext ‖ tag) — the sandbox's side.
    pub fn encrypt(
        &self,
        nonce: &str,
        associated_data: &str,
        plaintext: &[u8],
    ) -> Result<String, DecryptError> {
        let nonce = nonce_of(nonce)?;
        let mut in_out = plaintext.to_vec();
        self.key()
            .seal_in_place_append_tag(nonce, Aad::from(associated_data.as_bytes()), &mut in_out)
            .expect("AES-GCM sealing of an in-memory buffer cannot fail");
        Ok(STANDARD.encode(in_out))
    }
}

fn nonce_of(nonce: &str) -> Result<Nonce, DecryptError> {
    Nonce::try_assume_unique_for_key(nonce.as_bytes())
        .map_err(|_| DecryptError::NonceLength(nonce.len()))
}
