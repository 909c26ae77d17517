//! The push wait queue of a range: transactions blocked by a transaction whose record lives
//! here wait for it to finish, and leave behind who waits for them, which is how deadlocks are
//! found without any global view.
//!
//! Each waiter registers `(pusher, dependents)`: the transactions known to wait, directly or
//! transitively, for the pusher (learned by querying the pusher's own record range). The
//! dependents of a transaction X are then every pusher waiting on X plus their dependents. A
//! pusher that finds its pushee among its own dependents has found a cycle.

use kv::mvcc::TxnId;
use parking_lot::{Condvar, Mutex};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

struct Waiter {
    token: u64,
    pusher: TxnId,
    dependents: Vec<TxnId>,
}

#[derive(Default)]
struct State {
    next_token: u64,
    /// Pushee -> its waiters.
    waiting: HashMap<TxnId, Vec<Waiter>>,
    /// Bumped whenever a transaction finishes, so sleepers can tell.
    finished: u64,
}

/// Waiters on the transactions anchored in one range.
#[derive(Default)]
pub struct WaitQueue {
    state: Mutex<State>,
    changed: Condvar,
}

impl WaitQueue {
    /// Waits (at most `max`) for `pushee` to finish, registered as `pusher` with its
    /// dependents. Returns early when any transaction of this range finishes.
    pub fn wait(&self, pushee: TxnId, pusher: Option<TxnId>, dependents: &[TxnId], max: Duration) {
        let mut s = self.state.lock();
        s.next_token += 1;
        let token = s.next_token;
        if let Some(p) = pusher {
            s.waiting.entry(pushee).or_default().push(Waiter {
                token,
                pusher: p,
                dependents: dependents.to_vec(),
            });
        }
        let seen = s.finished;
        let deadline = std::time::Instant::now() + max;
        while s.finished == seen {
            if self.changed.wait_until(&mut s, deadline).timed_out() {
                break;
            }
        }
        if let Some(list) = s.waiting.get_mut(&pushee) {
            list.retain(|w| w.token != token);
            if list.is_empty() {
                s.waiting.remove(&pushee);
            }
        }
    }

    /// Wakes everyone waiting on this range's transactions (one of them finished).
    pub fn finished(&self) {
        let mut s = self.state.lock();
        s.finished += 1;
        drop(s);
        self.changed.notify_all();
    }

    /// The transactions waiting, directly or transitively, for `txn`.
    pub fn dependents(&self, txn: TxnId) -> Vec<TxnId> {
        let s = self.state.lock();
        let mut out = HashSet::new();
        if let Some(list) = s.waiting.get(&txn) {
            for w in list {
                out.insert(w.pusher);
                out.extend(w.dependents.iter().copied());
            }
        }
        let mut v: Vec<TxnId> = out.into_iter().collect();
        v.sort();
        v
    }
}
