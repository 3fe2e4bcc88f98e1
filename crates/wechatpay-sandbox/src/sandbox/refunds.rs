//! Refunds: accepted as PROCESSING (or refused as WeChat would), ended a moment later as
//! SUCCESS, ABNORMAL or CLOSED as the faults say, notified, and queried.

use super::*;

/// At most this many refunds per order.
const MAX_REFUNDS: usize = 50;

impl Sandbox {
    /// Makes a refund (PROCESSING, ended after `refund_settle_ms`); an identical retry
    /// returns the same refund as it stands.
    pub(crate) fn refund(&self, request: RefundRequest) -> Result<Refund, ApiError> {
        let faults = self.faults();
        let system_error = || {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "SYSTEM_ERROR",
                "系统错误".to_owned(),
            )
        };
        if self.roll(faults.refund_error) {
            return Err(system_error());
        }
        let invalid = |message: &str| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                message.to_owned(),
            )
        };
        let refund = {
            let mut store = lock(&self.inner.store);
            if let Some(existing) = store.refunds.get(&request.out_refund_no) {
                return if existing.request == request {
                    Ok(existing.refund.clone())
                } else {
                    Err(invalid(
                        "out_refund_no 已用于另一笔退款 (different parameters)",
                    ))
                };
            }
            let out_trade_no = match (&request.out_trade_no, &request.transaction_id) {
                (Some(no), _) => no.clone(),
                (None, Some(id)) => store
                    .by_transaction
                    .get(id)
                    .cloned()
                    .ok_or_else(ApiError::order_not_exist)?,
                (None, None) => {
                    return Err(ApiError::param(
                        "one of out_trade_no and transaction_id is required",
                    ));
                }
            };
            let refund_id = format!("50{}", self.random_string(b"0123456789", 27));
            let order = store
                .orders
                .get_mut(&out_trade_no)
                .ok_or_else(ApiError::order_not_exist)?;
            if let (Some(id), Some(own)) = (&request.transaction_id, &order.transaction_id)
                && id != own
            {
                return Err(invalid("transaction_id does not belong to out_trade_no"));
            }
            if !matches!(order.state, TradeState::Success | TradeState::Refund) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "TRADE_ERROR",
                    format!("订单状态 {:?} 不能退款 (only paid orders)", order.state),
                ));
            }
            let total = order.request.amount.total;
            if request.amount.total != total {
                return Err(ApiError::param(format!(
                    "amount.total {} is not the order total {total}",
                    request.amount.total
                )));
            }
            if request.amount.currency != "CNY" {
                return Err(ApiError::param("amount.currency must be CNY"));
            }
            if request.amount.refund < 1 {
                return Err(ApiError::param("amount.refund must be at least 1 fen"));
            }
            if request.amount.refund > total - order.refunded {
                return Err(invalid(&format!(
                    "申请退款金额超过订单可退金额: refund {} > remaining {}",
                    request.amount.refund,
                    total - order.refunded
                )));
            }
            if order.refund_count >= MAX_REFUNDS {
                return Err(invalid("退款次数超过限制 (at most 50 refunds per order)"));
            }
            order.refunded += request.amount.refund;
            order.refund_count += 1;
            order.state = TradeState::Refund;
            let now = rfc3339_cst(Utc::now());
            let refund = Refund {
                refund_id,
                out_refund_no: request.out_refund_no.clone(),
                transaction_id: order.transaction_id.clone().unwrap_or_default(),
                out_trade_no: out_trade_no.clone(),
                channel: "ORIGINAL".to_owned(),
                user_received_account: "支付用户零钱".to_owned(),
                success_time: None,
                create_time: now,
                status: RefundStatus::Processing,
                amount: RefundAmount {
                    total,
                    refund: request.amount.refund,
                    payer_total: total,
                    payer_refund: request.amount.refund,
                    currency: Some("CNY".to_owned()),
                },
            };
            store.refunds.insert(
                request.out_refund_no.clone(),
                StoredRefund {
                    request: request.clone(),
                    refund: refund.clone(),
                },
            );
            refund
        };
        self.settle_later(&refund.out_refund_no, faults.refund_settle_ms);
        if self.roll(faults.refund_answer_lost) {
            return Err(system_error());
        }
        Ok(refund)
    }

    /// Ends a PROCESSING refund after `ms`, as the faults then say, and notifies it.
    fn settle_later(&self, out_refund_no: &str, ms: u64) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!("sandbox: no Tokio runtime, refund {out_refund_no} stays PROCESSING");
            return;
        };
        let (sandbox, no) = (self.clone(), out_refund_no.to_owned());
        runtime.spawn(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            sandbox.settle_refund(&no);
        });
    }

    /// Ends a PROCESSING refund now: ABNORMAL or CLOSED by the faults' odds, else SUCCESS.
    fn settle_refund(&self, out_refund_no: &str) {
        let faults = self.faults();
        let end = if self.roll(faults.refund_abnormal) {
            RefundStatus::Abnormal
        } else if self.roll(faults.refund_closed) {
            RefundStatus::Closed
        } else {
            RefundStatus::Success
        };
        let (refund, notify_url) = {
            let mut store = lock(&self.inner.store);
            let Some(stored) = store.refunds.get_mut(out_refund_no) else {
                return;
            };
            if stored.refund.status != RefundStatus::Processing {
                return;
            }
            stored.refund.status = end;
            if end == RefundStatus::Success {
                stored.refund.success_time = Some(rfc3339_cst(Utc::now()));
            }
            let (refund, notify_url) = (stored.refund.clone(), stored.request.notify_url.clone());
            if end == RefundStatus::Closed
                && let Some(order) = store.orders.get_mut(&refund.out_trade_no)
            {
                // A closed refund gives the order's money back to what may be refunded.
                order.refunded -= refund.amount.refund;
            }
            (refund, notify_url)
        };
        if let Some(notify_url) = notify_url {
            self.notify_refund(&refund, &notify_url);
        }
    }

    fn notify_refund(&self, refund: &Refund, notify_url: &str) {
        // A refund callback's resource has its own shape (refund_status, flat ids).
        let (event_type, summary) = match refund.status {
            RefundStatus::Abnormal => ("REFUND.ABNORMAL", "退款异常"),
            RefundStatus::Closed => ("REFUND.CLOSED", "退款关闭"),
            _ => ("REFUND.SUCCESS", "退款成功"),
        };
        let resource = serde_json::json!({
            "mchid": self.inner.keys.mchid,
            "out_trade_no": refund.out_trade_no,
            "transaction_id": refund.transaction_id,
            "out_refund_no": refund.out_refund_no,
            "refund_id": refund.refund_id,
            "refund_status": refund.status,
            "success_time": refund.success_time,
            "user_received_account": refund.user_received_account,
            "amount": {
                "total": refund.amount.total,
                "refund": refund.amount.refund,
                "payer_total": refund.amount.payer_total,
                "payer_refund": refund.amount.payer_refund,
            },
        });
        let plaintext = serde_json::to_vec(&resource).expect("JSON serialises");
        let (event_id, body) = notifier::build(self, event_type, summary, "refund", &plaintext);
        notifier::dispatch(
            self,
            Notification {
                event_id,
                event_type: event_type.to_owned(),
                out_trade_no: refund.out_trade_no.clone(),
                notify_url: notify_url.to_owned(),
                body,
            },
        );
    }

    /// Every refund, as it stands (what the sandbox's WeChat knows), by out_refund_no.
    pub fn refunds(&self) -> Vec<Refund> {
        let store = lock(&self.inner.store);
        let mut refunds: Vec<_> = store.refunds.values().map(|s| s.refund.clone()).collect();
        refunds.sort_by(|a, b| a.out_refund_no.cmp(&b.out_refund_no));
        refunds
    }

    /// A refund by out_refund_no.
    pub(crate) fn query_refund(&self, out_refund_no: &str) -> Result<Refund, ApiError> {
        lock(&self.inner.store)
            .refunds
            .get(out_refund_no)
            .map(|stored| stored.refund.clone())
            .ok_or_else(|| {
                ApiError::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "退款单不存在")
            })
    }
}
