//! The unmatched-payments port: one row per verified payment that names no order here.

use super::entities::unmatched_payment;
use super::{SeaStore, from_millis, from_millis_opt, is_unique_violation, millis};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::money::Fen;
use domain::order::{PaymentConfirmation, TransactionId, UnmatchedPayment};
use domain::ports::UnmatchedPayments;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

impl UnmatchedPayments for SeaStore {
    async fn keep_unmatched(
        &self,
        payment: &PaymentConfirmation,
        source: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        // One row per payment: the transaction id is what makes it one.
        let key = payment.transaction_id.as_str().to_owned();
        let row = unmatched_payment::ActiveModel {
            id: NotSet,
            payment_key: Set(key.clone()),
            transaction_id: Set(key.clone()),
            out_trade_no: Set(payment.out_trade_no.clone()),
            mchid: Set(payment.mchid.clone()),
            appid: Set(payment.appid.clone()),
            total: Set(payment.total.as_i64()),
            currency: Set(payment.currency.clone()),
            payer_openid: Set(payment.payer_openid.clone()),
            success_at: Set(payment.success_time.map(millis)),
            resource: Set(payment.raw.clone()),
            source: Set(source.to_owned()),
            first_seen_at: Set(millis(now)),
            last_seen_at: Set(millis(now)),
            times_seen: Set(1),
        };
        match unmatched_payment::Entity::insert(row)
            .exec_without_returning(self.writer()?)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => {
                unmatched_payment::Entity::update_many()
                    .col_expr(
                        unmatched_payment::Column::LastSeenAt,
                        Expr::value(millis(now)),
                    )
                    .col_expr(
                        unmatched_payment::Column::TimesSeen,
                        Expr::col(unmatched_payment::Column::TimesSeen).add(1),
                    )
                    .filter(unmatched_payment::Column::PaymentKey.eq(key))
                    .exec(self.writer()?)
                    .await
                    .context("count an unmatched payment seen again")?;
                Ok(false)
            }
            Err(e) => Err(anyhow::Error::new(e).context(format!(
                "keep the unmatched payment for {}",
                payment.out_trade_no
            ))),
        }
    }

    async fn unmatched_payments(&self, limit: u64) -> anyhow::Result<Vec<UnmatchedPayment>> {
        let rows = unmatched_payment::Entity::find()
            .order_by_desc(unmatched_payment::Column::LastSeenAt)
            .order_by_desc(unmatched_payment::Column::Id)
            .limit(limit)
            .all(&self.reads)
            .await
            .context("list unmatched payments")?;
        rows.into_iter().map(to_domain).collect()
    }
}

fn to_domain(row: unmatched_payment::Model) -> anyhow::Result<UnmatchedPayment> {
    let context = || format!("stored unmatched payment {}", row.payment_key);
    Ok(UnmatchedPayment {
        payment: PaymentConfirmation {
            transaction_id: TransactionId::parse(&row.transaction_id).with_context(context)?,
            total: Fen::from_i64(row.total).with_context(context)?,
            out_trade_no: row.out_trade_no,
            mchid: row.mchid,
            appid: row.appid,
            currency: row.currency,
            payer_openid: row.payer_openid,
            success_time: from_millis_opt(row.success_at)?,
            raw: row.resource,
        },
        source: row.source,
        first_seen_at: from_millis(row.first_seen_at)?,
        last_seen_at: from_millis(row.last_seen_at)?,
        times_seen: u32::try_from(row.times_seen).unwrap_or(0),
    })
}
