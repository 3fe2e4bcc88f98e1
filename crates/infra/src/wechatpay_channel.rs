//! The WeChat Pay adapter for the domain's `PaymentChannel` port (Native payments).

use chrono::{DateTime, SecondsFormat, Utc};
use domain::money::Fen;
use domain::order::{MerchantIdentity, OrderNo, PaymentConfirmation, TransactionId};
use domain::ports::{
    Callback, CallbackRefusal, ChannelCallback, ChannelError, ChannelEvent, PaymentChannel,
    PaymentState, PrepayRequest, RefundCall, RefundReport,
};
use domain::reconciliation::{Statement, StatementPayment, StatementRefund};
use domain::refund::{RefundNo, RefundStatus as DomainRefundStatus};
use wechatpay::bill::TradeBill;
use wechatpay::client::Client;
use wechatpay::model::{
    Amount, NativePrepayRequest, Refund, RefundNotice, RefundRequest, RefundRequestAmount,
    RefundStatus, TradeState, Transaction,
};
use wechatpay::notify::{NotificationResource, NotifyError};
use wechatpay::verify::SignatureHeaders;

/// WeChat's answer to a bill request for a day with nothing on it.
const NO_STATEMENT: &str = "NO_STATEMENT_EXIST";

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
    at.with_timezone(&domain::reconciliation::beijing())
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

/// The payment a SUCCESS (or since refunded) transaction reports; `None` while unpaid. A
/// paid transaction without a valid id or amount breaks WeChat's protocol (both are
/// required): the error says which, and nothing is guessed.
pub fn confirmation_of(tx: &Transaction) -> Result<Option<PaymentConfirmation>, String> {
    if !matches!(tx.trade_state, TradeState::Success | TradeState::Refund) {
        return Ok(None);
    }
    let transaction_id = TransactionId::parse(tx.transaction_id.as_deref().unwrap_or_default())
        .map_err(|e| format!("paid order {}: {e}", tx.out_trade_no))?;
    let amount = tx.amount.as_ref();
    let total = amount
        .and_then(|a| a.total)
        .ok_or_else(|| format!("paid order {} reports no amount", tx.out_trade_no))
        .and_then(|total| {
            Fen::from_i64(total).map_err(|e| format!("paid order {}: {e}", tx.out_trade_no))
        })?;
    Ok(Some(PaymentConfirmation {
        out_trade_no: tx.out_trade_no.clone(),
        transaction_id,
        mchid: tx.mchid.clone(),
        appid: tx.appid.clone(),
        total,
        currency: amount.and_then(|a| a.currency.clone()).unwrap_or_default(),
        payer_openid: tx.payer.as_ref().and_then(|p| p.openid.clone()),
        success_time: tx
            .success_time
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
        raw: serde_json::to_string(tx).expect("a transaction serialises"),
    }))
}

