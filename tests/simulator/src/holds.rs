//! Answers held back: a request to a held route is answered from the state it arrived in, but the
//! answer leaves only when the route is released, as when Immuta is slow to answer one read
//! while the tenant changes under it. Tests use it to set an older read against a newer one.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

#[derive(Default)]
pub struct Holds {
    routes: Mutex<BTreeSet<String>>,
    released: Notify,
    waiting: AtomicUsize,
}

impl Holds {
    pub fn hold(&self, route: &str) {
        self.routes.lock().unwrap().insert(route.to_owned());
    }

    pub fn release(&self, route: &str) {
        self.routes.lock().unwrap().remove(route);
        self.released.notify_waiters();
    }

    /// How many answers are held now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Waits until `route` is not held (at once when it is not).
    pub async fn pass(&self, route: &str) {
        let mut counted = false;
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            // Registered before the check, so a release between the two is not missed.
            released.as_mut().enable();
            if !self.routes.lock().unwrap().contains(route) {
                break;
            }
            if !counted {
                self.waiting.fetch_add(1, Ordering::SeqCst);
                counted = true;
            }
            released.await;
        }
        if counted {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Waits until `count` answers are held, up to `limit`; whether they are.
    pub async fn until_waiting(&self, count: usize, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while self.waiting() < count {
            if Instant::now() > end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }
}
