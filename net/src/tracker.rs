//! Counts live connection tasks of every transport, so shutdown can wait for
//! them to drain and caps can be enforced.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Notify;

#[derive(Default)]
pub struct ConnTracker {
    live: AtomicUsize,
    idle: Notify,
}

/// Holds one connection's place until dropped.
pub struct ConnGuard(Arc<ConnTracker>);

impl ConnTracker {
    pub fn enter(self: &Arc<Self>) -> ConnGuard {
        self.live.fetch_add(1, Ordering::AcqRel);
        ConnGuard(self.clone())
    }

    pub fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Resolves once no connection is left.
    pub async fn wait_idle(&self) {
        loop {
            let idle = self.idle.notified();
            if self.live() == 0 {
                return;
            }
            idle.await;
        }
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}
