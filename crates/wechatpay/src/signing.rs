//! Signing merchant requests (SHA256withRSA over the five-line message) and the
//! `Authorization: WECHATPAY2-SHA256-RSA2048 …` header.

use crate::keys::PrivateKey;
use crate::verify::SIGNATURE_TYPE;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

impl PrivateKey {
    /// SHA256withRSA (RSASSA-PKCS1-v1_5) over `message`, standard base64.
    pub fn sign_base64(&self, message: &[u8]) -> String {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                message,
                &mut signature,
            )
            .expect("PKCS#1 v1.5 signing into a modulus-sized buffer cannot fail");
        STANDARD.encode(signature)
    }
}

/// The message a merchant request signs: `METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n`.
pub fn request_message(
    method: &str,
    canonical_url: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut message =
        Vec::with_capacity(method.len() + canonical_url.len() + nonce.len() + body.len() + 20);
    for part in [
        method.as_bytes(),
        canonical_url.as_bytes(),
        timestamp.to_string().as_bytes(),
        nonce.as_bytes(),
        body,
    ] {
        message.extend_from_slice(part);
        message.push(b'\n');
    }
    message
}

/// Signs requests on behalf of one merchant.
#[derive(Debug)]
pub struct MerchantSigner {
    mchid: String,
    serial_no: String,
    key: PrivateKey,
}

impl MerchantSigner {
    /// A signer for merchant `mchid` whose certificate serial is `serial_no`.
    pub fn new(mchid: impl Into<String>, serial_no: impl Into<String>, key: PrivateKey) -> Self {
        Self {
            mchid: mchid.into(),
            serial_no: serial_no.into().to_ascii_uppercase(),
            key,
        }
    }

    /// The merchant id.
    pub fn mchid(&self) -> &str {
        &self.mchid
    }

    /// The merchant certificate serial (uppercase hex).
    pub fn serial_no(&self) -> &str {
        &self.serial_no
    }

    /// The `Authorization` header value for a request, with the given timestamp and nonce.
    pub fn authorization_with(
        &self,
        method: &str,
        canonical_url: &str,
        body: &[u8],
        timestamp: i64,
        nonce: &str,
    ) -> String {
        let signature = self.key.sign_base64(&request_message(
            method,
            canonical_url,
            timestamp,
            nonce,
            body,
        ));
        AuthorizationHeader {
            mchid: self.mchid.clone(),
            nonce_str: nonce.to_owned(),
            timestamp,
            serial_no: self.serial_no.clone(),
            signature,
        }
        .to_string()
    }

    /// The `Authorization` header value for a request sent now, with a fresh nonce.
    pub fn authorization(&self, method: &str, canonical_url: &str, body: &[u8]) -> String {
        self.authorization_with(
            method,
            canonical_url,
            body,
            chrono::Utc::now().timestamp(),
            &crate::nonce::generate(),
        )
    }
}

/// A parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationHeader {
    /// The merchant id.
    pub mchid: String,
    /// The request nonce.
    pub nonce_str: String,
    /// Unix seconds when the merchant signed.
    pub timestamp: i64,
    /// The merchant certificate serial.
    pub serial_no: String,
    /// The base64 signature.
    pub signature: String,
}

/// Why an `Authorization` header could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthorizationParseError {
    /// Not a `WECHATPAY2-SHA256-RSA2048` header.
    #[error("the scheme is not {SIGNATURE_TYPE}")]
    Scheme,
    /// A parameter is not `key="value"`.
    #[error("the parameter {0:?} is not of the form key=\"value\"")]
    Malformed(String),
    /// A required parameter is absent.
    #[error("the parameter {0} is missing")]
    Missing(&'static str),
    /// The timestamp is not a number.
    #[error("the timestamp is not an integer")]
    Timestamp,
}

impl std::fmt::Display for AuthorizationHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{SIGNATURE_TYPE} mchid=\"{}\",nonce_str=\"{}\",timestamp=\"{}\",serial_no=\"{}\",signature=\"{}\"",
            self.mchid, self.nonce_str, self.timestamp, self.serial_no, self.signature
        )
    }
}

impl std::str::FromStr for AuthorizationHeader {
    type Err = AuthorizationParseError;

