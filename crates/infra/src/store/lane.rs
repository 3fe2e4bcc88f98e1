//! The write lane: a store's chat writes run on a thread of their own.
//!
//! Two reasons, and one shape for all three databases:
//! - **A spend is never cut off halfway.** A caller can leave while its spend is in
//!   flight (the client hangs up; the handler's future is dropped). On PostgreSQL the
//!   statement was already sent and commits anyway, so the quota was taken for a call
//!   that never started, and its usage row stayed `started`. On the lane the write runs
//!   to its end and the caller's absence is seen afterwards: the price goes back.
//! - **SQLite's one writing connection is held only as long as SQLite takes.** A
//!   transaction holds it from its first statement to its commit; on the request runtime
//!   each step waits until a worker gets round to the task again, milliseconds under a
//!   thousand open streams, and every other writer queues behind it: the benchmark saw a
//!   0.3 ms spend wait 100–200 ms at p90. On the lane nothing else is queued.
//!
//! PostgreSQL's and MySQL's lane has a pool of its own. Moving their writes there made no
//! difference to the time to first byte that the benchmark could tell from its noise.

use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use std::future::Future;
use std::sync::Arc;

/// A handle to the lane's runtime and the connections its writes use; its thread ends
/// when the last clone is dropped.
#[derive(Debug, Clone)]
pub(super) struct WriteLane {
    handle: tokio::runtime::Handle,
    /// SQLite's one writing connection, or a pool opened on the lane (a socket belongs to
    /// the runtime that opened it, so PostgreSQL's and MySQL's must be the lane's own).
    db: DatabaseConnection,
    _stop: Arc<Stop>,
}

/// Ends the lane's thread when dropped.
#[derive(Debug)]
struct Stop(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for Stop {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            let _ = stop.send(());
        }
    }
}

impl WriteLane {
    /// Starts the lane with SQLite's writing connection `db` (it runs on a thread of
    /// its own, so any runtime may use it).
    pub(super) fn with_connection(db: DatabaseConnection) -> anyhow::Result<WriteLane> {
        let (handle, stop) = start()?;
        Ok(WriteLane {
            handle,
            db,
            _stop: Arc::new(stop),
        })
    }

    /// Starts the lane with a pool of its own, opened on it with `options`.
    pub(super) async fn with_pool(options: ConnectOptions) -> anyhow::Result<WriteLane> {
        let (handle, stop) = start()?;
        let db = handle
            .spawn(Database::connect(options))
            .await
            .map_err(|_| anyhow::anyhow!("the write lane stopped while opening its pool"))??;
        Ok(WriteLane {
            handle,
            db,
            _stop: Arc::new(stop),
        })
    }

    /// The connections the lane's writes use.
    pub(super) fn db(&self) -> &DatabaseConnection {
        &self.db
    }
}

/// Starts the lane's thread and runtime.
fn start() -> anyhow::Result<(tokio::runtime::Handle, Stop)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let handle = runtime.handle().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("chatmall-writes".into())
        .spawn(move || {
            runtime.block_on(async {
                let _ = stopped.await;
            });
        })?;
    Ok((handle, Stop(Some(stop))))
}

/// Runs `write` on `lane` (inline without one) and waits for its outcome. On the lane a
/// write runs to its end even if the caller stops waiting; `undo` is then given what it
/// made, so that nothing is left half done for a caller who is gone (inline, a dropped
/// write's transaction rolls back instead).
pub(super) async fn write<T, W, U>(
    lane: Option<&WriteLane>,
    write: W,
    undo: impl FnOnce(T) -> U + Send + 'static,
) -> anyhow::Result<T>
where
    T: Send + 'static,
    W: Future<Output = anyhow::Result<T>> + Send + 'static,
    U: Future<Output = ()> + Send + 'static,
{
    let Some(lane) = lane else {
        return write.await;
    };
    let (sent, outcome) = tokio::sync::oneshot::channel();
    lane.handle.spawn(async move {
        if let Err(Ok(unclaimed)) = sent.send(write.await) {
            undo(unclaimed).await;
        }
    });
    outcome
        .await
        .map_err(|_| anyhow::anyhow!("a write on the write lane did not finish"))?
}
