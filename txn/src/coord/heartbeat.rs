//! Heartbeats: a transaction that holds locks or intents keeps its record alive, so that the
//! transactions it blocks can tell a slow transaction from an abandoned one. One thread per
//! store beats for every such transaction of this node each [`HEARTBEAT_INTERVAL`], and flags a
//! transaction whose record was found aborted so that its next operation fails fast.

use crate::api::{Header, Request, TxnStatus};
use crate::sender::Sender;
use kv::mvcc::TxnId;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Time between heartbeats of one transaction (the expiration is five of them).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// The transactions of a node that hold locks or intents.
#[derive(Default)]
pub struct Heartbeater {
    entries: Mutex<HashMap<TxnId, (Header, Arc<AtomicBool>)>>,
}

impl Heartbeater {
    /// Starts the heartbeat thread sending through `store`.
    pub fn start(store: &Arc<dyn Sender>) -> Arc<Heartbeater> {
        let hb = Arc::new(Heartbeater::default());
        let weak_hb = Arc::downgrade(&hb);
        let weak_store: Weak<dyn Sender> = Arc::downgrade(store);
        std::thread::Builder::new()
            .name("txn-heartbeat".into())
            .spawn(move || loop {
                std::thread::sleep(HEARTBEAT_INTERVAL);
                let (Some(hb), Some(store)) = (weak_hb.upgrade(), weak_store.upgrade()) else {
                    return;
                };
                hb.beat_all(store.as_ref());
            })
            .ok();
        hb
    }

    fn beat_all(&self, store: &dyn Sender) {
        let entries: Vec<(Header, Arc<AtomicBool>)> =
            self.entries.lock().values().cloned().collect();
        for (h, aborted) in entries {
            if let Ok(r) = store.route(&h, &Request::Heartbeat) {
                if r.status == Some(TxnStatus::Aborted) {
                    aborted.store(true, Ordering::SeqCst);
                }
            }
        }
    }

    /// Starts beating for a transaction; the flag turns true if it is found aborted.
    pub fn register(&self, h: Header, aborted: Arc<AtomicBool>) {
        if let Some(t) = h.txn.as_ref() {
            self.entries.lock().insert(t.id, (h, aborted));
        }
    }

    /// Stops beating for a transaction.
    pub fn unregister(&self, id: TxnId) {
        self.entries.lock().remove(&id);
    }
}
