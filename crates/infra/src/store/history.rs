//! Orders' history: one `order_events` row per transition of an order or of one of its
//! refunds, inserted in the transition's own transaction (so a transition is never without
//! its row, nor a row without its transition).

use super::entities::order_event;
use super::{SeaStore, from_millis, millis};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::order::{Cause, OrderEvent, OrderNo, Transition};
use domain::refund::RefundStatus;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

/// One event to write.
pub(super) struct Event<'a> {
    pub order_no: &'a str,
    /// For a refund's transition.
    pub refund_no: Option<&'a str>,
    pub transition: &'a str,
    pub to: &'a str,
    pub cause: &'a Cause,
    /// What the transition acted on, as JSON.
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
}

impl<'a> Event<'a> {
    /// An order's transition `t`.
    pub fn order(
        t: Transition,
        order_no: &'a str,
        cause: &'a Cause,
        detail: Option<String>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            order_no,
            refund_no: None,
            transition: t.name,
            to: t.to.as_str(),
            cause,
            detail,
            at,
        }
    }

    /// A move of refund `refund_no` (`transition`, to `to`), in its order's history.
    pub fn refund(
        order_no: &'a str,
        refund_no: &'a str,
        transition: &'a str,
        to: RefundStatus,
        cause: &'a Cause,
        detail: Option<String>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            order_no,
            refund_no: Some(refund_no),
            transition,
            to: to.as_str(),
            cause,
            detail,
            at,
        }
    }
}

/// Writes `event` through `db` (the transition's transaction).
pub(super) async fn record(db: &impl ConnectionTrait, event: Event<'_>) -> Result<(), DbErr> {
    let row = order_event::ActiveModel {
        id: NotSet,
        order_no: Set(event.order_no.to_owned()),
        refund_no: Set(event.refund_no.map(str::to_owned)),
        transition: Set(event.transition.to_owned()),
        to_status: Set(event.to.to_owned()),
        cause: Set(event.cause.to_text().chars().take(200).collect()),
        detail: Set(event.detail),
        at: Set(millis(event.at)),
    };
    order_event::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .map(|_| ())
}

impl SeaStore {
    /// The body of `OrderRepository::history`.
    pub(super) async fn history_of(&self, no: &OrderNo) -> anyhow::Result<Vec<OrderEvent>> {
        order_event::Entity::find()
            .filter(order_event::Column::OrderNo.eq(no.as_str()))
            .order_by_asc(order_event::Column::Id)
            .all(&self.reads)
            .await
            .with_context(|| format!("read the history of order {no}"))?
            .into_iter()
            .map(|row| {
                Ok(OrderEvent {
                    order_no: no.clone(),
                    refund_no: row.refund_no,
                    transition: row.transition,
                    to: row.to_status,
                    cause: row.cause,
                    detail: row.detail,
                    at: from_millis(row.at)?,
                })
            })
            .collect()
    }
}