    /// Parses the parameters in any order, as a server must.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let params = value
            .strip_prefix(SIGNATURE_TYPE)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or(AuthorizationParseError::Scheme)?;
        let (mut mchid, mut nonce_str, mut timestamp, mut serial_no, mut signature) =
            (None, None, None, None, None);
        for param in params.split(',') {
            let (key, quoted) = param
                .trim()
                .split_once('=')
                .ok_or_else(|| AuthorizationParseError::Malformed(param.to_owned()))?;
            let value = quoted
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or_else(|| AuthorizationParseError::Malformed(param.to_owned()))?
                .to_owned();
            match key {
                "mchid" => mchid = Some(value),
                "nonce_str" => nonce_str = Some(value),
                "timestamp" => timestamp = Some(value),
                "serial_no" => serial_no = Some(value),
                "signature" => signature = Some(value),
                _ => {} // unknown parameters are ignored, as WeChat adds fields over time
            }
        }
        Ok(Self {
            mchid: mchid.ok_or(AuthorizationParseError::Missing("mchid"))?,
            nonce_str: nonce_str.ok_or(AuthorizationParseError::Missing("nonce_str"))?,
            timestamp: timestamp
                .ok_or(AuthorizationParseError::Missing("timestamp"))?
                .parse()
                .map_err(|_| AuthorizationParseError::Timestamp)?,
            serial_no: serial_no.ok_or(AuthorizationParseError::Missing("serial_no"))?,
            signature: signature.ok_or(AuthorizationParseError::Missing("signature"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNATURE: &str = "uOVRnA4qG/MNnYzdQxJanN+zU+lTgIcnU9BxGw5dKjK+VdEUz2FeIoC+D5sB/LN+nGzX3hfZg6r5wT1pl2ZobmIc6p0ldN7J6yDgUzbX8Uk3sD4a4eZVPTBvqNDoUqcYMlZ9uuDdCvNv4TM3c1WzsXUrExwVkI1XO5jCNbgDJ25nkT/c1gIFvqoogl7MdSFGc4W4xZsqCItnqbypR3RuGIlR9h9vlRsy7zJR9PBI83X8alLDIfR1ukt1P7tMnmogZ0cuDY8cZsd8ZlCgLadmvej58SLsIkVxFJ8XmUgx9MrNGpLxS5nCJP8uuA==";

    #[test]
    fn the_header_parses_in_any_order() {
        let expected = AuthorizationHeader {
            mchid: "1900007291".into(),
            nonce_str: "593BEC0C930BF1AFEB40B4A08C8FB242".into(),
            timestamp: 1554208460,
            serial_no: "408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB".into(),
            signature: SIGNATURE.into(),
        };
        let canonical: AuthorizationHeader = expected.to_string().parse().unwrap();
        assert_eq!(canonical, expected);
        let shuffled = format!(
            "WECHATPAY2-SHA256-RSA2048 signature=\"{SIGNATURE}\",serial_no=\"408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB\",timestamp=\"1554208460\",mchid=\"1900007291\",nonce_str=\"593BEC0C930BF1AFEB40B4A08C8FB242\""
        );
        assert_eq!(shuffled.parse::<AuthorizationHeader>().unwrap(), expected);
        // Some SDKs put a space after each comma.
        let spaced = expected.to_string().replace("\",", "\", ");
        assert_eq!(spaced.parse::<AuthorizationHeader>().unwrap(), expected);
    }

    #[test]
    fn a_malformed_header_says_what_is_wrong() {
        assert_eq!(
            "Bearer x".parse::<AuthorizationHeader>(),
            Err(AuthorizationParseError::Scheme)
        );
        assert_eq!(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"1\",nonce_str=\"n\",timestamp=\"1\",serial_no=\"s\""
                .parse::<AuthorizationHeader>(),
            Err(AuthorizationParseError::Missing("signature"))
        );
        assert_eq!(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"1\",nonce_str=\"n\",timestamp=\"soon\",serial_no=\"s\",signature=\"x\""
                .parse::<AuthorizationHeader>(),
            Err(AuthorizationParseError::Timestamp)
        );
        assert!(matches!(
            "WECHATPAY2-SHA256-RSA2048 mchid=1".parse::<AuthorizationHeader>(),
            Err(AuthorizationParseError::Malformed(_))
        ));
    }

    #[test]
    fn an_empty_body_leaves_the_fifth_line_empty() {
        assert_eq!(
            request_message("GET", "/v3/certificates", 1, "N", b""),
            b"GET\n/v3/certificates\n1\nN\n\n"
        );
    }

    #[test]
    fn the_signer_uppercases_the_serial_and_signs_verifiably() {
        let key = PrivateKey::generate();
        let public = key.public_key();
        let signer = MerchantSigner::new("1900007291", "408b07e7", key);
        assert_eq!(signer.serial_no(), "408B07E7");
        let header: AuthorizationHeader = signer
            .authorization("POST", "/v3/pay/transactions/native", b"{}")
            .parse()
            .unwrap();
        assert_eq!(header.nonce_str.len(), 32);
        let message = request_message(
            "POST",
            "/v3/pay/transactions/native",
            header.timestamp,
            &header.nonce_str,
            b"{}",
        );
        public.verify_base64(&message, &header.signature).unwrap();
    }
}
