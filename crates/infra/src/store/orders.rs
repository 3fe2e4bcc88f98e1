//! The order port: inserts, lookups, and the state machine's conditional transitions.

use super::entities::{order, outbox};
use super::history::{Event, record};
use super::{SeaStore, from_millis, from_millis_opt, is_unique_violation, millis, rollback};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::money::Fen;
use domain::order::{
    Cause, Order, OrderEvent, OrderNo, OrderStatus, PaymentConfirmation, TransactionId, Transition,
};
use domain::ports::{Delivery, InsertOrderError, MarkPaid, OrderRepository};
use domain::product::{ModelType, ProductId};
use domain::user::UserId;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait, UpdateMany,
};

impl OrderRepository for SeaStore {
    async fn insert(&self, order: &Order) -> Result<(), InsertOrderError> {
        let row = to_row(order);
        match order::Entity::insert(row)
            .exec_without_returning(self.writer()?)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                Err(InsertOrderError::Duplicate(order.order_no.clone()))
            }
            Err(e) => Err(anyhow::Error::new(e)
                .context(format!("insert order {}", order.order_no))
                .into()),
        }
    }

    async fn order(&self, no: &OrderNo) -> anyhow::Result<Option<Order>> {
        find_order(&self.reads, no).await
    }

    async fn open_order(
        &self,
        user: &UserId,
        product: ProductId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Order>> {
        let unpaid = [OrderStatus::Created, OrderStatus::PayWait].map(OrderStatus::as_str);
        let row = order::Entity::find()
            .filter(order::Column::UserId.eq(user.as_str()))
            .filter(order::Column::ProductId.eq(product.get()))
            .filter(order::Column::Status.is_in(unpaid))
            .filter(order::Column::ExpireAt.gt(millis(now)))
            .order_by_desc(order::Column::CreatedAt)
            .order_by_desc(order::Column::Id)
            .one(&self.reads)
            .await
            .with_context(|| format!("find the open order of {user} for product {product}"))?;
        row.map(to_domain).transpose()
    }

    async fn orders_of(&self, user: &UserId, limit: u64) -> anyhow::Result<Vec<Order>> {
        let rows = order::Entity::find()
            .filter(order::Column::UserId.eq(user.as_str()))
            .order_by_desc(order::Column::CreatedAt)
            .order_by_desc(order::Column::Id)
            .limit(limit)
            .all(&self.reads)
            .await
            .with_context(|| format!("list the orders of {user}"))?;
        rows.into_iter().map(to_domain).collect()
    }

    async fn note_prepay_attempt(&self, no: &OrderNo, now: DateTime<Utc>) -> anyhow::Result<bool> {
        // An SQL increment, so concurrent attempts are all counted.
        let result = order::Entity::update_many()
            .col_expr(
                order::Column::PrepayAttempts,
                Expr::col(order::Column::PrepayAttempts).add(1),
            )
            .col_expr(order::Column::UpdatedAt, Expr::value(millis(now)))
            .filter(order::Column::OrderNo.eq(no.as_str()))
            .filter(order::Column::Status.eq(OrderStatus::Created.as_str()))
            .exec(self.writer()?)
            .await
            .with_context(|| format!("count a prepay attempt of order {no}"))?;
        Ok(result.rows_affected == 1)
    }

    async fn note_buyer_check(
        &self,
        no: &OrderNo,
        now: DateTime<Utc>,
        not_since: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let result = order::Entity::update_many()
            .col_expr(order::Column::BuyerCheckedAt, Expr::value(millis(now)))
            .filter(order::Column::OrderNo.eq(no.as_str()))
            .filter(
                Condition::any()
                    .add(order::Column::BuyerCheckedAt.is_null())
                    .add(order::Column::BuyerCheckedAt.lte(millis(not_since))),
            )
            .exec(self.writer()?)
            .await
            .with_context(|| format!("note a buyer's check of order {no}"))?;
        Ok(result.rows_affected == 1)
    }

    async fn record_prepay(
        &self,
        no: &OrderNo,
        code_url: &str,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let t = Transition::PREPAY;
        let update =
            transition(t, no.as_str(), now).col_expr(order::Column::CodeUrl, Expr::value(code_url));
        self.recorded(t, update, no, cause, None, now)
            .await
            .with_context(|| format!("record the prepay of order {no}"))
    }

    async fn mark_paid(
        &self,
        payment: &PaymentConfirmation,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> anyhow::Result<MarkPaid> {
        let no = payment.out_trade_no.as_str();
        let txn = self
            .writer()?
            .begin()
            .await
            .context("mark order paid: begin")?;
        // The write comes first, so an SQLite transaction takes the write lock at once.
        let result = transition(Transition::PAY, no, now)
            .col_expr(
                order::Column::PaidAt,
                Expr::value(millis(payment.success_time.unwrap_or(now))),
            )
            .col_expr(
                order::Column::TransactionId,
                Expr::value(payment.transaction_id.as_str()),
            )
            .exec(&txn)
            .await;
        let result = match result {
            // The only unique column these transitions set is the transaction id, so a
            // unique violation is another order holding it (told by the error's kind).
            Err(e) if is_unique_violation(&e) => {
                rollback(txn).await;
                return Ok(MarkPaid::TransactionOnAnotherOrder);
            }
            other => other.with_context(|| format!("mark order {no} paid"))?,
        };
        if result.rows_affected != 1 {
            // Not ours to report: already paid, or in a state payment cannot move.
            rollback(txn).await;
            return Ok(MarkPaid::Unchanged);
        }
        let event = outbox::ActiveModel {
            id: NotSet,
            kind: Set(outbox::KIND_ORDER_PAID.to_owned()),
            order_no: Set(no.to_owned()),
            status: Set(outbox::STATUS_PENDING.to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(millis(now)),
            lease_until: Set(None),
            last_error: Set(None),
            created_at: Set(millis(now)),
            done_at: Set(None),
        };
        outbox::Entity::insert(event)
            .exec_without_returning(&txn)
            .await
            .with_context(|| format!("mark order {no} paid: write the order_paid event"))?;
        let paid = Event::order(Transition::PAY, no, cause, Some(payment.raw.clone()), now);
        record(&txn, paid)
            .await
            .with_context(|| format!("mark order {no} paid: write its history"))?;
        txn.commit()
            .await
            .with_context(|| format!("mark order {no} paid: commit"))?;
        committed(Transition::PAY, cause);
        Ok(MarkPaid::Paid)
    }

    async fn mark_review(
        &self,
        no: &OrderNo,
        reason: &str,
        payment: &PaymentConfirmation,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let t = Transition::REVIEW;
        let transaction_id = &payment.transaction_id;
        let review = || {
            transition(t, no.as_str(), now)
                .col_expr(order::Column::ReviewReason, Expr::value(reason))
                .col_expr(
                    order::Column::ReviewPaidFen,
                    Expr::value(payment.total.as_i64()),
                )
        };
        // The payment as WeChat reported it is kept whole with the move (never dropped).
        let reported = serde_json::from_str::<serde_json::Value>(&payment.raw)
            .unwrap_or_else(|_| serde_json::Value::String(payment.raw.clone()));
        let detail = serde_json::json!({
            "reason": reason,
            "transaction_id": transaction_id.as_str(),
            "payment": reported,
        })
        .to_string();
        let with_id = review().col_expr(
            order::Column::TransactionId,
            Expr::value(transaction_id.as_str()),
        );
        let detail = || Some(detail.clone());
        match self.recorded(t, with_id, no, cause, detail(), now).await {
            // Another order holds the id: the review goes on without it.
            Err(e) if is_unique_violation(&e) => {
                self.recorded(t, review(), no, cause, detail(), now).await
            }
            other => other,
        }
        .with_context(|| format!("put order {no} under review"))
    }

    async fn close(&self, no: &OrderNo, cause: &Cause, now: DateTime<Utc>) -> anyhow::Result<bool> {
        self.to_closed(Transition::CLOSE, no, cause, now).await
    }

    async fn abandon(
        &self,
        no: &OrderNo,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        self.to_closed(Transition::ABANDON, no, cause, now).await
    }

    async fn deliver(
        &self,
        no: &OrderNo,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Delivery> {
        self.deliver_order(no, cause, now).await
    }

    async fn history(&self, no: &OrderNo) -> anyhow::Result<Vec<OrderEvent>> {
        self.history_of(no).await
    }
}

impl SeaStore {
    /// A transition that ends in CLOSED (expiry or a refused prepay), stamping `closed_at`.
    async fn to_closed(
        &self,
        t: Transition,
        no: &OrderNo,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let update = transition(t, no.as_str(), now)
            .col_expr(order::Column::ClosedAt, Expr::value(millis(now)));
        self.recorded(t, update, no, cause, None, now)
            .await
            .with_context(|| format!("{} order {no}", t.name))
    }

    /// Applies transition `t`'s conditional `update` and writes its event in one
    /// transaction (the update first: on SQLite it takes the write lock while
    /// busy_timeout applies); whether it moved the order.
    async fn recorded(
        &self,
        t: Transition,
        update: UpdateMany<order::Entity>,
        no: &OrderNo,
        cause: &Cause,
        detail: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<bool, DbErr> {
        let writer = self.writer().map_err(|e| DbErr::Custom(format!("{e:#}")))?;
        let txn = writer.begin().await?;
        let moved = match update.exec(&txn).await {
            Ok(result) => result.rows_affected == 1,
            Err(e) => {
                rollback(txn).await;
                return Err(e);
            }
        };
        if !moved {
            rollback(txn).await;
            return Ok(false);
        }
        record(&txn, Event::order(t, no.as_str(), cause, detail, now)).await?;
        txn.commit().await?;
        committed(t, cause);
        Ok(true)
    }
}

/// Counts transition `t`, moved by `cause`, in the metrics once it committed.
pub(super) fn committed(t: Transition, cause: &Cause) {
    metrics::counter!("chatmall_order_transitions_total",
        "transition" => t.name, "to" => t.to.as_str(), "cause" => cause.kind())
    .increment(1);
}

/// The conditional UPDATE of a transition: `SET status = to, updated_at = now WHERE
/// order_no = ? AND status IN (from)`. Callers add their columns; rows affected says who won.
///
/// The jobs' schedule belongs to the state it was made for, so a transition starts the new
/// state's afresh: due now, unleased, no failures counted. A job still holding the order
/// in its old state then has nothing left to release (`reschedule` matches the status),
/// and the jobs of the new state need not wait for that job's lease or its next check.
pub(super) fn transition(t: Transition, no: &str, now: DateTime<Utc>) -> UpdateMany<order::Entity> {
    order::Entity::update_many()
        .col_expr(order::Column::Status, Expr::value(t.to.as_str()))
        .col_expr(order::Column::UpdatedAt, Expr::value(millis(now)))
        .col_expr(order::Column::NextCheckAt, Expr::value(millis(now)))
        .col_expr(order::Column::LeaseUntil, Expr::value(Option::<i64>::None))
        .col_expr(order::Column::CheckAttempts, Expr::value(0))
        .filter(order::Column::OrderNo.eq(no))
        .filter(order::Column::Status.is_in(t.from.iter().map(|s| s.as_str())))
}

/// Applies a transition and reads the order as it left it, or `None` when the transition
/// lost (the order was not in a state it starts from). One statement where `UPDATE …
/// RETURNING` exists (SQLite, PostgreSQL); MySQL reads the row back after its UPDATE.
pub(super) async fn transition_and_read(
    update: UpdateMany<order::Entity>,
    db: &impl ConnectionTrait,
    no: &OrderNo,
) -> anyhow::Result<Option<Order>> {
    if db.get_database_backend() == DbBackend::MySql {
        if update.exec(db).await?.rows_affected != 1 {
            return Ok(None);
        }
        return find_order(db, no).await;
    }
    update
        .exec_with_returning(db)
        .await?
        .pop()
        .map(to_domain)
        .transpose()
}

/// One order, read through `db` (the pool or a transaction).
pub(super) async fn find_order(
    db: &impl ConnectionTrait,
    no: &OrderNo,
) -> anyhow::Result<Option<Order>> {
    let row = order::Entity::find()
        .filter(order::Column::OrderNo.eq(no.as_str()))
        .one(db)
        .await
        .with_context(|| format!("load order {no}"))?;
    row.map(to_domain).transpose()
}

/// A new order as a row; the job columns start fresh.
fn to_row(order: &Order) -> order::ActiveModel {
    order::ActiveModel {
        id: NotSet,
        order_no: Set(order.order_no.as_str().to_owned()),
        user_id: Set(order.user_id.as_str().to_owned()),
        product_id: Set(order.product_id.get()),
        product_name: Set(order.product_name.clone()),
        quota: Set(i64::from(order.quota)),
        model_types: Set(ModelType::join(&order.model_types)),
        amount: Set(order.amount.as_i64()),
        status: Set(order.status.as_str().to_owned()),
        code_url: Set(order.code_url.clone()),
        prepay_attempts: Set(i32::try_from(order.prepay_attempts).unwrap_or(i32::MAX)),
        created_at: Set(millis(order.created_at)),
        expire_at: Set(millis(order.expire_at)),
        paid_at: Set(order.paid_at.map(millis)),
        transaction_id: Set(order.transaction_id.as_ref().map(|t| t.as_str().to_owned())),
        delivered_at: Set(order.delivered_at.map(millis)),
        closed_at: Set(order.closed_at.map(millis)),
        review_reason: Set(order.review_reason.clone()),
        updated_at: Set(millis(order.updated_at)),
        // Due at once; each job adds its own delay ("orders older than …") to its scan.
        next_check_at: Set(millis(order.created_at)),
        lease_until: Set(None),
        check_attempts: Set(0),
        last_error: Set(None),
        buyer_checked_at: Set(None),
        refunded_fen: Set(0),
        review_paid_fen: Set(order.review_paid.map(Fen::as_i64)),
    }
}

/// A stored order as the domain's.
pub(crate) fn to_domain(row: order::Model) -> anyhow::Result<Order> {
    let context = || format!("stored order {}", row.order_no);
    Ok(Order {
        order_no: OrderNo::parse(&row.order_no).with_context(context)?,
        user_id: UserId::parse(&row.user_id).with_context(context)?,
        product_id: ProductId::new(row.product_id).with_context(context)?,
        quota: u32::try_from(row.quota).with_context(context)?,
        model_types: ModelType::parse_list(&row.model_types).with_context(context)?,
        amount: Fen::from_i64(row.amount).with_context(context)?,
        status: OrderStatus::parse(&row.status).with_context(context)?,
        prepay_attempts: u32::try_from(row.prepay_attempts).with_context(context)?,
        created_at: from_millis(row.created_at)?,
        expire_at: from_millis(row.expire_at)?,
        paid_at: from_millis_opt(row.paid_at)?,
        delivered_at: from_millis_opt(row.delivered_at)?,
        closed_at: from_millis_opt(row.closed_at)?,
        updated_at: from_millis(row.updated_at)?,
        product_name: row.product_name,
        code_url: row.code_url,
        transaction_id: row
            .transaction_id
            .as_deref()
            .map(TransactionId::parse)
            .transpose()
            .with_context(context)?,
        review_reason: row.review_reason,
        review_paid: row
            .review_paid_fen
            .map(Fen::from_i64)
            .transpose()
            .with_context(context)?,
    })
}

impl SeaStore {
    /// The highest order number node `node` issued (22-digit numbers end in node + 5-digit
    /// sequence), so its generator can resume after a restart.
    pub async fn latest_order_no(&self, node: u16) -> anyhow::Result<Option<OrderNo>> {
        // Fixed-width numbers sort by time; `_` matches one character in LIKE.
        let pattern = format!("{}{node:03}{}", "_".repeat(14), "_".repeat(5));
        let row = order::Entity::find()
            .filter(order::Column::OrderNo.like(pattern))
            .order_by_desc(order::Column::OrderNo)
            .one(&self.reads)
            .await
            .with_context(|| format!("find the last order number of node {node}"))?;
        Ok(row.and_then(|r| OrderNo::parse(&r.order_no).ok()))
    }
}
