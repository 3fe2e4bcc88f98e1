//! Loading RSA keys from the PEM files WeChat Pay hands out.

use aws_lc_rs::signature::RsaKeyPair;
use std::fmt;

/// Why a key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The text is not PEM.
    #[error("not a PEM document: {0}")]
    Pem(String),
    /// The PEM holds something else.
    #[error("PEM label {found:?} is not one of {expected}")]
    Label {
        /// The label found.
        found: String,
        /// The labels accepted.
        expected: &'static str,
    },
    /// The DER is not an RSA key of the expected form.
    #[error("the key material is not a valid RSA key")]
    Rejected,
    /// The file could not be read.
    #[error("cannot read key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// An RSA private key (the merchant's `apiclient_key.pem`, or a sandbox platform key).
pub struct PrivateKey {
    pub(crate) pair: RsaKeyPair,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A private key never reaches a log, not even partly.
        f.write_str("PrivateKey(<redacted>)")
    }
}

impl PrivateKey {
    /// Parses a PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) PEM.
    pub fn from_pem(pem_text: &str) -> Result<Self, KeyError> {
        let doc = pem::parse(pem_text.trim()).map_err(|e| KeyError::Pem(e.to_string()))?;
        let pair = match doc.tag() {
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(doc.contents()),
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(doc.contents()),
            other => {
                return Err(KeyError::Label {
                    found: other.to_owned(),
                    expected: "PRIVATE KEY, RSA PRIVATE KEY",
                });
            }
        }
        .map_err(|_| KeyError::Rejected)?;
        Ok(Self { pair })
    }

    /// Reads and parses a PEM file.
    pub fn from_pem_file(path: impl AsRef<std::path::Path>) -> Result<Self, KeyError> {
        Self::from_pem(&read(path.as_ref())?)
    }

    /// Generates a fresh 2048-bit key (for sandboxes and tests).
    pub fn generate() -> Self {
        let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .expect("the system RNG can generate an RSA key");
        Self { pair }
    }

    /// The PKCS#8 PEM of this key, as WeChat's `apiclient_key.pem` is written.
    pub fn to_pkcs8_pem(&self) -> String {
        use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
        let der: Pkcs8V1Der<'static> = self.pair.as_der().expect("an RSA key encodes as PKCS#8");
        pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref().to_vec()))
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
        use aws_lc_rs::signature::KeyPair;
        let der: PublicKeyX509Der<'static> = self
            .pair
            .public_key()
            .as_der()
            .expect("an RSA public key encodes as X.509 SubjectPublicKeyInfo");
        PublicKey {
            spki_der: der.as_ref().to_vec(),
        }
    }
}

/// An RSA public key, held as X.509 SubjectPublicKeyInfo DER (`BEGIN PUBLIC KEY`).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub(crate) spki_der: Vec<u8>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} bytes)", self.spki_der.len())
    }
}

impl PublicKey {
    /// Parses a `BEGIN PUBLIC KEY` PEM (WeChat Pay's `pub_key.pem`).
    pub fn from_pem(pem_text: &str) -> Result<Self, KeyError> {
        let doc = pem::parse(pem_text.trim()).map_err(|e| KeyError::Pem(e.to_string()))?;
        if doc.tag() != "PUBLIC KEY" {
            return Err(KeyError::Label {
                found: doc.tag().to_owned(),
                expected: "PUBLIC KEY",
            });
        }
        Self::from_spki_der(doc.contents().to_vec())
    }

    /// Reads and parses a PEM file.
    pub fn from_pem_file(path: impl AsRef<std::path::Path>) -> Result<Self, KeyError> {
        Self::from_pem(&read(path.as_ref())?)
    }

    /// Wraps SubjectPublicKeyInfo DER, checking that it is an RSA key.
    pub fn from_spki_der(spki_der: Vec<u8>) -> Result<Self, KeyError> {
        aws_lc_rs::rsa::PublicEncryptingKey::from_der(&spki_der).map_err(|_| KeyError::Rejected)?;
        Ok(Self { spki_der })
    }

    /// The SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The PEM text (`BEGIN PUBLIC KEY`).
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", self.spki_der.clone()))
    }
}

fn read(path: &std::path::Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.display().to_string(),
        source,
    })
}
