//! Refunds: an operator pays money back on a delivered order, or the whole of a payment
//! under REVIEW, which resolves it (DESIGN.md §7). The refund is
//! stored with its quota taken back before the channel is called; whatever the channel
//! then says, now, in a callback, or to the refund job's query, is applied by
//! [`Shop::apply_refund_report`], the one path by which a refund moves.

use super::Shop;
use crate::order::{Cause, OrderNo};
use crate::ports::{
    AccountRepository, ChannelError, OpenRefund, OrderRepository, PaymentChannel, RefundCall,
    RefundReport, RefundRepository,
};
use crate::refund::{Refund, RefundAsk, RefundPlan, RefundRefusal, RefundStatus, RefundTransition};

/// What moved a refund the channel answered about when it was sent.
const REFUND_ANSWER: Cause = Cause::Query("refund");

/// How many times a refund is planned again when a concurrent refund or spend got in
/// first.
const PLAN_ROUNDS: usize = 4;

/// Why a refund was not made.
#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    #[error("no order {0}")]
    OrderNotFound(OrderNo),
    #[error(transparent)]
    Refused(#[from] RefundRefusal),
    /// Concurrent refunds or spends kept changing the order or the balance.
    #[error("the order or the balance kept changing; try again")]
    Busy,
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// What applying a report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundApplied {
    /// The refund moved to this status.
    Moved(RefundStatus),
    /// It was there already, or past it: nothing changed.
    Unchanged(RefundStatus),
    /// The report names no refund of ours: logged with everything it says.
    Unknown,
    /// The report does not match our refund (order or amount): nothing changed.
    Mismatch(String),
}

