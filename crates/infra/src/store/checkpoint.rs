//! SQLite WAL checkpoints off the request path.
//!
//! By default SQLite checkpoints inside the commit that pushes the WAL past 1000 pages,
//! and the checkpoint's fsync lands on whichever request made that commit (bench 2 saw one
//! checkout in ~70 take 5–6 ms instead of ~1.5). Here a background task checkpoints on a
//! connection of its own, outside the pool; the in-commit checkpoint stays only as a
//! backstop at a much larger WAL, for when the task cannot keep up or has stopped.

use anyhow::Context as _;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sea_orm::sqlx::{ConnectOptions as _, Row as _};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often the background task checkpoints.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// WAL pages (4 KiB each) after which a commit checkpoints by itself: 64 MiB, far beyond
/// what half a second of writes adds, so requests only pay for it if the task stalls.
pub(super) const BACKSTOP_AUTOCHECKPOINT_PAGES: u32 = 16_384;

/// The running checkpoint task; it stops when the last clone of its store is dropped.
#[derive(Debug, Clone)]
pub(super) struct Checkpointer {
    _task: Arc<AbortOnDrop>,
}

#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Checkpointer {
    /// Opens the task's own connection to the database file and starts checkpointing.
    pub(super) async fn start(options: SqliteConnectOptions) -> anyhow::Result<Checkpointer> {
        let connection = options
            .connect()
            .await
            .context("open the SQLite checkpoint connection")?;
        let task = tokio::spawn(run(connection));
        Ok(Checkpointer {
            _task: Arc::new(AbortOnDrop(task)),
        })
    }
}

async fn run(mut connection: SqliteConnection) {
    let mut ticks = tokio::time::interval(CHECKPOINT_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticks.tick().await;
        match checkpoint(&mut connection).await {
            Ok(()) => failing = false,
            // One log per run of failures: the backstop keeps the WAL bounded meanwhile.
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(error = ?error, "SQLite checkpoint failed; commits will checkpoint past the backstop size");
            }
            Err(_) => {}
        }
    }
}

/// Copies committed WAL frames into the database file without waiting on any reader or
/// writer (PASSIVE); a frame a reader still needs is left for the next round.
async fn checkpoint(connection: &mut SqliteConnection) -> anyhow::Result<()> {
    let row = sea_orm::sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(&mut *connection)
        .await?;
    let (wal_frames, copied): (i64, i64) = (row.try_get(1)?, row.try_get(2)?);
    tracing::trace!(wal_frames, copied, "SQLite checkpoint");
    Ok(())
}
