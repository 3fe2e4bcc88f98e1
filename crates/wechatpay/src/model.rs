//! The JSON bodies of WeChat Pay API v3, as they travel on the wire.
//!
//! Optional fields are skipped when absent so that a request body is exactly what WeChat's
//! docs show; unknown response fields are ignored, as WeChat adds fields over time.

use serde::{Deserialize, Serialize};

/// `amount` of a prepay request: integer fen, currency `CNY`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    /// The order total in fen (at least 1).
    pub total: i64,
    /// `CNY`.
    #[serde(default = "cny", skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

fn cny() -> Option<String> {
    Some("CNY".to_owned())
}

/// POST `/v3/pay/transactions/native`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NativePrepayRequest {
    /// The app id bound to the merchant.
    pub appid: String,
    /// The merchant id.
    pub mchid: String,
    /// What is bought, shown to the payer (at most 127 characters).
    pub description: String,
    /// The merchant's order number (6–32 of `[0-9A-Za-z_-|*]`).
    pub out_trade_no: String,
    /// RFC 3339 with offset, e.g. `2018-06-08T10:34:56+08:00`: the payment deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_expire: Option<String>,
    /// Merchant data echoed back in queries and callbacks (at most 128 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<String>,
    /// Where WeChat sends callbacks (https, no query).
    pub notify_url: String,
    /// Discount tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods_tag: Option<String>,
    /// The amount to pay.
    pub amount: Amount,
    /// Scene information, passed through as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene_info: Option<serde_json::Value>,
}

/// The answer to a Native prepay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NativePrepayResponse {
    /// The `weixin://wxpay/bizpayurl?pr=…` URL to show as a QR code (valid 2 hours).
    pub code_url: String,
}

/// The body of POST `…/out-trade-no/{out_trade_no}/close`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseRequest {
    /// The merchant id.
    pub mchid: String,
}

/// `trade_state` of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeState {
    /// Paid.
    Success,
    /// Paid, then (partly) refunded.
    Refund,
    /// Not paid yet.
    Notpay,
    /// Closed unpaid.
    Closed,
    /// Revoked (payment-code orders).
    Revoked,
    /// The payer is entering a password.
    Userpaying,
    /// The payment failed (e.g. bank refused).
    Payerror,
    /// Accepted, awaiting deduction.
    Accept,
    /// A state WeChat added after this client was written; never treat it as paid or closed.
    #[serde(other)]
    Unknown,
}

/// `payer` of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payer {
    /// The payer's openid under the appid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openid: Option<String>,
}

/// `amount` of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionAmount {
    /// The order total in fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// What the payer paid, in fen (after discounts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_total: Option<i64>,
    /// `CNY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The payer's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_currency: Option<String>,
}

/// A transaction: a query result, or the decrypted resource of `TRANSACTION.SUCCESS`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// The app id bound to the merchant.
    pub appid: String,
    /// The merchant id.
    pub mchid: String,
    /// The merchant's order number (6–32 of `[0-9A-Za-z_-|*]`).
    pub out_trade_no: String,
    /// WeChat's transaction number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// `NATIVE`, `JSAPI`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_type: Option<String>,
    /// Where the order stands.
    pub trade_state: TradeState,
    /// A human-readable description of the trade state.
    #[serde(default)]
    pub trade_state_desc: String,
    /// The paying bank or balance type, e.g. `CMC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_type: Option<String>,
    /// Merchant data echoed back in queries and callbacks (at most 128 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<String>,
    /// RFC 3339, present once paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<String>,
    /// Who paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<Payer>,
    /// The amounts of the order and of the payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<TransactionAmount>,
    /// Every field this client does not model (`promotion_detail`, `scene_info`, …),
    /// kept as sent: serialising a transaction again loses nothing WeChat said.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// `amount` of a refund request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequestAmount {
    /// The amount to refund, in fen.
    pub refund: i64,
    /// The order total, in fen.
    pub total: i64,
    /// `CNY`.
    pub currency: String,
}

/// POST `/v3/refund/domestic/refunds`: one of `transaction_id` / `out_trade_no`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    /// WeChat's transaction number (this or `out_trade_no`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// The merchant's order number (this or `transaction_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_trade_no: Option<String>,
    /// The merchant's refund number.
    pub out_refund_no: String,
    /// Why the refund is made (shown to the payer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where WeChat sends the refund callback (https, no query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    /// The refund and order amounts.
    pub amount: RefundRequestAmount,
}

/// `status` of a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundStatus {
    /// The money was returned.
    Success,
    /// The refund was closed.
    Closed,
    /// Still in progress.
    Processing,
    /// Failed; the merchant must act (e.g. the card was cancelled).
    Abnormal,
    /// A status WeChat added after this client was written.
    #[serde(other)]
    Unknown,
}

/// `amount` of a refund object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundAmount {
    /// The order total, in fen.
    pub total: i64,
    /// The refunded amount, in fen.
    pub refund: i64,
    /// What the payer paid, in fen (after discounts).
    #[serde(default)]
    pub payer_total: i64,
    /// What goes back to the payer, in fen.
    #[serde(default)]
    pub payer_refund: i64,
    /// `CNY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// A refund: the answer to a refund request or query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// WeChat's refund number.
    pub refund_id: String,
    /// The merchant's refund number.
    pub out_refund_no: String,
    /// WeChat's transaction number.
    pub transaction_id: String,
    /// The merchant's order number (6–32 of `[0-9A-Za-z_-|*]`).
    pub out_trade_no: String,
    /// `ORIGINAL`, `BALANCE`, `OTHER_BALANCE` or `OTHER_BANKCARD`.
    #[serde(default)]
    pub channel: String,
    /// Where the money went, e.g. `招商银行信用卡0403`.
    #[serde(default)]
    pub user_received_account: String,
    /// RFC 3339, present once the refund succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<String>,
    /// RFC 3339 creation time.
    pub create_time: String,
    /// Where the refund stands.
    pub status: RefundStatus,
    /// The amounts of the order and of the refund.
    pub amount: RefundAmount,
}

