//! Evaluation of reads, intent writes and intent resolution (refreshes: [`super::refresh`]).

use super::latch::{LatchSpan, Span};
use super::{Eval, Range};
use crate::api::{Header, KeyWrites, Response};
use crate::{Error, LockStrength, Result};
use kv::engine::WriteBatch;
use kv::mvcc::{Intent, Mvcc, ReadOpts, ReadResult, Seq, TxnId, TxnMeta};
use kv::Timestamp;

/// The outcome of [`Range::check_write`].
pub(super) enum WriteCheck {
    /// Another transaction's lock or intent is on the key.
    Blocked(TxnMeta),
    /// The write may proceed at `ts`; `own` is the writer's existing intent on the key.
    Clear {
        own: Option<Intent>,
        ts: Timestamp,
        wto: bool,
    },
}

impl Range {
    fn read_opts<'a>(&self, h: &'a Header, locking: bool) -> ReadOpts<'a> {
        ReadOpts {
            ts: h.read_ts,
            uncertainty_limit: h.uncertainty_limit,
            txn: h.txn.as_ref().map(|t| (t.id, &h.ignored[..])),
            locking,
            ignore_intents: false,
            skip_own_intents: false,
        }
    }

    pub(super) fn check_gc_threshold(&self, ts: Timestamp) -> Result<()> {
        let threshold = self.gc_threshold();
        if ts < threshold {
            return Err(Error::BelowGcThreshold { ts, threshold });
        }
        Ok(())
    }

    /// Clamps `end` to the range; returns the effective end and whether it was clamped.
    fn clamp_end(&self, end: Option<&[u8]>) -> (Option<Vec<u8>>, bool) {
        clamp_end(&self.span, end)
    }

    pub(super) fn eval_get(
        &self,
        h: &Header,
        key: &[u8],
        lock: Option<LockStrength>,
    ) -> Result<Eval> {
        let span = Span::key(key);
        self.eval_read(
            h,
            span,
            |opts| self.mvcc.read_one(key, opts),
            lock,
            None,
            true,
        )
    }

    /// Reads the keys this range holds under one latch; hands back the others. Found rows come
    /// back in key order; a conflict on any key pushes and evaluates them all again.
    pub(super) fn eval_get_many(&self, h: &Header, keys: &[Vec<u8>]) -> Result<Eval> {
        self.check_gc_threshold(h.read_ts)?;
        let (mine, rest): (Vec<&Vec<u8>>, Vec<&Vec<u8>>) =
            keys.iter().partition(|k| self.span.contains(k));
        let spans: Vec<Span> = mine.iter().map(|k| Span::key(k)).collect();
        let _latch = self.latches.acquire(
            spans
                .iter()
                .map(|span| LatchSpan {
                    span: span.clone(),
                    write: false,
                })
                .collect(),
        );
        let opts = self.read_opts(h, false);
        let mut resp = Response::default();
        for key in &mine {
            let res = self.mvcc.read_one(key, &opts)?;
            if let Some((key, intent)) = res.conflicts.into_iter().next() {
                return Ok(Eval::Conflict {
                    pushee: intent.txn,
                    key,
                });
            }
            resp.uncertain = resp.uncertain.max(res.uncertain);
            resp.rows.extend(res.rows);
        }
        if resp.uncertain.is_some() {
            resp.rows.clear();
            return Ok(Eval::Done(resp));
        }
        let txn_id = h.txn.as_ref().map(|t| t.id);
        let mut tscache = self.tscache.lock();
        for span in &spans {
            tscache.record(span, h.read_ts, txn_id);
        }
        resp.rest_keys = rest.into_iter().cloned().collect();
        Ok(Eval::Done(resp))
    }

    pub(super) fn eval_scan(
        &self,
        h: &Header,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
        lock: Option<LockStrength>,
    ) -> Result<Eval> {
        let (end, clamped) = self.clamp_end(end);
        let span = Span {
            start: start.to_vec(),
            end: end.clone(),
        };
        let resume_at_range_end = if clamped { end.clone() } else { None };
        self.eval_read(
            h,
            span,
            |opts| self.mvcc.read(start, end.as_deref(), limit, opts),
            lock,
            resume_at_range_end,
            false,
        )
    }

    /// The shared body of gets and scans: read under a latch, stop at conflicts, report
    /// uncertainty and (locking reads) newer versions, else record the read in the timestamp
    /// cache and take the locks.
    fn eval_read(
        &self,
        h: &Header,
        span: Span,
        read: impl FnOnce(&ReadOpts<'_>) -> kv::Result<ReadResult>,
        lock: Option<LockStrength>,
        resume_at_range_end: Option<Vec<u8>>,
        point: bool,
    ) -> Result<Eval> {
        self.check_gc_threshold(h.read_ts)?;
        let _latch = self.latches.acquire(vec![LatchSpan {
            span: span.clone(),
            write: false,
        }]);
        let res = read(&self.read_opts(h, lock.is_some()))?;
        if let Some((key, intent)) = res.conflicts.into_iter().next() {
            return Ok(Eval::Conflict {
                pushee: intent.txn,
                key,
            });
        }
        let mut resp = Response::default();
        if res.uncertain.is_some() {
            resp.uncertain = res.uncertain;
            return Ok(Eval::Done(resp));
        }
        if res.newer.is_some() {
            resp.newer = res.newer;
            return Ok(Eval::Done(resp));
        }
        let txn_id = h.txn.as_ref().map(|t| t.id);
        if let (Some(strength), Some(txn)) = (lock, h.txn.as_ref()) {
            let mut locks = self.locks.lock();
            let mut keys: Vec<&[u8]> = res.rows.iter().map(|(k, _)| k.as_slice()).collect();
            if point && keys.is_empty() {
                // A point read locks its key even when absent, so an INSERT racing with it waits.
                keys.push(&span.start);
            }
            let blocked = keys.iter().find_map(|k| {
                locks
                    .conflict(k, txn.id, Some(strength))
                    .map(|holder| (holder, k.to_vec()))
            });
            if let Some((pushee, key)) = blocked {
                return Ok(Eval::Conflict { pushee, key });
            }
            for k in keys {
                locks.acquire(k, txn, strength);
            }
        }
        let covered = if res.limited {
            let mut e = res.rows.last().map(|(k, _)| k.clone()).unwrap_or_default();
            e.push(0);
            resp.resume = Some(e.clone());
            Span {
                start: span.start.clone(),
                end: Some(e),
            }
        } else {
            resp.resume = resume_at_range_end;
            span
        };
        self.tscache.lock().record(&covered, h.read_ts, txn_id);
        resp.rows = res.rows;
        Ok(Eval::Done(resp))
    }

    /// Writes the intents of the keys this range holds, all checked first and then replicated
    /// as one batch (a conflict on any key writes nothing: the request is evaluated again
    /// after the push); the other keys are handed back unwritten. The response's `write_ts`
    /// is the highest timestamp an intent landed at.
    pub(super) fn eval_put(&self, h: &Header, writes: &[KeyWrites]) -> Result<Eval> {
        let Some(txn) = h.txn.as_ref() else {
            return Err(Error::Internal("intent write without a transaction".into()));
        };
        let (mine, others): (Vec<&KeyWrites>, Vec<&KeyWrites>) =
            writes.iter().partition(|(k, _)| self.span.contains(k));
        let _latch = self.latches.acquire(
            mine.iter()
                .map(|(k, _)| LatchSpan {
                    span: Span::key(k),
                    write: true,
                })
                .collect(),
        );
        let mut batch = WriteBatch::new();
        let mut landed = txn.write_ts;
        let mut any_wto = false;
        for (key, history) in mine {
            let (existing, ts, wto) = match self.check_write(key, txn, txn.write_ts)? {
                WriteCheck::Blocked(pushee) => {
                    return Ok(Eval::Conflict {
                        pushee,
                        key: key.clone(),
                    })
                }
                WriteCheck::Clear { own, ts, wto } => (own, ts, wto),
            };
            let mut intent = existing.unwrap_or_else(|| Intent {
                txn: txn.clone(),
                history: Vec::new(),
            });
            let ts = ts.max(intent.txn.write_ts);
            intent.txn.write_ts = ts;
            intent.history.extend(history.iter().cloned());
            Mvcc::put_intent(&mut batch, key, &intent)?;
            landed = landed.max(ts);
            any_wto |= wto;
        }
        if !batch.is_empty() {
            self.note_written(landed);
            self.writer.write(batch, false)?;
        }
        Ok(Eval::Done(Response {
            write_ts: Some(landed),
            write_too_old: any_wto,
            rest_keys: others.into_iter().map(|(k, _)| k.clone()).collect(),
            ..Response::default()
        }))
    }

    /// Checks a write of `key` by `txn` at `ts` or later, reading the key's intent and newest
    /// version in one seek: blocked by another transaction's lock or intent, or clear to land
    /// above every other transaction's read of the key and above its newest committed version
    /// (`wto`: the version decided it).
    pub(super) fn check_write(
        &self,
        key: &[u8],
        txn: &TxnMeta,
        ts: Timestamp,
    ) -> Result<WriteCheck> {
        if let Some(holder) = self.locks.lock().conflict(key, txn.id, None) {
            return Ok(WriteCheck::Blocked(holder));
        }
        let (intent, newest) = self.mvcc.write_state(key)?;
        let own = match intent {
            Some(i) if i.txn.id != txn.id => return Ok(WriteCheck::Blocked(i.txn)),
            other => other,
        };
        let mut ts = ts;
        let read = self.tscache.lock().max_read(key, Some(txn.id));
        if read >= ts {
            ts = read.next();
        }
        let mut wto = false;
        if let Some(newest) = newest {
            if newest >= ts {
                ts = newest.next();
                wto = true;
            }
        }
        Ok(WriteCheck::Clear { own, ts, wto })
    }

    pub(super) fn eval_resolve(
        &self,
        keys: &[Vec<u8>],
        txn: TxnId,
        commit_ts: Option<Timestamp>,
        ignored: &[(Seq, Seq)],
    ) -> Result<Eval> {
        let (mine, others): (Vec<&Vec<u8>>, Vec<&Vec<u8>>) =
            keys.iter().partition(|k| self.span.contains(k));
        let _latch = self.latches.acquire(
            mine.iter()
                .map(|k| LatchSpan {
                    span: Span::key(k),
                    write: true,
                })
                .collect(),
        );
        let mut batch = WriteBatch::new();
        for key in mine {
            self.resolve_into(&mut batch, key, txn, commit_ts, ignored)?;
        }
        if !batch.is_empty() {
            if let Some(ts) = commit_ts {
                self.note_written(ts);
            }
            self.writer.write(batch, false)?;
        }
        Ok(Eval::Done(Response {
            rest_keys: others.into_iter().cloned().collect(),
            ..Response::default()
        }))
    }

    /// Adds resolving `txn`'s intent on `key` (if it is still there) to `batch` and releases
    /// its lock on the key.
    pub(super) fn resolve_into(
        &self,
        batch: &mut WriteBatch,
        key: &[u8],
        txn: TxnId,
        commit_ts: Option<Timestamp>,
        ignored: &[(Seq, Seq)],
    ) -> Result<()> {
        if let Some(intent) = self.mvcc.intent(key)? {
            if intent.txn.id == txn {
                Mvcc::resolve_intent(batch, key, &intent, commit_ts, ignored);
            }
        }
        self.locks.lock().release(key, txn);
        Ok(())
    }
}

/// Clamps a scan's `end` to `span`; returns the effective end and whether it was clamped.
pub(super) fn clamp_end(span: &Span, end: Option<&[u8]>) -> (Option<Vec<u8>>, bool) {
    match (end, span.end.as_deref()) {
        (Some(e), Some(r)) if r < e => (Some(r.to_vec()), true),
        (None, Some(r)) => (Some(r.to_vec()), true),
        (e, _) => (e.map(|e| e.to_vec()), false),
    }
}
