//! Verifying what WeChat Pay sends: response and callback signatures over
//! `TIMESTAMP\nNONCE\nBODY\n`, the 300-second replay window, and key choice by serial.

use crate::keys::PublicKey;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::collections::HashMap;
use std::sync::RwLock;

/// The only signature type WeChat Pay v3 uses.
pub const SIGNATURE_TYPE: &str = "WECHATPAY2-SHA256-RSA2048";
/// A signed message older or newer than this many seconds is refused.
pub const REPLAY_WINDOW_SECS: i64 = 300;
/// Serials with this prefix name a WeChat Pay public key (public-key mode).
pub const PUBLIC_KEY_ID_PREFIX: &str = "PUB_KEY_ID_";

/// Header names of a signed response or callback.
pub mod header {
    /// Unix seconds when WeChat signed.
    pub const TIMESTAMP: &str = "Wechatpay-Timestamp";
    /// WeChat's random nonce.
    pub const NONCE: &str = "Wechatpay-Nonce";
    /// The base64 signature.
    pub const SIGNATURE: &str = "Wechatpay-Signature";
    /// Which key signed: `PUB_KEY_ID_…` or a platform certificate serial; also sent by the
    /// merchant in public-key mode.
    pub const SERIAL: &str = "Wechatpay-Serial";
    /// `WECHATPAY2-SHA256-RSA2048`.
    pub const SIGNATURE_TYPE: &str = "Wechatpay-Signature-Type";
    /// WeChat's id of the exchange, for support tickets.
    pub const REQUEST_ID: &str = "Request-ID";
}

/// The `Wechatpay-*` headers of a signed response or callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders {
    /// `Wechatpay-Timestamp`, as sent (it is part of the signed message).
    pub timestamp: String,
    /// `Wechatpay-Nonce`.
    pub nonce: String,
    /// `Wechatpay-Signature` (base64).
    pub signature: String,
    /// `Wechatpay-Serial`: which key signed.
    pub serial: String,
    /// `Wechatpay-Signature-Type`; anything but [`SIGNATURE_TYPE`] is refused.
    pub signature_type: String,
}

/// Why a response or callback was not accepted as WeChat Pay's.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// A required header is absent.
    #[error("header {0} is missing or not text")]
    MissingHeader(&'static str),
    /// The signature type is not RSA-SHA256.
    #[error("signature type {0:?} is not {SIGNATURE_TYPE}")]
    SignatureType(String),
    /// The timestamp is not a number.
    #[error("the timestamp {0:?} is not an integer")]
    Timestamp(String),
    /// Outside the replay window.
    #[error(
        "the timestamp is {skew_secs} s away from now, outside the {REPLAY_WINDOW_SECS} s window"
    )]
    Stale {
        /// How far the timestamp is from now, in seconds.
        skew_secs: i64,
    },
    /// No key is trusted under that serial.
    #[error("no key is known for serial {0:?}")]
    UnknownSerial(String),
    /// The signature is not base64.
    #[error("the signature is not base64 (a probe such as WECHATPAY/SIGNTEST?)")]
    SignatureEncoding,
    /// The signature does not match.
    #[error("the signature does not match the message")]
    BadSignature,
}

impl SignatureHeaders {
    /// Reads the headers from an HTTP header map (reqwest's and axum's are the same type).
    pub fn from_headers(headers: &reqwest::header::HeaderMap) -> Result<Self, VerifyError> {
        Self::from_lookup(|name| headers.get(name).and_then(|v| v.to_str().ok()))
    }

    /// Reads the headers through a lookup by name (callers compare names without case).
    pub fn from_lookup<'a>(
        header_value: impl Fn(&'static str) -> Option<&'a str>,
    ) -> Result<Self, VerifyError> {
        let get = |name: &'static str| {
            header_value(name)
                .map(str::to_owned)
                .ok_or(VerifyError::MissingHeader(name))
        };
        Ok(Self {
            timestamp: get(header::TIMESTAMP)?,
            nonce: get(header::NONCE)?,
            signature: get(header::SIGNATURE)?,
            serial: get(header::SERIAL)?,
            signature_type: get(header::SIGNATURE_TYPE)?,
        })
    }
}