/// What a queried transaction says of the order's payment. A state this build does not
/// know, or a paid one it cannot read, is an unknown outcome: the order is neither closed
/// nor delivered on a guess.
pub fn payment_state(tx: &Transaction) -> Result<PaymentState, ChannelError> {
    Ok(match tx.trade_state {
        TradeState::Success | TradeState::Refund => match confirmation_of(tx) {
            Ok(Some(payment)) => PaymentState::Paid(payment),
            Ok(None) => PaymentState::Unpaid,
            Err(why) => return Err(ChannelError::OutcomeUnknown(format!("reported {why}"))),
        },
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

/// What a verified transaction callback reports.
fn transaction_event(tx: &Transaction) -> Result<ChannelEvent, CallbackRefusal> {
    match confirmation_of(tx).map_err(CallbackRefusal::Unreadable)? {
        Some(payment) => Ok(ChannelEvent::PaymentSucceeded(payment)),
        None => Ok(ChannelEvent::NothingToDo(format!(
            "order {} is {:?}, not paid",
            tx.out_trade_no, tx.trade_state
        ))),
    }
}

/// A refund's status in the domain's words; one WeChat added later is still in progress
/// as far as we can tell (the refund job asks again).
fn refund_status(status: RefundStatus) -> DomainRefundStatus {
    match status {
        RefundStatus::Success => DomainRefundStatus::Success,
        RefundStatus::Closed => DomainRefundStatus::Closed,
        RefundStatus::Abnormal => DomainRefundStatus::Abnormal,
        RefundStatus::Processing | RefundStatus::Unknown => DomainRefundStatus::Processing,
    }
}

/// What a verified refund callback reports.
fn refund_event(notice: &RefundNotice) -> Result<ChannelEvent, CallbackRefusal> {
    let refund = Fen::from_i64(notice.amount.refund).map_err(|e| {
        CallbackRefusal::Unreadable(format!("refund {}: {e}", notice.out_refund_no))
    })?;
    Ok(ChannelEvent::Refund(RefundReport {
        out_trade_no: notice.out_trade_no.clone(),
        out_refund_no: notice.out_refund_no.clone(),
        refund_id: notice.refund_id.clone(),
        status: refund_status(notice.refund_status),
        refund,
        raw: serde_json::to_string(notice).expect("a refund notice serialises"),
    }))
}

/// What a refund object (a request's answer, a query's) reports.
fn refund_report(refund: &Refund) -> Result<RefundReport, ChannelError> {
    let amount = Fen::from_i64(refund.amount.refund).map_err(|e| {
        ChannelError::OutcomeUnknown(format!("reported refund {} of {e}", refund.out_refund_no))
    })?;
    Ok(RefundReport {
        out_trade_no: refund.out_trade_no.clone(),
        out_refund_no: refund.out_refund_no.clone(),
        refund_id: refund.refund_id.clone(),
        status: refund_status(refund.status),
        refund: amount,
        raw: serde_json::to_string(refund).expect("a refund serialises"),
    })
}

/// A trade bill in the domain's words: payment rows and refund rows, amounts in fen.
fn statement_of(date: chrono::NaiveDate, bill: &TradeBill) -> Result<Statement, ChannelError> {
    let fen = |value: i64, row: &wechatpay::bill::BillRow| {
        Fen::from_i64(value).map_err(|e| {
            ChannelError::OutcomeUnknown(format!("gave a trade bill with {e}: {}", row.raw))
        })
    };
    let mut statement = Statement {
        date,
        payments: Vec::new(),
        refunds: Vec::new(),
        paid_total: bill.summary.order_total,
        refunded_total: bill.summary.refund_total,
    };
    for row in &bill.rows {
        if row.is_refund() {
            statement.refunds.push(StatementRefund {
                out_trade_no: row.out_trade_no.clone(),
                out_refund_no: row.out_refund_no.clone(),
                refund_id: row.refund_id.clone(),
                amount: fen(row.refund, row)?,
                status: row.refund_status.clone(),
                raw: row.raw.clone(),
            });
        } else {
            statement.payments.push(StatementPayment {
                out_trade_no: row.out_trade_no.clone(),
                transaction_id: row.transaction_id.clone(),
                total: fen(row.order_total, row)?,
                raw: row.raw.clone(),
            });
        }
    }
    Ok(statement)
}

/// A forged, stale or tampered message is not WeChat's; a signed one we cannot read is.
fn refusal(e: NotifyError) -> CallbackRefusal {
    match e {
        NotifyError::Verify(_) | NotifyError::Decrypt(_) => {
            CallbackRefusal::NotGenuine(e.to_string())
        }
        NotifyError::Malformed(_) | NotifyError::UnsupportedAlgorithm(_) => {
            CallbackRefusal::Unreadable(e.to_string())
        }
    }
}

impl PaymentChannel for WechatPayChannel {
    fn read_callback(&self, callback: Callback<'_>) -> Result<ChannelCallback, CallbackRefusal> {
        let headers = SignatureHeaders::from_lookup(|name| callback.header(name))
            .map_err(|e| refusal(e.into()))?;
        let notification = self
            .client
            .read_notification(&headers, callback.body)
            .map_err(refusal)?;
        let event = match &notification.resource {
            NotificationResource::Transaction(tx) => transaction_event(tx)?,
            NotificationResource::Refund(notice) => refund_event(notice)?,
            NotificationResource::Other(_) => {
                ChannelEvent::NothingToDo(format!("event {}", notification.event_type))
            }
        };
        Ok(ChannelCallback {
            event_id: notification.id,
            event,
        })
    }

    async fn prepay(&self, request: &PrepayRequest) -> Result<String, ChannelError> {
        timed("prepay", async {
            self.client
                .native_prepay(&self.prepay_body(request))
                .await
                .map(|answer| answer.code_url)
                .map_err(channel_error)
        })
        .await
    }

    async fn query(&self, no: &OrderNo) -> Result<PaymentState, ChannelError> {
        timed("query", async {
            match self.client.query_by_out_trade_no(no.as_str()).await {
                Ok(tx) => payment_state(&tx),
                Err(e) if e.is_order_not_exist() => Ok(PaymentState::NotFound),
                Err(e) => Err(channel_error(e)),
            }
        })
        .await
    }

    async fn close(&self, no: &OrderNo) -> Result<(), ChannelError> {
        timed("close", async {
            self.client.close(no.as_str()).await.map_err(channel_error)
        })
        .await
    }

    async fn refund(&self, call: &RefundCall) -> Result<RefundReport, ChannelError> {
        let request = RefundRequest {
            transaction_id: None,
            out_trade_no: Some(call.order_no.to_string()),
            out_refund_no: call.refund_no.to_string(),
            reason: Some(call.reason.clone()),
            // Refund callbacks come to the payments' endpoint: the resource says which.
            notify_url: Some(self.notify_url.clone()),
            amount: RefundRequestAmount {
                refund: call.amount.as_i64(),
                total: call.total.as_i64(),
                currency: "CNY".into(),
            },
        };
        timed("refund", async {
            let refund = self.client.refund(&request).await.map_err(channel_error)?;
            refund_report(&refund)
        })
        .await
    }

    async fn statement(&self, date: chrono::NaiveDate) -> Result<Statement, ChannelError> {
        timed("tradebill", self.statement_of_day(date)).await
    }

    async fn query_refund(&self, no: &RefundNo) -> Result<RefundReport, ChannelError> {
        timed("query_refund", async {
            match self.client.query_refund(no.as_str()).await {
                Ok(refund) => refund_report(&refund),
                Err(e) if e.code() == Some("RESOURCE_NOT_EXISTS") => Err(ChannelError::NotFound),
                Err(e) => Err(channel_error(e)),
            }
        })
        .await
    }
}

/// Counts and times a call to WeChat Pay, by endpoint and outcome.
async fn timed<T>(
    endpoint: &'static str,
    call: impl std::future::Future<Output = Result<T, ChannelError>>,
) -> Result<T, ChannelError> {
    let started = std::time::Instant::now();
    let outcome = call.await;
    let label = match &outcome {
        Ok(_) => "ok",
        Err(ChannelError::NotFound) => "not_found",
        Err(ChannelError::Refused { .. }) => "refused",
        Err(ChannelError::OutcomeUnknown(_)) => "unknown",
    };
    metrics::histogram!("chatmall_wechatpay_call_duration_seconds", "endpoint" => endpoint)
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("chatmall_wechatpay_calls_total", "endpoint" => endpoint, "outcome" => label)
        .increment(1);
    outcome
}

impl WechatPayChannel {
    /// The day's bill as a statement (no bill: an empty one).
    async fn statement_of_day(&self, date: chrono::NaiveDate) -> Result<Statement, ChannelError> {
        // The bill's text is WeChat's, for the operator: no secret is in it.
        let unknown = |e: wechatpay::error::Error| {
            tracing::warn!(%date, error = %e, "trade bill not had");
            ChannelError::OutcomeUnknown(e.to_string())
        };
        let day = date.format("%Y-%m-%d").to_string();
        let answer = match self.client.trade_bill(&day, true).await {
            Ok(answer) => answer,
            // WeChat makes no bill for a day without a payment or refund.
            Err(e) if e.code() == Some(NO_STATEMENT) => {
                return Ok(Statement {
                    date,
                    payments: Vec::new(),
                    refunds: Vec::new(),
                    paid_total: 0,
                    refunded_total: 0,
                });
            }
            Err(e) => return Err(unknown(e)),
        };
        let file = self
            .client
            .download_bill(&answer, true)
            .await
            .map_err(unknown)?;
        let bill = TradeBill::parse(&file).map_err(|e| {
            ChannelError::OutcomeUnknown(format!("gave a trade bill we cannot read: {e}"))
        })?;
        statement_of(date, &bill)
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
