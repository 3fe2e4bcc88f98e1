//! The in-memory store of orders and refunds (one `Mutex` around it all: the sandbox is a
//! test double, and whole-store locking makes every transition trivially atomic).

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use std::collections::HashMap;
use wechatpay::model::{
    NativePrepayRequest, Payer, Refund, RefundRequest, TradeState, Transaction, TransactionAmount,
};

/// Formats a time as WeChat does: RFC 3339, whole seconds, `+08:00`.
pub fn rfc3339_cst(t: DateTime<Utc>) -> String {
    t.with_timezone(&cst())
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// China Standard Time, the offset WeChat writes times in.
pub fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// One Native order.
#[derive(Debug, Clone)]
pub struct Order {
    /// The prepay request as received (idempotent retries must equal it).
    pub request: NativePrepayRequest,
    /// The `pr=` token of the code_url.
    pub token: String,
    /// When the order was created.
    pub created_at: DateTime<Utc>,
    /// The payment deadline from `time_expire`, if any.
    pub deadline: Option<DateTime<FixedOffset>>,
    /// The current state.
    pub state: TradeState,
    /// Assigned when paid.
    pub transaction_id: Option<String>,
    /// The payer, once paid.
    pub openid: Option<String>,
    /// RFC 3339 +08:00, once paid.
    pub success_time: Option<String>,
    /// Sum of successful refunds, in fen.
    pub refunded: i64,
    /// Number of refunds made.
    pub refund_count: usize,
}

impl Order {
    /// The code_url handed to the merchant.
    pub fn code_url(&self) -> String {
        format!("weixin://wxpay/bizpayurl?pr={}", self.token)
    }

    /// The order as WeChat reports it (query result and callback resource).
    pub fn transaction(&self) -> Transaction {
        let paid = self.transaction_id.is_some();
        let currency = self
            .request
            .amount
            .currency
            .clone()
            .unwrap_or_else(|| "CNY".to_owned());
        Transaction {
            appid: self.request.appid.clone(),
            mchid: self.request.mchid.clone(),
            out_trade_no: self.request.out_trade_no.clone(),
            transaction_id: self.transaction_id.clone(),
            trade_type: Some("NATIVE".to_owned()),
            trade_state: self.state,
            trade_state_desc: state_desc(self.state).to_owned(),
            bank_type: paid.then(|| "OTHERS".to_owned()),
            attach: self.request.attach.clone(),
            success_time: self.success_time.clone(),
            payer: Some(Payer {
                openid: self.openid.clone(),
            }),
            amount: Some(TransactionAmount {
                total: Some(self.request.amount.total),
                payer_total: paid.then_some(self.request.amount.total),
                currency: Some(currency.clone()),
                payer_currency: Some(currency),
            }),
            other: Default::default(),
        }
    }
}

/// WeChat's `trade_state_desc` texts.
pub fn state_desc(state: TradeState) -> &'static str {
    match state {
        TradeState::Success => "支付成功",
        TradeState::Refund => "转入退款",
        TradeState::Notpay => "未支付",
        TradeState::Closed => "已关闭",
        TradeState::Revoked => "已撤销",
        TradeState::Userpaying => "用户支付中",
        TradeState::Payerror => "支付失败",
        TradeState::Accept => "已接收，等待扣款",
        // The sandbox never produces a state it does not know.
        TradeState::Unknown => "未知",
    }
}

/// A refund and the request that made it (for idempotent retries).
#[derive(Debug, Clone)]
pub struct StoredRefund {
    /// The request as received.
    pub request: RefundRequest,
    /// The refund object returned.
    pub refund: Refund,
}

/// All orders and refunds.
#[derive(Debug, Default)]
pub struct Store {
    /// Orders by out_trade_no.
    pub orders: HashMap<String, Order>,
    /// out_trade_no in creation order, for listing.
    pub order_list: Vec<String>,
    /// out_trade_no by code_url token.
    pub by_token: HashMap<String, String>,
    /// out_trade_no by transaction_id.
    pub by_transaction: HashMap<String, String>,
    /// Refunds by out_refund_no.
    pub refunds: HashMap<String, StoredRefund>,
}

impl Store {
    /// Inserts a new order.
    pub fn insert(&mut self, order: Order) {
        let no = order.request.out_trade_no.clone();
        self.by_token.insert(order.token.clone(), no.clone());
        self.order_list.push(no.clone());
        self.orders.insert(no, order);
    }

    /// The order holding a code_url token.
    pub fn by_token(&self, token: &str) -> Option<&Order> {
        self.by_token.get(token).and_then(|no| self.orders.get(no))
    }
}
