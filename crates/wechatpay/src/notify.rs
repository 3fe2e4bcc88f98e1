//! Callbacks (notifications): verify the signature, then decrypt and type the resource.

use crate::aead::{ApiV3Key, DecryptError};
use crate::model::{NotificationEnvelope, RefundNotice, Transaction};
use crate::verify::{SignatureHeaders, Verifier, VerifyError};

/// The only resource encryption WeChat Pay v3 uses.
pub const AEAD_AES_256_GCM: &str = "AEAD_AES_256_GCM";

/// A verified, decrypted callback.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The event id, e.g. `EV-2018022511223320873` (the same for every resend).
    pub id: String,
    /// e.g. `TRANSACTION.SUCCESS`, `REFUND.SUCCESS`.
    pub event_type: String,
    /// RFC 3339 time the event was created.
    pub create_time: String,
    /// A human-readable summary, e.g. `支付成功`.
    pub summary: String,
    /// The decrypted resource.
    pub resource: NotificationResource,
}

/// The decrypted resource of a callback, typed by `event_type`.
#[derive(Debug, Clone, PartialEq)]
pub enum NotificationResource {
    /// `TRANSACTION.*`: the transaction as a query would return it.
    Transaction(Transaction),
    /// `REFUND.*`: the refund's outcome.
    Refund(RefundNotice),
    /// Any other event, as plain JSON.
    Other(serde_json::Value),
}