/// The message WeChat Pay signs: `TIMESTAMP\nNONCE\nBODY\n`.
pub fn response_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(timestamp.len() + nonce.len() + body.len() + 3);
    for part in [timestamp.as_bytes(), nonce.as_bytes(), body] {
        message.extend_from_slice(part);
        message.push(b'\n');
    }
    message
}

impl PublicKey {
    /// Checks a base64 SHA256withRSA signature over `message`.
    pub fn verify_base64(&self, message: &[u8], signature_b64: &str) -> Result<(), VerifyError> {
        let signature = STANDARD
            .decode(signature_b64)
            .map_err(|_| VerifyError::SignatureEncoding)?;
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            &self.spki_der,
        )
        .verify(message, &signature)
        .map_err(|_| VerifyError::BadSignature)
    }
}

/// The keys WeChat Pay may sign with, by serial: the public key (`PUB_KEY_ID_…`) and/or
/// platform certificates. Both kinds at once during a migration.
#[derive(Debug, Default)]
pub struct Verifier {
    keys: RwLock<HashMap<String, PublicKey>>,
}

impl Verifier {
    /// A verifier that knows no key yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A verifier for public-key mode.
    pub fn with_public_key(public_key_id: impl Into<String>, key: PublicKey) -> Self {
        let verifier = Self::new();
        verifier.add_key(public_key_id, key);
        verifier
    }

    /// Trusts `key` for messages whose `Wechatpay-Serial` is `serial`.
    pub fn add_key(&self, serial: impl Into<String>, key: PublicKey) {
        self.keys
            .write()
            .expect("the key map is never left poisoned")
            .insert(serial.into(), key);
    }

    /// Whether a key is known for `serial`.
    pub fn knows(&self, serial: &str) -> bool {
        self.keys
            .read()
            .expect("the key map is never left poisoned")
            .contains_key(serial)
    }

    /// Verifies a signed response or callback body at time `now_unix`.
    pub fn verify(
        &self,
        headers: &SignatureHeaders,
        body: &[u8],
        now_unix: i64,
    ) -> Result<(), VerifyError> {
        if headers.signature_type != SIGNATURE_TYPE {
            return Err(VerifyError::SignatureType(headers.signature_type.clone()));
        }
        let timestamp: i64 = headers
            .timestamp
            .parse()
            .map_err(|_| VerifyError::Timestamp(headers.timestamp.clone()))?;
        // The header is not yet authenticated: no arithmetic on it may overflow.
        let skew_secs = i64::try_from(now_unix.abs_diff(timestamp)).unwrap_or(i64::MAX);
        if skew_secs >= REPLAY_WINDOW_SECS {
            return Err(VerifyError::Stale { skew_secs });
        }
        let key = self
            .keys
            .read()
            .expect("the key map is never left poisoned")
            .get(&headers.serial)
            .cloned()
            .ok_or_else(|| VerifyError::UnknownSerial(headers.serial.clone()))?;
        key.verify_base64(
            &response_message(&headers.timestamp, &headers.nonce, body),
            &headers.signature,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;

    fn headers_without(missing: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in [
            (header::TIMESTAMP, "1700000000"),
            (header::NONCE, "n"),
            (header::SIGNATURE, "c2ln"),
            (header::SERIAL, "PUB_KEY_ID_01"),
            (header::SIGNATURE_TYPE, SIGNATURE_TYPE),
        ] {
            if name != missing {
                map.insert(name, value.parse().unwrap());
            }
        }
        map
    }

    #[test]
    fn every_wechatpay_header_is_required() {
        assert!(SignatureHeaders::from_headers(&headers_without("none")).is_ok());
        for name in [
            header::TIMESTAMP,
            header::NONCE,
            header::SIGNATURE,
            header::SERIAL,
            header::SIGNATURE_TYPE,
        ] {
            assert_eq!(
                SignatureHeaders::from_headers(&headers_without(name)),
                Err(VerifyError::MissingHeader(name)),
                "{name}"
            );
        }
    }
}
