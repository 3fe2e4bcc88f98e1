//! Refunds: made at once (or refused as WeChat would), notified, and queried.

use super::*;

/// At most this many refunds per order.
const MAX_REFUNDS: usize = 50;

impl Sandbox {
    /// Makes a refund (SUCCESS at once); an identical retry returns the same refund.
    pub(crate) fn refund(&self, request: RefundRequest) -> Result<Refund, ApiError> {
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
                success_time: Some(now.clone()),
                create_time: now,
                status: RefundStatus::Success,
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
        if let Some(notify_url) = &request.notify_url {
            self.notify_refund(&refund, notify_url);
        }
        Ok(refund)
    }

    fn notify_refund(&self, refund: &Refund, notify_url: &str) {
        // The REFUND.SUCCESS resource has its own shape (refund_status, flat ids).
        let resource = serde_json::json!({
            "mchid": self.inner.keys.mchid,
            "out_trade_no": refund.out_trade_no,
            "transaction_id": refund.transaction_id,
            "out_refund_no": refund.out_refund_no,
            "refund_id": refund.refund_id,
            "refund_status": "SUCCESS",
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
        let (event_id, body) =
            notifier::build(self, "REFUND.SUCCESS", "退款成功", "refund", &plaintext);
        notifier::dispatch(
            self,
            Notification {
                event_id,
                event_type: "REFUND.SUCCESS".to_owned(),
                out_trade_no: refund.out_trade_no.clone(),
                notify_url: notify_url.to_owned(),
                body,
            },
        );
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
