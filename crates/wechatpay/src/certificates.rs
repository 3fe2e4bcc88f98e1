//! Platform certificates (legacy mode): decrypting the entries of `GET /v3/certificates` and
//! reading each X.509 certificate's serial, validity and public key.

use crate::aead::{ApiV3Key, DecryptError};
use crate::keys::PublicKey;
use crate::model::PlatformCertificateEntry;
use crate::notify::AEAD_AES_256_GCM;
use x509_cert::Certificate;
use x509_cert::der::{DecodePem, Encode};

/// A decrypted, parsed WeChat Pay platform certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformCertificate {
    /// The serial as the `Wechatpay-Serial` header names it (uppercase hex).
    pub serial_no: String,
    /// `effective_time` as listed (RFC 3339).
    pub effective_time: String,
    /// `expire_time` as listed (RFC 3339).
    pub expire_time: String,
    /// The certificate's notAfter, in Unix seconds.
    pub not_after_unix: i64,
    /// The key WeChat signs with under this serial.
    pub public_key: PublicKey,
    /// The certificate itself (PEM).
    pub pem: String,
}

impl PlatformCertificate {
    /// Whether the certificate has expired at `now_unix`.
    pub fn is_expired(&self, now_unix: i64) -> bool {
        now_unix >= self.not_after_unix
    }
}

/// Why a `/v3/certificates` entry could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertificateError {
    /// The entry is encrypted with something other than `AEAD_AES_256_GCM`.
    #[error("certificate {serial}: algorithm {algorithm:?} is not {AEAD_AES_256_GCM}")]
    UnsupportedAlgorithm {
        /// The listed serial.
        serial: String,
        /// The algorithm found.
        algorithm: String,
    },
    /// The entry did not decrypt with the APIv3 key.
    #[error("certificate {serial}: {source}")]
    Decrypt {
        /// The listed serial.
        serial: String,
        /// Why decryption failed.
        source: DecryptError,
    },
    /// The decrypted text is not an X.509 certificate with an RSA key.
    #[error("certificate {serial}: {reason}")]
    Invalid {
        /// The listed serial.
        serial: String,
        /// What is wrong.
        reason: String,
    },
    /// The certificate's own serial differs from the one it is listed under.
    #[error("certificate listed as {listed} carries serial {actual}")]
    SerialMismatch {
        /// The serial of the listing.
        listed: String,
        /// The serial inside the certificate.
        actual: String,
    },
}

/// Decrypts and parses one entry.
///
/// The AEAD tag is what makes the entry trustworthy: only WeChat and the merchant know the
/// APIv3 key, so a certificate that decrypts was put there by WeChat.
pub fn decrypt_certificate(
    key: &ApiV3Key,
    entry: &PlatformCertificateEntry,
) -> Result<PlatformCertificate, CertificateError> {
    let serial = entry.serial_no.clone();
    let encrypted = &entry.encrypt_certificate;
    if encrypted.algorithm != AEAD_AES_256_GCM {
        return Err(CertificateError::UnsupportedAlgorithm {
            serial,
            algorithm: encrypted.algorithm.clone(),
        });
    }
    let plaintext = key
        .decrypt(
            &encrypted.nonce,
            &encrypted.associated_data,
            &encrypted.ciphertext,
        )
        .map_err(|source| CertificateError::Decrypt {
            serial: serial.clone(),
            source,
        })?;
    let invalid = |reason: String| CertificateError::Invalid {
        serial: serial.clone(),
        reason,
    };
    let pem = String::from_utf8(plaintext).map_err(|_| invalid("not UTF-8 text".into()))?;
    let certificate =
        Certificate::from_pem(pem.as_bytes()).map_err(|e| invalid(format!("not X.509: {e}")))?;
    let tbs = &certificate.tbs_certificate;
    let actual = serial_hex(tbs.serial_number.as_bytes());
    if !same_serial(&actual, &entry.serial_no) {
        return Err(CertificateError::SerialMismatch {
            listed: entry.serial_no.clone(),
            actual,
        });
    }
    let spki_der = tbs
        .subject_public_key_info
        .to_der()
        .map_err(|e| invalid(format!("public key does not encode: {e}")))?;
    let public_key =
        PublicKey::from_spki_der(spki_der).map_err(|e| invalid(format!("public key: {e}")))?;
    let not_after = tbs.validity.not_after.to_unix_duration().as_secs();
    Ok(PlatformCertificate {
        // The listed spelling is kept: it is what `Wechatpay-Serial` will say.
        serial_no: entry.serial_no.clone(),
        effective_time: entry.effective_time.clone(),
        expire_time: entry.expire_time.clone(),
        not_after_unix: i64::try_from(not_after).unwrap_or(i64::MAX),
        public_key,
        pem,
    })
}

/// Uppercase hex of a DER integer, without the sign byte or other leading zero bytes.
fn serial_hex(bytes: &[u8]) -> String {
    let significant = match bytes.iter().position(|&b| b != 0) {
        Some(first) => &bytes[first..],
        None => &bytes[bytes.len().saturating_sub(1)..],
    };
    significant.iter().map(|b| format!("{b:02X}")).collect()
}

/// Serials compare as numbers: some SDKs print them without leading zeros.
fn same_serial(a: &str, b: &str) -> bool {
    a.trim_start_matches('0')
        .eq_ignore_ascii_case(b.trim_start_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_uppercase_hex_without_the_sign_byte() {
        assert_eq!(serial_hex(&[0x00, 0x8F, 0x0a]), "8F0A");
        assert_eq!(serial_hex(&[0x40, 0x8b]), "408B");
        assert_eq!(serial_hex(&[0x00]), "00");
        assert!(same_serial("0ABC", "abc"));
        assert!(!same_serial("ABC", "ABD"));
    }
}
