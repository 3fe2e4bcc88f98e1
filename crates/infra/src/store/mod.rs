//! The SeaORM store: one codebase for SQLite, PostgreSQL and MySQL, implementing
//! the domain's ports ([`domain::ports`]).
//!
//! Rows are mapped to domain types here; timestamps are stored as unix milliseconds, money
//! as fen, statuses as the domain's short names.

mod accounts;
mod admin;
mod api_keys;
mod books;
mod chat;
mod checkpoint;
mod claim;
mod connect;
mod credit;
pub use connect::{IfMissing, PoolSize, sqlite_file};
pub use health::PoolUse;
mod delivery;
pub mod entities;
mod file;
mod health;
mod history;
mod jobs;
mod lane;
mod login_codes;
mod operators;
mod orders;
mod outbox;
mod products;
mod quota;
mod redemption;
mod refunds;
mod script;
mod search;
#[cfg(feature = "testing")]
mod test_support;
mod unmatched;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr, SqlErr};

/// The database behind every port: cheap to clone (it shares one connection pool).
#[derive(Debug, Clone)]
pub struct SeaStore {
    /// Every write, and reads inside a write's transaction; reached through
    /// [`SeaStore::writer`].
    db: DatabaseConnection,
    /// Reads on their own: a pool beside SQLite's one writer, so they never queue behind
    /// a write; on PostgreSQL the same pool as `db`.
    reads: DatabaseConnection,
    /// SQLite files only: checkpoints the WAL while any clone of the store lives.
    _checkpointer: Option<checkpoint::Checkpointer>,
    /// SQLite files only: the file the store opened, which must still be there.
    file: Option<std::sync::Arc<file::DatabaseFile>>,
    /// Where the chat's writes run (see [`lane`]); none for an in-memory database.
    lane: Option<lane::WriteLane>,
}

impl SeaStore {
    /// The connection pool, for tests, benchmarks and tools.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The connection every write goes through; an error once the SQLite file the store
    /// opened was removed or replaced, since writes would go to a file nobody will see
    /// again (and the next start would begin with an empty database).
    fn writer(&self) -> anyhow::Result<&DatabaseConnection> {
        if let Some(file) = &self.file {
            file.check()?;
        }
        Ok(&self.db)
    }
}

/// A timestamp as stored: unix milliseconds.
fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// A stored timestamp back as a time.
fn from_millis(ms: i64) -> anyhow::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .with_context(|| format!("stored timestamp {ms} ms is out of range"))
}

/// An optional stored timestamp back as a time.
fn from_millis_opt(ms: Option<i64>) -> anyhow::Result<Option<DateTime<Utc>>> {
    ms.map(from_millis).transpose()
}

/// Ends a transaction that changed nothing worth keeping, now: a dropped transaction is
/// rolled back only when its connection is next used, and on MySQL its row locks (an order
/// a lost transition touched) would stay held until then.
async fn rollback(txn: sea_orm::DatabaseTransaction) {
    if let Err(e) = txn.rollback().await {
        tracing::debug!(error = %e, "rollback failed (the connection is closed with it)");
    }
}

/// Whether the error is a unique-key violation (portable across backends).
fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
