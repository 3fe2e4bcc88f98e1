//! The order book: prepay, query, close, and paying an order as a user would.

use super::*;

/// How long a code_url stays payable (WeChat: 2 hours).
const CODE_URL_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::hours(2);

/// Why [`Sandbox::pay`] refused to pay an order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayError {
    /// No order with that out_trade_no or code_url.
    #[error("order {0} does not exist")]
    NotFound(String),
    /// The order was closed.
    #[error("the order is closed")]
    Closed,
    /// `time_expire` (or the 2-hour code_url lifetime) has passed.
    #[error("the order can no longer be paid: {0}")]
    Expired(String),
    /// The order is not NOTPAY any more.
    #[error("the order is already paid (state {0:?})")]
    AlreadyPaid(TradeState),
}

impl PayError {
    /// A stable code for the JSON error of `POST /sandbox/pay`.
    pub fn code(&self) -> &'static str {
        match self {
            PayError::NotFound(_) => "ORDER_NOT_EXIST",
            PayError::Closed => "ORDER_CLOSED",
            PayError::Expired(_) => "ORDER_EXPIRED",
            PayError::AlreadyPaid(_) => "ORDER_PAID",
        }
    }
}

impl Sandbox {
    /// A snapshot of one order as WeChat would report it.
    pub fn order(&self, out_trade_no: &str) -> Option<Transaction> {
        lock(&self.inner.store)
            .orders
            .get(out_trade_no)
            .map(Order::transaction)
    }

    /// All orders, oldest first.
    pub fn orders(&self) -> Vec<Transaction> {
        let store = lock(&self.inner.store);
        store
            .order_list
            .iter()
            .filter_map(|no| store.orders.get(no))
            .map(Order::transaction)
            .collect()
    }

    /// The order behind a code_url token, with its description (for the scan page).
    pub(crate) fn order_by_token(&self, token: &str) -> Option<Order> {
        lock(&self.inner.store).by_token(token).cloned()
    }

    /// Pays a NOTPAY order as user `openid` (a made-up one if `None`) and sends the
    /// `TRANSACTION.SUCCESS` notification in the background.
    pub fn pay(&self, out_trade_no: &str, openid: Option<&str>) -> Result<Transaction, PayError> {
        let generated_openid = format!(
            "o{}",
            self.random_string(
                b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-",
                27
            )
        );
        let (transaction, notify_url) = {
            let mut store = lock(&self.inner.store);
            let order = store
                .orders
                .get(out_trade_no)
                .ok_or_else(|| PayError::NotFound(out_trade_no.to_owned()))?;
            match order.state {
                TradeState::Notpay => {}
                TradeState::Closed => return Err(PayError::Closed),
                other => return Err(PayError::AlreadyPaid(other)),
            }
            let now = Utc::now();
            if let Some(deadline) = order.deadline
                && now >= deadline
            {
                return Err(PayError::Expired(format!(
                    "time_expire {} has passed",
                    order.request.time_expire.as_deref().unwrap_or_default()
                )));
            }
            if now - order.created_at >= CODE_URL_LIFETIME {
                return Err(PayError::Expired(
                    "the code_url is older than 2 hours".to_owned(),
                ));
            }
            let transaction_id = loop {
                let id = format!(
                    "42000{}{}",
                    now.with_timezone(&crate::state::cst()).format("%Y%m%d"),
                    self.random_string(b"0123456789", 15)
                );
                if !store.by_transaction.contains_key(&id) {
                    break id;
                }
            };
            store
                .by_transaction
                .insert(transaction_id.clone(), out_trade_no.to_owned());
            let order = store
                .orders
                .get_mut(out_trade_no)
                .expect("the order was found above, under the same lock");
            order.state = TradeState::Success;
            order.transaction_id = Some(transaction_id);
            order.openid = Some(openid.map_or(generated_openid, str::to_owned));
            order.success_time = Some(rfc3339_cst(now));
            (order.transaction(), order.request.notify_url.clone())
        };
        let plaintext = serde_json::to_vec(&transaction).expect("a transaction serialises");
        let (event_id, body) = notifier::build(
            self,
            "TRANSACTION.SUCCESS",
            "支付成功",
            "transaction",
            &plaintext,
        );
        notifier::dispatch(
            self,
            Notification {
                event_id,
                event_type: "TRANSACTION.SUCCESS".to_owned(),
                out_trade_no: out_trade_no.to_owned(),
                notify_url,
                body,
            },
        );
        Ok(transaction)
    }

