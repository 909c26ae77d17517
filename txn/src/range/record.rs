//! Transaction records: finishing a transaction (EndTxn, including the one-phase fast path),
//! heartbeats, pushes and queries. A record lives in the range of its transaction's anchor key,
//! under a local key, and is written only when needed: by the first heartbeat of a transaction
//! that holds locks or intents, by a two-phase commit or abort, or by a pusher that aborts an
//! abandoned transaction.

use super::eval::WriteCheck;
use super::latch::{LatchSpan, Span};
use super::{Eval, Range, Router};
use crate::api::{Header, Request, Response, TxnRecord, TxnStatus};
use crate::{Error, Result, RetryReason};
use kv::engine::WriteBatch;
use kv::keys::LOCAL_PREFIX;
use kv::mvcc::{Mvcc, TxnId, TxnMeta};
use kv::Timestamp;
use std::time::Duration;

/// How long one push waits in the pushee's queue before the pusher re-checks for deadlocks
/// and its own fate.
pub const PUSH_WAIT: Duration = Duration::from_millis(50);

/// The second byte of transaction record keys (after [`LOCAL_PREFIX`]).
pub const RECORD_KIND: u8 = b'T';

/// The local key of a transaction record: `0x01 'T' meta_key(anchor) id`. Records sort by
/// anchor (the escaped, terminated form keeps the order and is prefix-free), so the records of
/// a range's span are one contiguous span too ([`record_span`]): snapshots and splits move them
/// with the range's data.
pub fn record_key(id: TxnId, anchor: &[u8]) -> Vec<u8> {
    let mut k = record_prefix(anchor);
    k.extend_from_slice(&id.0.to_be_bytes());
    k
}

pub(super) fn record_prefix(anchor: &[u8]) -> Vec<u8> {
    let mut k = vec![LOCAL_PREFIX, RECORD_KIND];
    k.extend_from_slice(&kv::mvcc::meta_key(anchor));
    k
}

/// The local key span holding the records of transactions anchored in `[start, end)`.
pub fn record_span(start: &[u8], end: Option<&[u8]>) -> (Vec<u8>, Vec<u8>) {
    let end = match end {
        Some(e) => record_prefix(e),
        None => vec![LOCAL_PREFIX, RECORD_KIND + 1],
    };
    (record_prefix(start), end)
}

fn no_txn() -> Error {
    Error::Internal("transaction request without a transaction".into())
}

impl Range {
    fn read_record(&self, id: TxnId, anchor: &[u8]) -> Result<Option<TxnRecord>> {
        match self.mvcc.engine().get(&record_key(id, anchor))? {
            Some(raw) => postcard::from_bytes(&raw)
                .map(Some)
                .map_err(|e| Error::Internal(format!("bad transaction record: {e}"))),
            None => Ok(None),
        }
    }

    fn put_record(batch: &mut WriteBatch, rec: &TxnRecord) {
        let raw = postcard::to_allocvec(rec).unwrap_or_default();
        batch.put(record_key(rec.meta.id, &rec.meta.anchor), raw);
    }

    fn record_latch(meta: &TxnMeta) -> LatchSpan {
        LatchSpan {
            span: Span::key(&record_key(meta.id, &meta.anchor)),
            write: true,
        }
    }