/// WeChat's error body: `{"code","message"[,"detail"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error code, e.g. `PARAM_ERROR`.
    pub code: String,
    /// WeChat's human-readable message.
    pub message: String,
    /// Extra detail, e.g. the offending field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// The encrypted `resource` of a callback (and `encrypt_certificate` of a certificate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedResource {
    /// `AEAD_AES_256_GCM`.
    pub algorithm: String,
    /// base64(ciphertext ‖ 16-byte tag).
    pub ciphertext: String,
    /// The AEAD associated data, e.g. `transaction` or `certificate`.
    #[serde(default)]
    pub associated_data: String,
    /// The 12-character AEAD nonce.
    pub nonce: String,
    /// What the plaintext is, e.g. `transaction` or `refund`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_type: Option<String>,
}

/// A callback (notification) body, before decryption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationEnvelope {
    /// The event id (the same for every resend).
    pub id: String,
    /// RFC 3339 creation time.
    pub create_time: String,
    /// `encrypt-resource`.
    pub resource_type: String,
    /// e.g. `TRANSACTION.SUCCESS`, `REFUND.SUCCESS`.
    pub event_type: String,
    /// A human-readable summary.
    #[serde(default)]
    pub summary: String,
    /// The encrypted resource.
    pub resource: EncryptedResource,
}

/// One entry of GET `/v3/certificates` (legacy platform-certificate mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformCertificateEntry {
    /// The certificate serial (uppercase hex), as `Wechatpay-Serial` names it.
    pub serial_no: String,
    /// RFC 3339 start of validity.
    pub effective_time: String,
    /// RFC 3339 end of validity.
    pub expire_time: String,
    /// The certificate PEM, encrypted with the APIv3 key.
    pub encrypt_certificate: EncryptedResource,
}

/// The body of GET `/v3/certificates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificatesResponse {
    /// The certificates.
    pub data: Vec<PlatformCertificateEntry>,
}

/// The merchant's answer to a callback: `{"code":"SUCCESS"|"FAIL","message"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyAnswer {
    /// `SUCCESS` or `FAIL`.
    pub code: String,
    /// Why, when it failed.
    pub message: String,
}

impl NotifyAnswer {
    /// `{"code":"SUCCESS","message":"成功"}`: the callback was handled.
    pub fn success() -> Self {
        Self {
            code: "SUCCESS".to_owned(),
            message: "成功".to_owned(),
        }
    }

    /// `{"code":"FAIL","message":…}`: WeChat should send the callback again later.
    pub fn fail(message: impl Into<String>) -> Self {
        Self {
            code: "FAIL".to_owned(),
            message: message.into(),
        }
    }
}

/// `amount` of a refund notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundNoticeAmount {
    /// The order total, in fen.
    pub total: i64,
    /// The refunded amount, in fen.
    pub refund: i64,
    /// What the payer paid, in fen (after discounts).
    #[serde(default)]
    pub payer_total: i64,
    /// What goes back to the payer, in fen.
    #[serde(default)]
    pub payer_refund: i64,
}

/// The decrypted resource of a `REFUND.SUCCESS | REFUND.ABNORMAL | REFUND.CLOSED` callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundNotice {
    /// The merchant id.
    pub mchid: String,
    /// The merchant's order number (6–32 of `[0-9A-Za-z_-|*]`).
    pub out_trade_no: String,
    /// WeChat's transaction number.
    pub transaction_id: String,
    /// The merchant's refund number.
    pub out_refund_no: String,
    /// WeChat's refund number.
    pub refund_id: String,
    /// Where the refund stands.
    pub refund_status: RefundStatus,
    /// RFC 3339, present once the refund succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<String>,
    /// Where the money went, e.g. `招商银行信用卡0403`.
    #[serde(default)]
    pub user_received_account: String,
    /// The amounts of the order and of the refund.
    pub amount: RefundNoticeAmount,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_wechat_adds_later_parse_as_unknown() {
        let known: TradeState = serde_json::from_str("\"USERPAYING\"").unwrap();
        assert_eq!(known, TradeState::Userpaying);
        let new: TradeState = serde_json::from_str("\"PARTIALLY_SETTLED\"").unwrap();
        assert_eq!(new, TradeState::Unknown);
        let new: RefundStatus = serde_json::from_str("\"ON_HOLD\"").unwrap();
        assert_eq!(new, RefundStatus::Unknown);
    }

    #[test]
    fn a_transaction_keeps_the_fields_it_does_not_model() {
        let sent = serde_json::json!({
            "appid": "wxd678efh567hg6787", "mchid": "1230000109",
            "out_trade_no": "1217752501201407033233368018", "trade_state": "SUCCESS",
            "promotion_detail": [{"coupon_id": "109519", "amount": 100}],
            "scene_info": {"device_id": "013467007045764"}
        });
        let transaction: Transaction = serde_json::from_value(sent.clone()).unwrap();
        assert_eq!(transaction.trade_state, TradeState::Success);
        let again = serde_json::to_value(&transaction).unwrap();
        assert_eq!(again["promotion_detail"], sent["promotion_detail"]);
        assert_eq!(again["scene_info"], sent["scene_info"]);
    }
}