/// Why a callback was not accepted.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NotifyError {
    /// The signature did not verify (forged, replayed, probe, or unknown serial).
    #[error("the callback signature is not valid: {0}")]
    Verify(#[from] VerifyError),
    /// The body is signed but not a callback this client understands.
    #[error("the callback body is malformed: {0}")]
    Malformed(String),
    /// The resource is encrypted with something other than `AEAD_AES_256_GCM`.
    #[error("the resource algorithm {0:?} is not {AEAD_AES_256_GCM}")]
    UnsupportedAlgorithm(String),
    /// The resource did not decrypt (wrong APIv3 key, or tampered ciphertext).
    #[error("the resource could not be decrypted: {0}")]
    Decrypt(#[from] DecryptError),
}

/// Verifies, decrypts and types one callback received at time `now_unix`.
///
/// Nothing of the body is looked at before the signature holds, so an attacker cannot make
/// this do any work beyond one RSA verification.
pub fn parse_notification(
    verifier: &Verifier,
    key: &ApiV3Key,
    headers: &SignatureHeaders,
    body: &[u8],
    now_unix: i64,
) -> Result<Notification, NotifyError> {
    verifier.verify(headers, body, now_unix)?;
    let envelope: NotificationEnvelope =
        serde_json::from_slice(body).map_err(|e| NotifyError::Malformed(e.to_string()))?;
    let encrypted = &envelope.resource;
    if encrypted.algorithm != AEAD_AES_256_GCM {
        return Err(NotifyError::UnsupportedAlgorithm(
            encrypted.algorithm.clone(),
        ));
    }
    let plaintext = key.decrypt(
        &encrypted.nonce,
        &encrypted.associated_data,
        &encrypted.ciphertext,
    )?;
    let resource = typed_resource(&envelope.event_type, &plaintext)?;
    Ok(Notification {
        id: envelope.id,
        event_type: envelope.event_type,
        create_time: envelope.create_time,
        summary: envelope.summary,
        resource,
    })
}

fn typed_resource(event_type: &str, plaintext: &[u8]) -> Result<NotificationResource, NotifyError> {
    let malformed = |e: serde_json::Error| {
        NotifyError::Malformed(format!("the {event_type} resource does not parse: {e}"))
    };
    let family = event_type.split('.').next().unwrap_or_default();
    Ok(match family {
        "TRANSACTION" => {
            NotificationResource::Transaction(serde_json::from_slice(plaintext).map_err(malformed)?)
        }
        "REFUND" => {
            NotificationResource::Refund(serde_json::from_slice(plaintext).map_err(malformed)?)
        }
        _ => NotificationResource::Other(serde_json::from_slice(plaintext).map_err(malformed)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;
    use crate::model::{RefundStatus, TradeState};
    use crate::verify::response_message;
    use serde_json::json;

    const SERIAL: &str = "PUB_KEY_ID_0000000000000024101100397200000006";
    const NOW: i64 = 1_700_000_000;

    struct WeChat {
        key: PrivateKey,
        apiv3: ApiV3Key,
    }

    impl WeChat {
        fn new() -> Self {
            Self {
                key: PrivateKey::generate(),
                apiv3: ApiV3Key::new("0123456789abcdef0123456789abcdef").unwrap(),
            }
        }

        fn verifier(&self) -> Verifier {
            Verifier::with_public_key(SERIAL, self.key.public_key())
        }

        /// A callback body as WeChat would send it, and its signature headers.
        fn callback(
            &self,
            event_type: &str,
            original_type: &str,
            resource: &serde_json::Value,
        ) -> (SignatureHeaders, Vec<u8>) {
            let nonce = "fdasflkja484";
            let ciphertext = self
                .apiv3
                .encrypt(nonce, original_type, resource.to_string().as_bytes())
                .unwrap();
            let body = json!({
                "id": "EV-2018022511223320873",
                "create_time": "2015-05-20T13:29:35+08:00",
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": "支付成功",
                "resource": {
                    "original_type": original_type,
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": ciphertext,
                    "associated_data": original_type,
                    "nonce": nonce,
                }
            })
            .to_string()
            .into_bytes();
            (self.sign(&body, NOW), body)
        }

        fn sign(&self, body: &[u8], timestamp: i64) -> SignatureHeaders {
            let timestamp = timestamp.to_string();
            let nonce = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS".to_owned();
            let signature = self
                .key
                .sign_base64(&response_message(&timestamp, &nonce, body));
            SignatureHeaders {
                timestamp,
                nonce,
                signature,
                serial: SERIAL.to_owned(),
                signature_type: "WECHATPAY2-SHA256-RSA2048".to_owned(),
            }
        }
    }

    fn transaction() -> serde_json::Value {
        json!({
            "appid": "wxd678efh567hg6787", "mchid": "1230000109",
            "out_trade_no": "1217752501201407033233368018",
            "transaction_id": "1217752501201407033233368018",
            "trade_type": "NATIVE", "trade_state": "SUCCESS", "trade_state_desc": "支付成功",
            "bank_type": "CMC", "attach": "", "success_time": "2018-06-08T10:34:56+08:00",
            "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
            "amount": {"total": 100, "payer_total": 100, "currency": "CNY", "payer_currency": "CNY"}
        })
    }

    #[test]
    fn a_signed_transaction_callback_verifies_decrypts_and_is_typed() {
        let wechat = WeChat::new();
        let (headers, body) = wechat.callback("TRANSACTION.SUCCESS", "transaction", &transaction());
        let notification =
            parse_notification(&wechat.verifier(), &wechat.apiv3, &headers, &body, NOW + 5)
                .unwrap();
        assert_eq!(notification.id, "EV-2018022511223320873");
        assert_eq!(notification.event_type, "TRANSACTION.SUCCESS");
        assert_eq!(notification.summary, "支付成功");
        let NotificationResource::Transaction(transaction) = notification.resource else {
            panic!("a transaction event carries a transaction");
        };
        assert_eq!(transaction.trade_state, TradeState::Success);
        assert_eq!(transaction.amount.unwrap().total, Some(100));
    }

    #[test]
    fn a_refund_callback_is_typed_as_a_refund_notice() {
        let wechat = WeChat::new();
        let resource = json!({
            "mchid": "1900000100", "transaction_id": "1008450740201411110005820873",
            "out_trade_no": "20150806125346", "refund_id": "50200207182018070300011301001",
            "out_refund_no": "7752501201407033233368018", "refund_status": "SUCCESS",
            "success_time": "2018-06-08T10:34:56+08:00",
            "user_received_account": "招商银行信用卡0403",
            "amount": {"total": 999, "refund": 999, "payer_total": 999, "payer_refund": 999}
        });
        let (headers, body) = wechat.callback("REFUND.SUCCESS", "refund", &resource);
        let notification =
            parse_notification(&wechat.verifier(), &wechat.apiv3, &headers, &body, NOW).unwrap();
        let NotificationResource::Refund(refund) = notification.resource else {
            panic!("a refund event carries a refund notice");
        };
        assert_eq!(refund.refund_status, RefundStatus::Success);
        assert_eq!(refund.amount.payer_refund, 999);
    }

    #[test]
    fn an_unknown_event_is_kept_as_json() {
        let wechat = WeChat::new();
        let (headers, body) =
            wechat.callback("PROFITSHARING.SUCCESS", "profitsharing", &json!({"a": 1}));
        let notification =
            parse_notification(&wechat.verifier(), &wechat.apiv3, &headers, &body, NOW).unwrap();
        assert_eq!(
            notification.resource,
            NotificationResource::Other(json!({"a": 1}))
        );
    }

    #[test]
    fn tampered_ciphertext_is_a_decrypt_error() {
        let wechat = WeChat::new();
        let (_, body) = wechat.callback("TRANSACTION.SUCCESS", "transaction", &transaction());
        let mut envelope: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let ciphertext = envelope["resource"]["ciphertext"]
            .as_str()
            .unwrap()
            .to_owned();
        // Swap two base64 characters: still base64, different bytes.
        let mut chars: Vec<char> = ciphertext.chars().collect();
        chars.swap(0, 1);
        if chars[0] == chars[1] {
            chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
        }
        envelope["resource"]["ciphertext"] = json!(chars.into_iter().collect::<String>());
        // Re-signed, as a tamperer with WeChat's key would have to: only the AEAD tag is left.
        let body = envelope.to_string().into_bytes();
        let headers = wechat.sign(&body, NOW);
        assert_eq!(
            parse_notification(&wechat.verifier(), &wechat.apiv3, &headers, &body, NOW),
            Err(NotifyError::Decrypt(DecryptError::Authentication))
        );
    }

    #[test]
    fn a_forged_signature_is_a_verify_error() {
        let wechat = WeChat::new();
        let forger = WeChat::new();
        let (headers, body) = forger.callback("TRANSACTION.SUCCESS", "transaction", &transaction());
        assert_eq!(
            parse_notification(&wechat.verifier(), &wechat.apiv3, &headers, &body, NOW),
            Err(NotifyError::Verify(VerifyError::BadSignature))
        );
        let (mut headers, body) =
            wechat.callback("TRANSACTION.SUCCESS", "transaction", &transaction());
        headers.signature = "WECHATPAY/SIGNTEST/9f0a".to_owned();
        assert_eq!(
            parse_notification(&wechat.verifier(), &wechat.apiv3, &headers, &body, NOW),
            Err(NotifyError::Verify(VerifyError::SignatureEncoding))
        );
    }

    #[test]
    fn a_stale_callback_is_a_verify_error() {
        let wechat = WeChat::new();
        let (headers, body) = wechat.callback("TRANSACTION.SUCCESS", "transaction", &transaction());
        assert_eq!(
            parse_notification(
                &wechat.verifier(),
                &wechat.apiv3,
                &headers,
                &body,
                NOW + 301
            ),
            Err(NotifyError::Verify(VerifyError::Stale { skew_secs: 301 }))
        );
    }

    #[test]
    fn another_algorithm_or_a_non_callback_body_is_refused_after_verification() {
        let wechat = WeChat::new();
        let (_, body) = wechat.callback("TRANSACTION.SUCCESS", "transaction", &transaction());
        let mut envelope: serde_json::Value = serde_json::from_slice(&body).unwrap();
        envelope["resource"]["algorithm"] = json!("AEAD_SM4_GCM");
        let body = envelope.to_string().into_bytes();
        let headers = wechat.sign(&body, NOW);
        assert_eq!(
            parse_notification(&wechat.verifier(), &wechat.apiv3, &headers, &body, NOW),
            Err(NotifyError::UnsupportedAlgorithm("AEAD_SM4_GCM".into()))
        );
        let body = b"{\"hello\":1}";
        let headers = wechat.sign(body, NOW);
        assert!(matches!(
            parse_notification(&wechat.verifier(), &wechat.apiv3, &headers, body, NOW),
            Err(NotifyError::Malformed(_))
        ));
    }
}