    fn expired(&self, since: Timestamp) -> bool {
        let now = self.clock.now();
        now.physical_ms() > since.physical_ms() + self.cfg.txn_expiration_ms
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn eval_end_txn(
        &self,
        router: &dyn Router,
        h: &Header,
        commit: bool,
        one_phase: &[(Vec<u8>, Option<Vec<u8>>)],
        refreshed_to: Option<Timestamp>,
        refresh_spans: &[(Vec<u8>, Option<Vec<u8>>)],
        lock_keys: &[Vec<u8>],
    ) -> Result<Eval> {
        let txn = h.txn.as_ref().ok_or_else(no_txn)?;
        let mut latches = vec![Self::record_latch(txn)];
        // Reads this range may refresh itself (only when it holds all of them), latched for
        // reading so no write lands in them between the check and the commit.
        let refresh: Vec<Span> = refresh_spans
            .iter()
            .map(|(start, end)| Span {
                start: start.clone(),
                end: end.clone(),
            })
            .collect();
        let local_refresh = !refresh.is_empty() && refresh.iter().all(|s| self.span.covers(s));
        if local_refresh {
            latches.extend(refresh.iter().map(|s| LatchSpan {
                span: s.clone(),
                write: false,
            }));
        }
        for (k, _) in one_phase {
            latches.push(LatchSpan {
                span: Span::key(k),
                write: true,
            });
        }
        for k in lock_keys.iter().filter(|k| self.span.contains(k)) {
            latches.push(LatchSpan {
                span: Span::key(k),
                write: true,
            });
        }
        if !self.span.contains(&txn.anchor) || one_phase.iter().any(|(k, _)| !self.span.contains(k))
        {
            return Err(Error::RangeKeyMismatch(
                "a one-phase commit's keys span more than one range".into(),
            ));
        }
        let latch = self.latches.acquire(latches);
        let rec = self.read_record(txn.id, &txn.anchor)?;
        match rec.as_ref().map(|r| r.status) {
            Some(TxnStatus::Aborted) => {
                drop(latch);
                self.release_after_abort(router, h, txn, lock_keys);
                return Err(Error::Retry {
                    reason: RetryReason::AbortedRecordFound,
                    detail: format!("txn {} was aborted by a conflicting transaction", txn.id),
                });
            }
            Some(TxnStatus::Committed) => {
                return Ok(Eval::Done(Response {
                    write_ts: rec.map(|r| r.commit_ts),
                    ..Response::default()
                }))
            }
            _ => {}
        }
        let mut batch = WriteBatch::new();
        let mut commit_ts = txn.write_ts;
        if commit && !one_phase.is_empty() {
            let mut wto = false;
            for (k, _) in one_phase {
                match self.check_write(k, txn, commit_ts)? {
                    WriteCheck::Blocked(pushee) => {
                        return Ok(Eval::Conflict {
                            pushee,
                            key: k.clone(),
                        })
                    }
                    WriteCheck::Clear { ts, wto: w, .. } => {
                        commit_ts = ts;
                        wto |= w;
                    }
                }
            }
            // Moving up needs every read valid at the new timestamp: the unlisted ones (the
            // coordinator says up to where) and the listed ones (refreshed here).
            let may_move = |ts: Timestamp| refreshed_to.is_some_and(|to| ts <= to);
            let moved_ok = commit_ts <= txn.write_ts
                || (may_move(commit_ts)
                    && (refresh.is_empty()
                        || (local_refresh && self.refresh_here(h, &refresh, commit_ts)?)));
            if !moved_ok {
                return Ok(Eval::Done(Response {
                    write_ts: Some(commit_ts),
                    write_too_old: wto,
                    needs_refresh: true,
                    ..Response::default()
                }));
            }
            for (k, v) in one_phase {
                Mvcc::put_version(&mut batch, k, commit_ts, v.as_deref())?;
            }
        }
        let status = if commit {
            TxnStatus::Committed
        } else {
            TxnStatus::Aborted
        };
        let resolve_ts = commit.then_some(commit_ts);
        let mut remote = Vec::new();
        for k in lock_keys {
            if self.span.contains(k) {
                self.resolve_into(&mut batch, k, txn.id, resolve_ts, &h.ignored)?;
            } else {
                remote.push(k.clone());
            }
        }
        if rec.is_some() || !remote.is_empty() {
            Self::put_record(
                &mut batch,
                &TxnRecord {
                    meta: txn.clone(),
                    status,
                    commit_ts,
                    last_heartbeat: self.clock.now(),
                    lock_keys: remote.clone(),
                    ignored: h.ignored.clone(),
                },
            );
        }
        if !batch.is_empty() {
            if commit {
                self.note_written(commit_ts);
            }
            self.writer.write(batch, commit && self.cfg.sync)?;
        }
        drop(latch);
        self.waitq.finished();
        self.resolve_async(h, txn.id, resolve_ts, remote);
        Ok(Eval::Done(Response {
            write_ts: Some(commit_ts),
            ..Response::default()
        }))
    }

    /// Hands intents on other ranges to the background resolver: one task for all of them,
    /// which it sends as one request per range ([`resolve_everywhere`]).
    fn resolve_async(
        &self,
        h: &Header,
        id: TxnId,
        commit_ts: Option<Timestamp>,
        keys: Vec<Vec<u8>>,
    ) {
        if keys.is_empty() {
            return;
        }
        let req = Request::Resolve {
            keys,
            txn: id,
            commit_ts,
            ignored: h.ignored.clone(),
        };
        // The resolver only stops when the store shuts down; then cleanup is moot.
        let _ = self.resolver.lock().send((h.clone(), req));
    }

    /// A transaction that finds itself aborted still releases what it holds: the keys here at
    /// once, the others through the background resolver.
    fn release_after_abort(
        &self,
        router: &dyn Router,
        h: &Header,
        txn: &TxnMeta,
        keys: &[Vec<u8>],
    ) {
        let (mine, others): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
            keys.iter().cloned().partition(|k| self.span.contains(k));
        if !mine.is_empty() {
            let req = Request::Resolve {
                keys: mine,
                txn: txn.id,
                commit_ts: None,
                ignored: h.ignored.clone(),
            };
            let _ = self.execute(router, h, &req);
        }
        self.resolve_async(h, txn.id, None, others);
        self.waitq.finished();
    }

    pub(super) fn eval_heartbeat(&self, h: &Header) -> Result<Response> {
        let txn = h.txn.as_ref().ok_or_else(no_txn)?;
        let _latch = self.latches.acquire(vec![Self::record_latch(txn)]);
        let now = self.clock.now();
        let mut rec = match self.read_record(txn.id, &txn.anchor)? {
            Some(r) if r.status != TxnStatus::Pending => {
                return Ok(Response {
                    status: Some(r.status),
                    ..Response::default()
                })
            }
            Some(r) => r,
            None => TxnRecord {
                meta: txn.clone(),
                status: TxnStatus::Pending,
                commit_ts: Timestamp::ZERO,
                last_heartbeat: now,
                lock_keys: Vec::new(),
                ignored: Vec::new(),
            },
        };
        rec.last_heartbeat = now;
        let mut batch = WriteBatch::new();
        Self::put_record(&mut batch, &rec);
        self.writer.write(batch, false)?;
        Ok(Response {
            status: Some(TxnStatus::Pending),
            ..Response::default()
        })
    }

    /// Aborts `pushee` by writing an ABORTED record (its intents are resolved by whoever
    /// meets them).
    fn abort_record(&self, pushee: &TxnMeta, rec: Option<TxnRecord>) -> Result<Response> {
        let mut rec = rec.unwrap_or(TxnRecord {
            meta: pushee.clone(),
            status: TxnStatus::Aborted,
            commit_ts: Timestamp::ZERO,
            last_heartbeat: Timestamp::ZERO,
            lock_keys: Vec::new(),
            ignored: Vec::new(),
        });
        rec.status = TxnStatus::Aborted;
        let mut batch = WriteBatch::new();
        Self::put_record(&mut batch, &rec);
        self.writer.write(batch, false)?;
        self.waitq.finished();
        Ok(Response {
            status: Some(TxnStatus::Aborted),
            ignored: rec.ignored,
            ..Response::default()
        })
    }

    pub(super) fn eval_push(
        &self,
        h: &Header,
        pushee: &TxnMeta,
        dependents: &[TxnId],
    ) -> Result<Response> {
        {
            let _latch = self.latches.acquire(vec![Self::record_latch(pushee)]);
            let rec = self.read_record(pushee.id, &pushee.anchor)?;
            match &rec {
                Some(r) if r.status != TxnStatus::Pending => {
                    return Ok(Response {
                        status: Some(r.status),
                        commit_ts: Some(r.commit_ts),
                        ignored: r.ignored.clone(),
                        ..Response::default()
                    })
                }
                Some(r) if self.expired(r.last_heartbeat) => {
                    return self.abort_record(pushee, rec);
                }
                None if self.expired(pushee.min_ts) => return self.abort_record(pushee, rec),
                _ => {}
            }
            if let Some(pusher) = h.txn.as_ref() {
                if dependents.contains(&pushee.id) {
                    // A cycle: the transaction with the lower priority (then the larger id)
                    // is aborted, a choice both sides of the cycle agree on.
                    let pushee_loses = (pushee.priority, std::cmp::Reverse(pushee.id))
                        < (pusher.priority, std::cmp::Reverse(pusher.id));
                    if pushee_loses {
                        return self.abort_record(pushee, rec);
                    }
                    return Err(Error::Retry {
                        reason: RetryReason::PusherAborted,
                        detail: format!(
                            "deadlock: txn {} and txn {} wait for each other; {} was chosen to abort",
                            pusher.id, pushee.id, pusher.id
                        ),
                    });
                }
            }
        }
        let pusher = h.txn.as_ref().map(|t| t.id);
        self.waitq.wait(pushee.id, pusher, dependents, PUSH_WAIT);
        Ok(Response {
            status: Some(TxnStatus::Pending),
            ..Response::default()
        })
    }

    pub(super) fn eval_query(&self, id: TxnId, anchor: &[u8]) -> Result<Response> {
        let rec = self.read_record(id, anchor)?;
        Ok(Response {
            status: rec.as_ref().map(|r| r.status),
            commit_ts: rec.as_ref().map(|r| r.commit_ts),
            dependents: self.waitq.dependents(id),
            ..Response::default()
        })
    }
}

/// Sends a [`Request::Resolve`] to every range its keys are in, one range after another (each
/// range resolves its keys in one write and hands back the rest): how the background
/// resolvers run the tasks [`Range`]s queue.
pub fn resolve_everywhere(router: &dyn Router, h: &Header, req: Request) -> Result<()> {
    let mut req = req;
    loop {
        let rest = router.route(h, &req)?.rest_keys;
        if rest.is_empty() {
            return Ok(());
        }
        if let Request::Resolve { keys, .. } = &mut req {
            if rest.len() >= keys.len() {
                return Err(Error::Internal(
                    "a range resolved none of the keys routed to it".into(),
                ));
            }
            *keys = rest;
        } else {
            return Ok(());
        }
    }
}
