//! What the simulation does when a request is blocked by another transaction.
//!
//! The real push waits (up to `PUSH_WAIT`, then again) in the pushee's wait queue for the
//! pushee to finish. On one thread the pushee can never make progress meanwhile, so the router
//! intercepts every Push and decides, with the seeded RNG, what the rest of the world does
//! while the pusher would wait:
//! - finish the holder first (its coordinator commits or rolls back, nested inside the
//!   pusher's request), then let the push through: it finds the record finished;
//! - abandon the holder (its coordinator crashes), then advance virtual time past the
//!   expiration: the push aborts the record, and the pusher resolves the intent;
//! - stall the holder: its coordinator stays alive but misses its heartbeats while virtual time
//!   passes the expiration; the push aborts it and the holder finds out at its next request;
//! - the pusher gives up (as a lock timeout would): the request fails with a retry error.
//!
//! A holder that is itself executing further up the stack (it pushed someone who pushed this
//! transaction) is a deadlock: the pusher is aborted, as deadlock detection would abort one of
//! them. A holder that already finished or was abandoned gets the real push.

use super::driver::TxnState;
use super::world::World;
use kv::mvcc::TxnMeta;
use std::sync::atomic::Ordering;
use txn::api::{Header, Request, Response, TxnStatus};
use txn::{Error, Result, RetryReason};

/// Rounds of interception for one push before the driver declares a livelock.
const MAX_PUSH_ROUNDS: usize = 8;

/// What to do about a live holder.
enum Choice {
    FinishFirst { commit: bool },
    Abandon,
    Stall,
    GiveUp,
}

impl World {
    /// Handles a Push from the driver's thread (see the module docs).
    pub(crate) fn intercept_push(
        &self,
        h: &Header,
        req: &Request,
        pushee: &TxnMeta,
    ) -> Result<Response> {
        for _ in 0..MAX_PUSH_ROUNDS {
            let (idx, state) = {
                let rt = self.rt.lock();
                match rt.by_id.get(&pushee.id) {
                    Some(&i) => (Some(i), rt.txns[i].state),
                    None => (None, TxnState::Abandoned),
                }
            };
            match (idx, state) {
                (Some(i), TxnState::Live) => match self.choose() {
                    Choice::FinishFirst { commit } => {
                        self.count(|s| s.push_finish_first += 1);
                        self.trace(format!("push: finish T{i} first (commit={commit})"));
                        self.finish_txn(i, commit);
                    }
                    Choice::Abandon => {
                        self.count(|s| s.push_abandon += 1);
                        self.trace(format!("push: T{i}'s coordinator crashes"));
                        self.abandon(i);
                    }
                    Choice::Stall => {
                        self.count(|s| s.push_stall += 1);
                        self.trace(format!("push: T{i} stalls past its expiration"));
                        self.expire(Some(i));
                        return self.push_through(h, req);
                    }
                    Choice::GiveUp => {
                        self.count(|s| s.push_give_up += 1);
                        self.trace(format!("push: the pusher gives up waiting for T{i}"));
                        return Err(Error::Retry {
                            reason: RetryReason::PusherAborted,
                            detail: format!("sim: lock wait on T{i} timed out"),
                        });
                    }
                },
                (Some(i), TxnState::Busy) => {
                    self.count(|s| s.push_deadlock += 1);
                    self.trace(format!("push: T{i} is waiting on the pusher (deadlock)"));
                    return Err(Error::Retry {
                        reason: RetryReason::PusherAborted,
                        detail: format!("sim: deadlock with T{i}, the pusher is aborted"),
                    });
                }
                (idx, state) => return self.push_finished(h, req, pushee, idx, state),
            }
        }
        panic!("livelock: a push was intercepted {MAX_PUSH_ROUNDS} times");
    }

