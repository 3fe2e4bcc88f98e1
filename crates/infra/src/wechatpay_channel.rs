//! The WeChat Pay adapter for the domain's `PaymentChannel` port (Native payments).

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use domain::order::{MerchantIdentity, OrderNo, PaymentConfirmation};
use domain::ports::{ChannelError, PaymentChannel, PaymentState, PrepayRequest};
use wechatpay::client::Client;
use wechatpay::model::{Amount, NativePrepayRequest, TradeState, Transaction};

/// WeChat Pay's `description` limit, in characters.
const DESCRIPTION_MAX_CHARS: usize = 127;

/// Native payments through the `wechatpay` client.
#[derive(Clone)]
pub struct WechatPayChannel {
    client: Client,
    merchant: MerchantIdentity,
    notify_url: String,
}

impl WechatPayChannel {
    /// A channel for `merchant`, asking WeChat to notify `notify_url`.
    pub fn new(client: Client, merchant: MerchantIdentity, notify_url: String) -> Self {
        Self {
            client,
            merchant,
            notify_url,
        }
    }

    /// The WeChat Pay prepay body for a domain request.
    pub fn prepay_body(&self, request: &PrepayRequest) -> NativePrepayRequest {
        NativePrepayRequest {
            appid: self.merchant.appid.clone(),
            mchid: self.merchant.mchid.clone(),
            description: request
                .description
                .chars()
                .take(DESCRIPTION_MAX_CHARS)
                .collect(),
            out_trade_no: request.order_no.to_string(),
            time_expire: Some(beijing_time(request.expire_at)),
            attach: None,
            notify_url: self.notify_url.clone(),
            goods_tag: None,
            amount: Amount {
                total: request.amount.as_i64(),
                currency: Some("CNY".into()),
            },
            scene_info: None,
        }
    }
}

/// RFC 3339 in China Standard Time, as WeChat's docs write `time_expire`.
pub fn beijing_time(at: DateTime<Utc>) -> String {
    let cst = FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset");
    at.with_timezone(&cst)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn channel_error(e: wechatpay::error::Error) -> ChannelError {
    if e.outcome_unknown() {
        // The whole error (request id, WeChat's message) is for the operator's log; the
        // summary says what happened in words a buyer may read.
        tracing::warn!(error = %e, "WeChat Pay call: outcome unknown");
        ChannelError::OutcomeUnknown(what_happened(&e))
    } else if e.is_order_not_exist() {
        ChannelError::NotFound
    } else {
        ChannelError::Refused {
            code: e.code().unwrap_or("UNKNOWN").to_owned(),
            message: e.to_string(),
        }
    }
}

/// What a call whose outcome is unknown ran into, without WeChat's (possibly unsigned) text.
fn what_happened(e: &wechatpay::error::Error) -> String {
    use wechatpay::error::Error;
    match e {
        Error::Timeout => "did not answer in time".into(),
        Error::Transport(_) => "could not be reached".into(),
        Error::RateLimited { .. } => "is limiting our requests (HTTP 429)".into(),
        Error::ServerError { status, code, .. } if code.is_empty() => {
            format!("failed (HTTP {status})")
        }
        Error::ServerError { status, code, .. } => format!("failed (HTTP {status} {code})"),
        Error::UntrustedResponse { status, .. } => {
            format!("answered HTTP {status} without a valid WeChat Pay signature")
        }
        Error::BadResponse { status, .. } => {
            format!("gave an answer we cannot read (HTTP {status})")
        }
        Error::Refused { status, code, .. } => format!("refused (HTTP {status} {code})"),
        Error::InvalidRequest(_) => "was not called: the request could not be built".into(),
    }
}

/// The payment a SUCCESS (or since refunded) transaction reports; `None` while unpaid.
pub fn confirmation_of(tx: &Transaction) -> Option<PaymentConfirmation> {
    if !matches!(tx.trade_state, TradeState::Success | TradeState::Refund) {
        return None;
    }
    let amount = tx.amount.as_ref();
    Some(PaymentConfirmation {
        out_trade_no: tx.out_trade_no.clone(),
        transaction_id: tx.transaction_id.clone().unwrap_or_default(),
        mchid: tx.mchid.clone(),
        appid: tx.appid.clone(),
        // A missing amount cannot match any order: it goes to review, never to delivery.
        total: amount.and_then(|a| a.total).unwrap_or(-1),
        currency: amount.and_then(|a| a.currency.clone()).unwrap_or_default(),
        payer_openid: tx.payer.as_ref().and_then(|p| p.openid.clone()),
        success_time: tx
            .success_time
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
        raw: serde_json::to_string(tx).expect("a transaction serialises"),
    })
}

/// What a queried transaction says of the order's payment. A state this build does not
/// know is an unknown outcome: the order is neither closed nor delivered on a guess.
pub fn payment_state(tx: &Transaction) -> Result<PaymentState, ChannelError> {
    Ok(match tx.trade_state {
        TradeState::Success | TradeState::Refund => {
            confirmation_of(tx).map_or(PaymentState::Unpaid, PaymentState::Paid)
        }
        TradeState::Notpay | TradeState::Userpaying | TradeState::Accept => PaymentState::Unpaid,
        TradeState::Closed | TradeState::Revoked => PaymentState::Closed,
        TradeState::Payerror => PaymentState::Failed(tx.trade_state_desc.clone()),
        TradeState::Unknown => {
            return Err(ChannelError::OutcomeUnknown(format!(
                "reported order {} in a trade_state new to this client: {:?}",
                tx.out_trade_no, tx.trade_state_desc
            )));
        }
    })
}

impl PaymentChannel for WechatPayChannel {
    async fn prepay(&self, request: &PrepayRequest) -> Result<String, ChannelError> {
        self.client
            .native_prepay(&self.prepay_body(request))
            .await
            .map(|answer| answer.code_url)
            .map_err(channel_error)
    }

    async fn query(&self, no: &OrderNo) -> Result<PaymentState, ChannelError> {
        match self.client.query_by_out_trade_no(no.as_str()).await {
            Ok(tx) => payment_state(&tx),
            Err(e) if e.is_order_not_exist() => Ok(PaymentState::NotFound),
            Err(e) => Err(channel_error(e)),
        }
    }

    async fn close(&self, no: &OrderNo) -> Result<(), ChannelError> {
        self.client.close(no.as_str()).await.map_err(channel_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_expire_is_written_in_beijing_time() {
        let at = DateTime::parse_from_rfc3339("2018-06-08T02:34:56Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(beijing_time(at), "2018-06-08T10:34:56+08:00");
    }
}
