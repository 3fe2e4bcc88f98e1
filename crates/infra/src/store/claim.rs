//! The one claim mechanism of every job and of the outbox relay: due rows are leased by
//! setting `lease_until`, so several processes on one database never work on the same row
//! at once, and a crashed worker's lease simply runs out.
//!
//! In one transaction: the due, unleased rows are read — locked with `FOR UPDATE SKIP
//! LOCKED` on PostgreSQL and MySQL, so concurrent claimers take different rows instead of
//! waiting for each other — then leased by one UPDATE that still requires them unleased.
//! SQLite has no row locks: there its one writer serialises claims within a process, and
//! if another process leased some of the rows in between, only the rows carrying this
//! claim's lease are kept.

use super::{SeaStore, millis, rollback};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect,
    Select, TransactionTrait, UpdateMany,
};

/// The lease columns of a claimable table.
pub(super) struct Lease<E: EntityTrait> {
    pub id: E::Column,
    pub lease_until: E::Column,
    /// A row's id.
    pub id_of: fn(&E::Model) -> i64,
}

/// No worker holds the row: never leased, or the lease ran out.
pub(super) fn lease_free<C: ColumnTrait>(lease_until: C, now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(lease_until.is_null())
        .add(lease_until.lt(millis(now)))
}

impl SeaStore {
    /// Leases up to `limit` of the `due` rows until `lease_until` (with `also` setting more
    /// columns in the same UPDATE); the rows won, as they were read.
    pub(super) async fn claim<E>(
        &self,
        lease: &Lease<E>,
        due: Select<E>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
        also: impl FnOnce(UpdateMany<E>) -> UpdateMany<E>,
    ) -> anyhow::Result<Vec<E::Model>>
    where
        E: EntityTrait,
        E::Model: Sync,
    {
        let txn = self.writer()?.begin().await.context("claim: begin")?;
        let sqlite = txn.get_database_backend() == DbBackend::Sqlite;
        let mut candidates = due.filter(lease_free(lease.lease_until, now)).limit(limit);
        if !sqlite {
            candidates = candidates.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let rows = candidates.all(&txn).await.context("claim: find due rows")?;
        if rows.is_empty() {
            rollback(txn).await;
            return Ok(rows);
        }
        let ids: Vec<i64> = rows.iter().map(|row| (lease.id_of)(row)).collect();
        let leased = also(E::update_many())
            .col_expr(lease.lease_until, Expr::value(millis(lease_until)))
            .filter(lease.id.is_in(ids.clone()))
            .filter(lease_free(lease.lease_until, now))
            .exec(&txn)
            .await
            .context("claim: lease")?
            .rows_affected;
        let rows = if usize::try_from(leased).ok() == Some(rows.len()) {
            rows
        } else {
            // Only SQLite shared by processes gets here: keep what carries our lease.
            let ours: Vec<i64> = E::find()
                .filter(lease.id.is_in(ids))
                .filter(lease.lease_until.eq(millis(lease_until)))
                .all(&txn)
                .await
                .context("claim: read the leases back")?
                .iter()
                .map(|row| (lease.id_of)(row))
                .collect();
            rows.into_iter()
                .filter(|row| ours.contains(&(lease.id_of)(row)))
                .collect()
        };
        txn.commit().await.context("claim: commit")?;
        Ok(rows)
    }
}
