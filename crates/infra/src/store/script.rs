//! Several SQLite statements as one transaction in one round trip.
//!
//! sqlx runs each SQLite connection on a thread of its own and sends it every statement as
//! a message: a transaction of an UPDATE and an INSERT is four round trips (BEGIN, the two,
//! COMMIT), each a wake-up of that thread and then of the caller's. Under a thousand open
//! streams each wake-up waited for a core (bench 8); one script is one round trip.

use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::sqlite::SqliteRow;
use sea_orm::sqlx::{AssertSqlSafe, Sqlite};
use sea_orm::{DatabaseConnection, Statement, Value};
use sea_query_sqlx::SqlxValues;

/// Runs `statements` (built for SQLite, `?` placeholders) between `BEGIN IMMEDIATE` and
/// `COMMIT` as one script on one connection; the rows they return. If any fails, that
/// connection is closed, which rolls back what the script began: nothing changes, and no
/// other writer can find the transaction still open.
pub(super) async fn in_one_transaction(
    db: &DatabaseConnection,
    statements: impl IntoIterator<Item = Statement>,
) -> anyhow::Result<Vec<SqliteRow>> {
    let mut sql = String::from("BEGIN IMMEDIATE;");
    let mut values: Vec<Value> = Vec::new();
    for statement in statements {
        sql.push_str(&statement.sql);
        sql.push(';');
        values.extend(statement.values.into_iter().flat_map(|v| v.0));
    }
    sql.push_str("COMMIT");
    let mut running = Running(Some(db.get_sqlite_connection_pool().acquire().await?));
    let connection = running.0.as_mut().expect("just acquired");
    let outcome = sea_orm::sqlx::query_with(
        AssertSqlSafe(sql),
        SqlxValues(sea_orm::sea_query::Values(values)),
    )
    .fetch_all(&mut **connection)
    .await;
    let connection = running.0.take().expect("still held");
    match outcome {
        Ok(rows) => Ok(rows),
        Err(error) => {
            // Keeps the pool's place until the connection (and its transaction) is gone.
            if let Err(closing) = connection.close().await {
                tracing::warn!(error = %closing, "closing the SQLite connection of a failed script");
            }
            Err(error.into())
        }
    }
}

/// The connection of a script under way. Dropped before the script came back (its caller
/// stopped waiting), it is closed, not given back: sqlx's thread stops a script whose
/// results nobody reads, which would leave its transaction open for the next writer.
struct Running(Option<PoolConnection<Sqlite>>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(connection) = &mut self.0 {
            connection.close_on_drop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ConnectOptions, ConnectionTrait as _, Database, DbBackend};

    fn insert(n: Option<i64>) -> Statement {
        Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "INSERT INTO t (n) VALUES (?) RETURNING n",
            [Value::BigInt(n)],
        )
    }

    /// A database file with a table `t (n INTEGER NOT NULL)`, on one connection as the
    /// store's writer is; the file goes with the directory.
    async fn table_t() -> anyhow::Result<(tempfile::TempDir, DatabaseConnection)> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite:{}?mode=rwc", dir.path().join("t.db").display());
        let mut options = ConnectOptions::new(url);
        options.max_connections(1);
        let db = Database::connect(options).await?;
        db.execute_unprepared("CREATE TABLE t (n INTEGER NOT NULL)")
            .await?;
        Ok((dir, db))
    }

    #[tokio::test]
    async fn a_failed_script_changes_nothing_and_leaves_no_transaction_open() -> anyhow::Result<()>
    {
        let (_dir, db) = table_t().await?;

        let rows = in_one_transaction(&db, [insert(Some(1)), insert(Some(2))]).await?;
        assert_eq!(rows.len(), 2, "each statement's rows come back");
        // The second statement breaks NOT NULL: the first must not stay.
        assert!(
            in_one_transaction(&db, [insert(Some(3)), insert(None)])
                .await
                .is_err()
        );
        // A transaction left open would refuse this script's BEGIN.
        in_one_transaction(&db, [insert(Some(4))]).await?;
        let kept: Vec<i64> = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT n FROM t ORDER BY n",
            ))
            .await?
            .iter()
            .map(|row| row.try_get_by_index(0))
            .collect::<Result<_, _>>()?;
        assert_eq!(kept, [1, 2, 4]);
        Ok(())
    }

    #[tokio::test]
    async fn a_script_its_caller_stopped_waiting_for_is_whole_or_not_at_all() -> anyhow::Result<()>
    {
        let (_dir, db) = table_t().await?;
        // Callers that give up after ever longer waits: some before the script is sent,
        // some while it runs, some after.
        let pair = [insert(Some(1)), insert(Some(2))];
        for wait in 0..60 {
            let patience = std::time::Duration::from_micros(wait * 25);
            let _ = tokio::time::timeout(patience, in_one_transaction(&db, pair.clone())).await;
            // A transaction left open would refuse this script's BEGIN.
            in_one_transaction(&db, pair.clone()).await?;
        }
        let rows: i64 = db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT COUNT(*) FROM t",
            ))
            .await?
            .expect("a count")
            .try_get_by_index(0)?;
        assert_eq!(rows % 2, 0, "a script's two rows stay together");
        assert!(rows >= 120, "every script that was waited for stayed");
        Ok(())
    }
}
