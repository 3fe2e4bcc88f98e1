//! The write lane: an SQLite store's chat writes run on a thread of their own.
//!
//! SQLite has one writing connection. A transaction holds it from its first statement to
//! its commit and waits between statements; on the request runtime each wait ends only
//! when a worker gets round to the task again. Under a thousand open streams that is
//! milliseconds per statement, and every other writer queues behind the one holding the
//! connection: the benchmark saw a 0.3 ms spend wait 100–200 ms at p90. On the lane
//! nothing else is queued, so the connection is held about as long as SQLite takes.
//! PostgreSQL and MySQL have a pool of writing connections and need no lane.

use std::future::Future;
use std::sync::Arc;

/// A handle to the lane's runtime; its thread ends when the last clone is dropped.
#[derive(Debug, Clone)]
pub(super) struct WriteLane {
    handle: tokio::runtime::Handle,
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
    /// Starts the lane's thread.
    pub(super) fn start() -> anyhow::Result<WriteLane> {
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
        Ok(WriteLane {
            handle,
            _stop: Arc::new(Stop(Some(stop))),
        })
    }
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