    /// Pays the order behind a code_url (`weixin://wxpay/bizpayurl?pr=…`) or a bare token.
    pub fn pay_code_url(
        &self,
        code_url: &str,
        openid: Option<&str>,
    ) -> Result<Transaction, PayError> {
        let token = code_url
            .rsplit_once("pr=")
            .map_or(code_url, |(_, token)| token);
        let out_trade_no = lock(&self.inner.store)
            .by_token
            .get(token)
            .cloned()
            .ok_or_else(|| PayError::NotFound(code_url.to_owned()))?;
        self.pay(&out_trade_no, openid)
    }

    /// The sandbox page for a code_url: `/sandbox/scan?pr=…` (relative to the base URL).
    pub fn scan_path(code_url: &str) -> Option<String> {
        code_url
            .split_once("pr=")
            .map(|(_, token)| format!("/sandbox/scan?pr={token}"))
    }

    /// Creates (or, for an identical retry, finds) a Native order; returns its code_url.
    pub(crate) fn prepay(
        &self,
        request: NativePrepayRequest,
        deadline: Option<DateTime<chrono::FixedOffset>>,
    ) -> Result<String, ApiError> {
        let mut store = lock(&self.inner.store);
        if let Some(existing) = store.orders.get(&request.out_trade_no) {
            if existing.request != request {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "OUT_TRADE_NO_USED",
                    "商户订单号重复: the same out_trade_no was used with different parameters",
                ));
            }
            return match existing.state {
                TradeState::Notpay => Ok(existing.code_url()),
                TradeState::Closed => Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "ORDER_CLOSED",
                    "订单已关闭",
                )),
                _ => Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "INVALID_REQUEST",
                    "订单已支付",
                )),
            };
        }
        let token = loop {
            let token = self.random_string(
                b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                16,
            );
            if !store.by_token.contains_key(&token) {
                break token;
            }
        };
        let order = Order {
            request,
            token,
            created_at: Utc::now(),
            deadline,
            state: TradeState::Notpay,
            transaction_id: None,
            openid: None,
            success_time: None,
            refunded: 0,
            refund_count: 0,
        };
        let code_url = order.code_url();
        store.insert(order);
        Ok(code_url)
    }

    /// Query by out_trade_no.
    pub(crate) fn query_out_trade_no(&self, out_trade_no: &str) -> Result<Transaction, ApiError> {
        self.order(out_trade_no)
            .ok_or_else(ApiError::order_not_exist)
    }

    /// Query by transaction_id (only paid orders have one).
    pub(crate) fn query_transaction_id(
        &self,
        transaction_id: &str,
    ) -> Result<Transaction, ApiError> {
        let store = lock(&self.inner.store);
        store
            .by_transaction
            .get(transaction_id)
            .and_then(|no| store.orders.get(no))
            .map(Order::transaction)
            .ok_or_else(ApiError::order_not_exist)
    }

    /// Closes a NOTPAY order; closing a closed order again is harmless.
    pub(crate) fn close(&self, out_trade_no: &str) -> Result<(), ApiError> {
        let mut store = lock(&self.inner.store);
        let order = store
            .orders
            .get_mut(out_trade_no)
            .ok_or_else(ApiError::order_not_exist)?;
        match order.state {
            TradeState::Notpay | TradeState::Closed => {
                order.state = TradeState::Closed;
                Ok(())
            }
            _ => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "订单已支付，不能关闭 (the order is paid)",
            )),
        }
    }

    /// Closes an order from Rust (what WeChat does to week-old unpaid orders).
    pub fn close_order(&self, out_trade_no: &str) -> bool {
        self.close(out_trade_no).is_ok()
    }
}