    /// The holder finished or was abandoned: the real push, after virtual time passed its
    /// expiration if its record is not finished.
    fn push_finished(
        &self,
        h: &Header,
        req: &Request,
        pushee: &TxnMeta,
        idx: Option<usize>,
        state: TxnState,
    ) -> Result<Response> {
        let q = self.dispatch(
            h,
            &Request::Query {
                id: pushee.id,
                anchor: pushee.anchor.clone(),
            },
        )?;
        if matches!(
            q.status,
            Some(TxnStatus::Committed) | Some(TxnStatus::Aborted)
        ) {
            return self.push_through(h, req);
        }
        if let (Some(i), TxnState::Finished) = (idx, state) {
            // Finished without a finished record (it had none): its intents and locks are
            // gone, so a request that meets one again means it left them behind; the first
            // time, simply evaluate again (the wait queue would have woken up).
            let mut rt = self.rt.lock();
            rt.txns[i].pending_pushes += 1;
            if rt.txns[i].pending_pushes == 1 {
                return Ok(Response {
                    status: Some(TxnStatus::Pending),
                    ..Response::default()
                });
            }
            rt.trace
                .event(format!("push: finished T{i} still in the way, expiring it"));
        }
        self.expire(None);
        self.push_through(h, req)
    }

    fn push_through(&self, h: &Header, req: &Request) -> Result<Response> {
        self.count(|s| s.push_through += 1);
        let r = self.dispatch(h, req)?;
        self.trace(format!("push -> {:?}", r.status));
        Ok(r)
    }

    fn choose(&self) -> Choice {
        let mut rt = self.rt.lock();
        let faults = self.cfg.faults;
        let n = rt.rng.below(100);
        match n {
            _ if !faults => Choice::FinishFirst {
                commit: rt.rng.chance(0.8),
            },
            0..=54 => Choice::FinishFirst {
                commit: rt.rng.chance(0.8),
            },
            55..=69 => Choice::Abandon,
            70..=79 => Choice::Stall,
            _ => Choice::GiveUp,
        }
    }

    /// Moves virtual time past the transaction expiration, then heartbeats every live
    /// transaction except `stalled` (their coordinators are alive; abandoned ones are not).
    pub(crate) fn expire(&self, stalled: Option<usize>) {
        // Past the expiration on every node's clock, whatever its skew.
        self.advance(self.cfg.expiration_ms + 2 * self.cfg.max_skew_ms + 1);
        self.count(|s| s.expiries += 1);
        self.trace(format!(
            "virtual time +{} ms (expiry)",
            self.cfg.expiration_ms + 2 * self.cfg.max_skew_ms + 1
        ));
        self.heartbeat_live(stalled, 0);
    }

    /// Heartbeats live, anchored transactions whose last beat is at least `every_ms` old.
    pub(crate) fn heartbeat_live(&self, except: Option<usize>, every_ms: u64) {
        let now_ms = self.virtual_ms();
        let due: Vec<(usize, Header)> = {
            let rt = self.rt.lock();
            rt.txns
                .iter()
                .enumerate()
                .filter(|(i, t)| {
                    Some(*i) != except
                        && matches!(t.state, TxnState::Live | TxnState::Busy)
                        && now_ms.saturating_sub(t.last_beat_ms) >= every_ms
                })
                .filter_map(|(i, t)| {
                    let h = t.header.clone()?;
                    let anchored = h.txn.as_ref().is_some_and(|m| !m.anchor.is_empty());
                    anchored.then_some((i, h))
                })
                .collect()
        };
        for (i, h) in due {
            if self.dead.load(Ordering::SeqCst) {
                return;
            }
            let r = self.dispatch(&h, &Request::Heartbeat);
            let mut rt = self.rt.lock();
            rt.txns[i].last_beat_ms = now_ms;
            rt.stats.heartbeats += 1;
            let status = r
                .map(|r| format!("{:?}", r.status))
                .unwrap_or_else(|e| format!("error {}", super::world::error_kind(&e)));
            rt.trace.event(format!("heartbeat T{i} -> {status}"));
        }
    }

    pub(crate) fn count(&self, f: impl FnOnce(&mut super::world::Stats)) {
        f(&mut self.rt.lock().stats);
    }

    pub(crate) fn trace(&self, line: String) {
        self.rt.lock().trace.event(line);
    }
}
