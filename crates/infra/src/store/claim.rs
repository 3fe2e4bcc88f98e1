//! The one claim mechanism of every job and of the outbox relay: due rows are leased by
//! setting `lease_until`, so several processes on one database never work on the same row
//! at once, and a crashed worker's lease simply runs out.
//!
//! A plain read first tells whether anything is due at all (most rounds find nothing).
//! Where `UPDATE … RETURNING` exists (SQLite, PostgreSQL) a claim is one statement:
//! `UPDATE … SET lease_until = ? WHERE id IN (due, unleased rows LIMIT n) AND unleased
//! RETURNING *`. SQLite runs it under its one write lock, so it is atomic across processes;
//! PostgreSQL picks the rows with `FOR UPDATE SKIP LOCKED`, so concurrent claimers take
//! different rows instead of waiting for each other, and re-checks the lease on the row
//! it updates. MySQL and MariaDB have no `UPDATE … RETURNING`: there the due rows are read
//! `FOR UPDATE SKIP LOCKED` in a transaction, leased by one UPDATE, and read back.
use super::{SeaStore, millis, rollback};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter, QuerySelect, QueryTrait, Select,
    TransactionTrait, UpdateMany,
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
    /// columns in the same UPDATE); the rows won, as leased, in id order.
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
        let writer = self.writer()?;
        let candidates = due.filter(lease_free(lease.lease_until, now)).limit(limit);
        // Most rounds find nothing due: a plain read says so without a write statement
        // (which takes SQLite's write lock, and costs PostgreSQL a locking plan).
        let any_due = candidates
            .clone()
            .select_only()
            .column(lease.id)
            .limit(1)
            .into_tuple::<i64>()
            .one(&self.reads)
            .await
            .context("claim: look for due rows")?;
        if any_due.is_none() {
            return Ok(Vec::new());
        }
        let lease_them = |update: UpdateMany<E>| {
            also(update)
                .col_expr(lease.lease_until, Expr::value(millis(lease_until)))
                .filter(lease_free(lease.lease_until, now))
        };
        let mut rows = match writer.get_database_backend() {
            DbBackend::Sqlite | DbBackend::Postgres => {
                let mut ids = candidates.select_only().column(lease.id);
                if writer.get_database_backend() == DbBackend::Postgres {
                    ids = ids.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
                }
                lease_them(E::update_many())
                    .filter(lease.id.in_subquery(ids.into_query()))
                    .exec_with_returning(writer)
                    .await
                    .context("claim: lease the due rows")?
            }
            _ => {
                let txn = writer.begin().await.context("claim: begin")?;
                let ids: Vec<i64> = candidates
                    .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                    .all(&txn)
                    .await
                    .context("claim: find due rows")?
                    .iter()
                    .map(|row| (lease.id_of)(row))
                    .collect();
                if ids.is_empty() {
                    rollback(txn).await;
                    return Ok(Vec::new());
                }
                // The rows are locked by this transaction, so the lease takes them all.
                lease_them(E::update_many())
                    .filter(lease.id.is_in(ids.clone()))
                    .exec(&txn)
                    .await
                    .context("claim: lease")?;
                let rows = E::find()
                    .filter(lease.id.is_in(ids))
                    .all(&txn)
                    .await
                    .context("claim: read the leased rows")?;
                txn.commit().await.context("claim: commit")?;
                rows
            }
        };
        rows.sort_by_key(|row| (lease.id_of)(row));
        Ok(rows)
    }
}