impl<S, C> Shop<S, C>
where
    S: OrderRepository + RefundRepository + AccountRepository,
    C: PaymentChannel,
{
    /// Pays back `ask` on order `no`, asked for by `by`: stored with its quota taken back,
    /// then sent to the channel. A channel that does not answer leaves it REQUESTED for the
    /// refund job; the refund as it stands is returned either way.
    pub async fn request_refund(
        &self,
        no: &OrderNo,
        ask: &RefundAsk,
        by: &str,
    ) -> Result<Refund, RefundError> {
        let (refund, order) = self.open_refund(no, ask, by).await?;
        tracing::info!(refund_no = %refund.refund_no, order_no = %no, amount = refund.amount.fen(), quota_back = refund.quota_back, forced = refund.forced, by, "refund requested");
        self.send_refund(&refund, order.paid_total()).await?;
        Ok(self
            .store
            .refund(&refund.refund_no)
            .await?
            .unwrap_or(refund))
    }

    async fn open_refund(
        &self,
        no: &OrderNo,
        ask: &RefundAsk,
        by: &str,
    ) -> Result<(Refund, crate::order::Order), RefundError> {
        for _ in 0..PLAN_ROUNDS {
            let order = self
                .store
                .order(no)
                .await?
                .ok_or_else(|| RefundError::OrderNotFound(no.clone()))?;
            let earlier = self.store.refunds_of(no).await?;
            let surplus = self
                .store
                .account(&order.user_id)
                .await?
                .map_or(0, |a| a.surplus_quota);
            let plan = RefundPlan::decide(&order, &earlier, surplus, ask)?;
            let now = self.clock.now();
            let refund = Refund {
                refund_no: plan.refund_no,
                order_no: no.clone(),
                user_id: order.user_id.clone(),
                amount: plan.amount,
                quota_back: plan.quota_back,
                reason: ask.reason.clone(),
                forced: ask.force,
                status: RefundStatus::Requested,
                requested_by: by.to_owned(),
                channel_refund_id: None,
                channel_report: None,
                created_at: now,
                updated_at: now,
                ended_at: None,
            };
            match self
                .store
                .open_refund(&refund, &Cause::Operator(by.to_owned()))
                .await?
            {
                OpenRefund::Opened => return Ok((refund, order)),
                OpenRefund::NumberTaken | OpenRefund::QuotaMoved => continue,
            }
        }
        Err(RefundError::Busy)
    }

    /// Sends a stored refund to the channel (again: the same number is the same refund) and
    /// applies the answer. An unknown outcome leaves it for the refund job.
    async fn send_refund(&self, refund: &Refund, total: crate::money::Fen) -> anyhow::Result<()> {
        let call = RefundCall {
            refund_no: refund.refund_no.clone(),
            order_no: refund.order_no.clone(),
            amount: refund.amount,
            total,
            reason: refund.reason.as_str().to_owned(),
        };
        match self.channel.refund(&call).await {
            Ok(report) => {
                self.apply_refund_report(&report, &REFUND_ANSWER).await?;
            }
            Err(ChannelError::Refused { code, message }) => {
                tracing::warn!(refund_no = %refund.refund_no, %code, %message, "the channel refused the refund; its quota goes back");
                self.store
                    .move_refund(
                        &refund.refund_no,
                        RefundTransition::REFUSE,
                        None,
                        &REFUND_ANSWER,
                        self.clock.now(),
                    )
                    .await?;
            }
            Err(e) => {
                tracing::warn!(refund_no = %refund.refund_no, error = %e, "refund sent, outcome unknown: the refund job will ask");
            }
        }
        Ok(())
    }

    /// Applies what the channel says of a refund (`cause`: a notification, the refund
    /// job's query, the channel's answer to the request): one conditional move, or nothing
    /// when it is there already.
    pub async fn apply_refund_report(
        &self,
        report: &RefundReport,
        cause: &Cause,
    ) -> anyhow::Result<RefundApplied> {
        let source = cause.to_text();
        let source = source.as_str();
        let Some(refund) = (match crate::refund::RefundNo::parse(&report.out_refund_no) {
            Ok(no) => self.store.refund(&no).await?,
            Err(_) => None,
        }) else {
            tracing::error!(
                ?report,
                source,
                "a verified refund report for no refund of ours"
            );
            return Ok(RefundApplied::Unknown);
        };
        if report.out_trade_no != refund.order_no.as_str() || report.refund != refund.amount {
            let why = format!(
                "the channel reports refund {} of order {} for {} fen; ours is of order {} for {} fen",
                report.out_refund_no,
                report.out_trade_no,
                report.refund.fen(),
                refund.order_no,
                refund.amount.fen()
            );
            tracing::error!(%why, raw = %report.raw, source, "refund report does not match");
            return Ok(RefundApplied::Mismatch(why));
        }
        let Some(transition) = RefundTransition::to(report.status) else {
            return Ok(RefundApplied::Unchanged(refund.status));
        };
        if !transition.allows(refund.status) {
            return Ok(RefundApplied::Unchanged(refund.status));
        }
        let moved = self
            .store
            .move_refund(
                &refund.refund_no,
                transition,
                Some(report),
                cause,
                self.clock.now(),
            )
            .await?;
        if !moved {
            // A concurrent report won: say where it stands now.
            let now = self.store.refund(&refund.refund_no).await?;
            return Ok(RefundApplied::Unchanged(
                now.map_or(refund.status, |r| r.status),
            ));
        }
        match report.status {
            RefundStatus::Abnormal => {
                tracing::error!(refund_no = %refund.refund_no, order_no = %refund.order_no, source, "refund ABNORMAL: the money did not reach the payer; an operator must pay it back another way")
            }
            status => {
                tracing::info!(refund_no = %refund.refund_no, %status, source, "refund moved")
            }
        }
        Ok(RefundApplied::Moved(report.status))
    }

    /// The refund job's look at an open refund: ask the channel, apply what it says; a
    /// refund the channel never saw (the request was lost) is sent again, identically.
    /// `by` names who asks (the refund job, the reconciliation), for the order's history.
    pub async fn recheck_refund(
        &self,
        refund: &Refund,
        by: &'static str,
    ) -> anyhow::Result<RefundApplied> {
        match self.channel.query_refund(&refund.refund_no).await {
            Ok(report) => self.apply_refund_report(&report, &Cause::Query(by)).await,
            Err(ChannelError::NotFound) if refund.status == RefundStatus::Requested => {
                let total = self
                    .store
                    .order(&refund.order_no)
                    .await?
                    .map(|o| o.paid_total())
                    .ok_or_else(|| {
                        anyhow::anyhow!("order {} of a refund is gone", refund.order_no)
                    })?;
                self.send_refund(refund, total).await?;
                let now = self.store.refund(&refund.refund_no).await?;
                Ok(RefundApplied::Unchanged(
                    now.map_or(refund.status, |r| r.status),
                ))
            }
            Err(e) => Err(anyhow::anyhow!("query refund {}: {e}", refund.refund_no)),
        }
    }
}
