//! Every task the engine starts goes through [`Tasks`]: it has a name (for logs), is tied to a
//! cancellation token, and is tracked so that shutdown can wait for all of them.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A group of named, cancellable, tracked tasks.
#[derive(Clone, Default)]
pub struct Tasks {
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Tasks {
    pub fn new() -> Self {
        Self::default()
    }

    /// A child group: cancelled with this one, or on its own.
    pub fn child(&self) -> Self {
        Self {
            tracker: self.tracker.clone(),
            cancel: self.cancel.child_token(),
        }
    }

    pub fn token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Spawns `fut`, which stops at its next await once the group is cancelled.
    pub fn spawn<F>(&self, name: &'static str, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => tracing::trace!(task = name, "cancelled"),
                _ = fut => tracing::trace!(task = name, "finished"),
            }
        });
    }

    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Cancels every task and waits for them to end, at most `limit`. Returns whether all ended.
    pub async fn shutdown(&self, limit: Duration) -> bool {
        self.cancel.cancel();
        self.tracker.close();
        tokio::time::timeout(limit, self.tracker.wait())
            .await
            .is_ok()
    }
}
