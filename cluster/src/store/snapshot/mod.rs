//! Raft snapshots streamed in chunks, out of band of the Raft message that installs them.
//!
//! A replica that fell behind the leader's truncated log, or was just added, needs the range's
//! whole replicated state. Sending it as one Raft message meant holding the range in memory
//! several times over (the scan, its encoding, the protobuf message, the transport frame, the
//! receiver's decoding) and a gRPC frame as large as the range. Instead, as TiKV and
//! CockroachDB do, the Raft message carries only the snapshot's metadata and a *header*
//! ([`SnapHeader`]: an id, the descriptor, the lease, the chunk count), and the data travels
//! separately in chunks of about [`StoreConfig::snapshot_chunk_bytes`] (default
//! [`DEFAULT_CHUNK_BYTES`]):
//!
//! 1. **Build (sender, Raft thread).** raft-rs asks the leader's storage for a snapshot; the
//!    store scans the range's data spans *on the Raft thread* (so the data is exactly the
//!    applied state at the snapshot's index: nothing applies meanwhile) and writes them, cut
//!    into chunks, to a spill file ([`StoreConfig::snapshot_dir`], default the system temp
//!    directory). Memory: one chunk. The header becomes the Raft snapshot's data.
//! 2. **Stream (sender thread).** When the Raft thread would send that `MsgSnapshot`, it hands
//!    it to a thread instead, which sends the chunks one by one as Raft envelopes over the
//!    ordinary transport (local, fault-injecting or gRPC: nothing transport-specific; chunks
//!    are `MsgSnapshot` messages, acknowledgements `MsgSnapStatus`, a type raft-rs never sends
//!    between nodes) with at
//!    most [`WINDOW`] chunks unacknowledged, and only after the last chunk's acknowledgement
//!    sends the small `MsgSnapshot` itself. A refused chunk or an acknowledgement missing for
//!    [`ACK_TIMEOUT`] aborts the stream (spill file closed); raft-rs asks for a new snapshot
//!    later. One stream per (range, destination replica), at most [`MAX_OUTGOING`] per store.
//! 3. **Stage (receiver, transport thread).** Chunks and acknowledgements are taken out of the
//!    incoming Raft traffic before it reaches the Raft thread ([`Store::take_snapshot_traffic`]).
//!    Each chunk, accepted only in order, is written to a *staging* area of the engine
//!    (unreplicated keys `0x01 's' 'p' <range> <id> <seq>`, outside every range's data) and
//!    acknowledged. A gap (a lost chunk) or a chunk of another snapshot while one is staged
//!    discards the staged chunks and refuses: nothing of a half-received snapshot is ever
//!    visible, and the existing replica is untouched.
//! 4. **Apply (receiver, Raft thread).** The `MsgSnapshot` is stepped into raft-rs only when
//!    its id's chunks are all staged. When raft-rs hands the snapshot back to apply, the
//!    staged chunks are copied into the Raft thread's one write batch (after the range's old
//!    data is cleared) together with the Raft state and the staging keys' deletion: the
//!    replica switches to the snapshot atomically. A header raft-rs rejected (stale) has its
//!    staged chunks dropped right after that iteration. Staging left by a crash is cleared
//!    when the store opens.
//!
//! Memory bound per snapshot: the sender holds one chunk while building and [`WINDOW`] chunks
//! (plus their encodings) while streaming; the receiver one chunk while staging. Applying
//! still copies the whole range into the apply write batch once (plus RocksDB's own copy of
//! that batch): see the caveats.
//!
//! IMPLEMENTATION CAVEATS
//! - Apply copies the staged range into one write batch (so a 64 MiB range costs about twice
//!   that in memory for the moment of the write, and is written twice: staged, then applied).
//!   Ingesting an SST built from the chunks would avoid both; the engine exposes no ingestion.
//! - The sender spills to a file rather than streaming from a RocksDB snapshot: the engine
//!   exposes no snapshot handle, and a scan of the memory engine holds its lock. Building the
//!   file still runs on the Raft thread (as building the in-memory snapshot did).
//! - The server does not set [`StoreConfig::snapshot_dir`] to the store's directory yet. The
//!   spill file is unlinked as soon as it is created (the sender keeps it open), so a crashed
//!   sender leaves nothing behind; a platform that cannot unlink open files is not supported.
//! - Chunks are written to the staging area on the transport's receiving thread (a gRPC
//!   worker), an unsynced engine write of one chunk.
//! - The staged chunks of a stream its sender abandoned silently (a sender that died) stay in
//!   the engine until the range's next stream replaces them or the store restarts.
//! - The leader reports a snapshot finished to raft-rs when streaming starts (as it did when
//!   the transport gave no delivery report); while a stream to that replica runs, raft-rs's
//!   further requests for a snapshot are answered "temporarily unavailable".
//!
//! [`StoreConfig::snapshot_chunk_bytes`]: super::StoreConfig::snapshot_chunk_bytes
//! [`StoreConfig::snapshot_dir`]: super::StoreConfig::snapshot_dir

mod send;

use super::Store;
use crate::desc::{self, Lease, RangeDescriptor};
use crate::transport::RaftEnvelope;
use kv::engine::{Engine, Visit, WriteBatch};
use kv::keys::LOCAL_PREFIX;
use kv::{NodeId, RangeId, ReplicaId};
use parking_lot::Mutex;
use protobuf::Message as _;
use raft::prelude::{Message, MessageType};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

/// The default size of a snapshot chunk (keys and values, before encoding).
pub const DEFAULT_CHUNK_BYTES: usize = 2 << 20;
/// Chunks a sender may have sent without their acknowledgement.
pub const WINDOW: u32 = 2;
/// Snapshots one store streams at once; raft-rs's further requests wait.
pub const MAX_OUTGOING: usize = 4;
/// How long a sender waits for a chunk's acknowledgement before it aborts the stream.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// A built snapshot whose stream never started (its message was not sent) is dropped after
/// this long.
const UNSENT_EXPIRY: Duration = Duration::from_secs(10);

/// What the Raft snapshot message carries instead of the range's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapHeader {
    /// Names the stream; unique per sending store (node id in the top bits).
    pub id: u64,
    /// The range's descriptor at the snapshot's index.
    pub desc: RangeDescriptor,
    /// Its lease at that index.
    pub lease: Lease,
    /// How many chunks the stream has (at least one).
    pub chunks: u32,
    /// Bytes of keys and values in all chunks.
    pub bytes: u64,
}

/// Everything that travels in a `MsgSnapshot`'s (or, acknowledgements, `MsgSnapStatus`'s)
/// data field.
#[derive(Serialize, Deserialize)]
enum Wire {
    /// In the real Raft message, sent after every chunk was acknowledged.
    Header(SnapHeader),
    /// Chunk `seq` of `of`: postcard-encoded `Vec<(key, value)>`.
    Chunk {
        id: u64,
        seq: u32,
        of: u32,
        data: Vec<u8>,
    },
    /// The receiver staged chunk `seq` (`ok`), or refused it and dropped the stream.
    Ack { id: u64, seq: u32, ok: bool },
}

/// Decodes the header a snapshot message carries.
pub fn decode_header(data: &[u8]) -> Result<SnapHeader, String> {
    match desc::decode::<Wire>(data)? {
        Wire::Header(h) => Ok(h),
        _ => Err("a snapshot chunk, not a snapshot header".into()),
    }
}

/// Counters of one store's snapshot traffic (for tests and status).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    /// Streams whose every chunk was acknowledged and whose header was sent.
    pub sent: u64,
    /// Streams aborted by the sender (refused or unacknowledged chunk).
    pub aborted: u64,
    /// Chunks staged by this store as a receiver.
    pub chunks_staged: u64,
    /// Received snapshots applied.
    pub applied: u64,
    /// Largest chunk (keys and values) this store received.
    pub max_chunk_bytes: u64,
}

struct Outgoing {
    range: RangeId,
    to: u64,
    /// The spill file, already unlinked (see `send::spill`): taken by the streaming thread;
    /// closing it frees the space.
    file: Option<File>,
    built: Instant,
    acks: Option<mpsc::Sender<(u32, bool)>>,
}

struct Incoming {
    id: u64,
    from: NodeId,
    next_seq: u32,
    /// Handed to raft-rs: only the Raft thread may drop it now.
    stepped: bool,
}

/// A store's snapshot streams, both directions.
#[derive(Default)]
pub struct SnapshotQueues {
    next_id: AtomicU64,
    outgoing: Mutex<HashMap<u64, Outgoing>>,
    incoming: Mutex<HashMap<RangeId, Incoming>>,
    /// Headers stepped in the current Raft iteration: (range, id).
    stepped: Mutex<Vec<(RangeId, u64)>>,
    stats: Mutex<SnapshotStats>,
}

impl SnapshotQueues {
    /// Empty queues of node `node`'s store.
    pub fn new(node: NodeId) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let q = SnapshotQueues::default();
        // Ids stay unique across restarts (time) and senders (node id in the top bits).
        let base = ((node.0 & 0xffff) << 48) | (nanos & ((1 << 48) - 1));
        q.next_id.store(base, Ordering::Relaxed);
        q
    }

    fn new_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn count(&self, f: impl FnOnce(&mut SnapshotStats)) {
        f(&mut self.stats.lock());
    }

    fn finish_outgoing(&self, id: u64, ok: bool) {
        self.outgoing.lock().remove(&id);
        self.count(|s| if ok { s.sent += 1 } else { s.aborted += 1 });
    }

    /// Drops built snapshots whose stream never started.
    fn expire_unsent(&self) {
        self.outgoing
            .lock()
            .retain(|_, o| o.acks.is_some() || o.built.elapsed() < UNSENT_EXPIRY);
    }
}

fn staging_prefix() -> Vec<u8> {
    vec![LOCAL_PREFIX, b's', b'p']
}

fn staging_span(range: RangeId, id: Option<u64>) -> (Vec<u8>, Vec<u8>) {
    let mut start = staging_prefix();
    start.extend_from_slice(&range.0.to_be_bytes());
    if let Some(id) = id {
        start.extend_from_slice(&id.to_be_bytes());
    }
    let mut end = start.clone();
    end.push(0xff);
    (start, end)
}

fn staging_key(range: RangeId, id: u64, seq: u32) -> Vec<u8> {
    let (mut k, _) = staging_span(range, Some(id));
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Deletes every staged chunk (a crash left them; called when the store opens).
pub fn clear_staging(engine: &dyn Engine) -> Result<(), String> {
    let mut end = staging_prefix();
    end.push(0xff);
    let mut batch = WriteBatch::new();
    batch.delete_range(staging_prefix(), Some(end));
    engine.write(batch, false).map_err(|e| e.to_string())
}

/// The encoded first bytes of every message of type `t` (the type is protobuf field 1,
/// written first): lets incoming traffic be sorted without decoding every message.
fn type_prefix(t: MessageType) -> Vec<u8> {
    let mut m = Message::default();
    m.set_msg_type(t);
    m.write_to_bytes().unwrap_or_default()
}

/// Whether a raw Raft message is a `MsgSnapshot` (a header or a chunk) or a `MsgSnapStatus`
/// (a chunk's acknowledgement: raft-rs never sends that type between nodes).
fn is_snapshot_msg(raw: &[u8]) -> bool {
    static PREFIXES: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
    let p = PREFIXES.get_or_init(|| {
        [
            type_prefix(MessageType::MsgSnapshot),
            type_prefix(MessageType::MsgSnapStatus),
        ]
    });
    p.iter().any(|p| !p.is_empty() && raw.starts_with(p))
}

/// The (id, seq) of a snapshot chunk envelope, for tests and fault injection.
pub fn chunk_of(env: &RaftEnvelope) -> Option<(u64, u32)> {
    if !is_snapshot_msg(&env.msg) {
        return None;
    }
    let msg = Message::parse_from_bytes(&env.msg).ok()?;
    match desc::decode::<Wire>(msg.get_snapshot().get_data()).ok()? {
        Wire::Chunk { id, seq, .. } => Some((id, seq)),
        _ => None,
    }
}

fn wire_envelope(
    range: RangeId,
    from: (NodeId, u64),
    to: (NodeId, u64),
    w: &Wire,
) -> Option<RaftEnvelope> {
    let mut m = Message::default();
    // Acknowledgements go back from the receiver: not typed as snapshots (traffic counters
    // tell a snapshot to a replica from an answer to its leader by type).
    m.set_msg_type(match w {
        Wire::Ack { .. } => MessageType::MsgSnapStatus,
        _ => MessageType::MsgSnapshot,
    });
    m.from = from.1;
    m.to = to.1;
    m.mut_snapshot().set_data(desc::encode(w).into());
    Some(RaftEnvelope {
        range_id: range,
        from: from.0,
        to: to.0,
        msg: m.write_to_bytes().ok()?,
    })
}

impl Store {
    /// This store's snapshot counters.
    pub fn snapshot_stats(&self) -> SnapshotStats {
        *self.snap.stats.lock()
    }

    /// Takes snapshot chunks and acknowledgements out of incoming Raft traffic (staging or
    /// routing them); returns the rest for the Raft thread.
    pub(crate) fn take_snapshot_traffic(&self, batch: Vec<RaftEnvelope>) -> Vec<RaftEnvelope> {
        if !batch.iter().any(|e| is_snapshot_msg(&e.msg)) {
            return batch;
        }
        let mut rest = Vec::with_capacity(batch.len());
        for env in batch {
            let parsed = is_snapshot_msg(&env.msg)
                .then(|| Message::parse_from_bytes(&env.msg).ok())
                .flatten();
            let Some(msg) = parsed else {
                rest.push(env);
                continue;
            };
            match desc::decode::<Wire>(msg.get_snapshot().get_data()) {
                Ok(Wire::Chunk { id, seq, of, data }) => {
                    let r = self.stage_chunk(&env, ReplicaId(msg.to), id, seq, of, data);
                    if let Err(e) = &r {
                        tracing::debug!(range = %env.range_id, id, seq, error = %e, "snapshot chunk refused");
                    }
                    let ack = Wire::Ack {
                        id,
                        seq,
                        ok: r.is_ok(),
                    };
                    let me = (self.node_id, msg.to);
                    if let Some(back) = wire_envelope(env.range_id, me, (env.from, msg.from), &ack)
                    {
                        self.transport.send_raft(vec![back]);
                    }
                }
                Ok(Wire::Ack { id, seq, ok }) => {
                    if let Some(tx) = self
                        .snap
                        .outgoing
                        .lock()
                        .get(&id)
                        .and_then(|o| o.acks.as_ref())
                    {
                        let _ = tx.send((seq, ok));
                    }
                }
                _ => rest.push(env),
            }
        }
        rest
    }

    /// Stages one chunk (in order only; see the module docs).
    fn stage_chunk(
        &self,
        env: &RaftEnvelope,
        to: ReplicaId,
        id: u64,
        seq: u32,
        of: u32,
        data: Vec<u8>,
    ) -> Result<(), String> {
        let range = env.range_id;
        if self.replica_tombstoned(range, to) {
            return Err(format!("replica {} of {range} was destroyed here", to.0));
        }
        if seq >= of {
            return Err("chunk number past the end".into());
        }
        let mut inc = self.snap.incoming.lock();
        let mut batch = WriteBatch::new();
        match inc.get(&range) {
            Some(i) if i.id == id && i.from == env.from => {
                if seq < i.next_seq {
                    return Ok(()); // a duplicate: already staged
                }
                if seq > i.next_seq || i.stepped {
                    if !i.stepped {
                        let (s, e) = staging_span(range, Some(id));
                        batch.delete_range(s, Some(e));
                        self.engine.write(batch, false).map_err(|e| e.to_string())?;
                        inc.remove(&range);
                    }
                    return Err(format!("chunk {seq} out of order"));
                }
            }
            Some(i) if i.stepped => {
                return Err("another snapshot of the range is being applied".into())
            }
            Some(i) => {
                if seq != 0 {
                    return Err("not the snapshot being received".into());
                }
                // A newer stream replaces an unfinished one.
                let (s, e) = staging_span(range, Some(i.id));
                batch.delete_range(s, Some(e));
            }
            None if seq != 0 => return Err("not the first chunk of a snapshot".into()),
            None => {}
        }
        let bytes = data.len() as u64;
        batch.put(staging_key(range, id, seq), data);
        self.engine.write(batch, false).map_err(|e| e.to_string())?;
        let entry = inc.entry(range).or_insert(Incoming {
            id,
            from: env.from,
            next_seq: 0,
            stepped: false,
        });
        if entry.id != id || entry.from != env.from {
            *entry = Incoming {
                id,
                from: env.from,
                next_seq: 0,
                stepped: false,
            };
        }
        entry.next_seq = seq + 1;
        drop(inc);
        self.snap.count(|s| {
            s.chunks_staged += 1;
            s.max_chunk_bytes = s.max_chunk_bytes.max(bytes);
        });
        Ok(())
    }

    /// On the Raft thread, before stepping a received `MsgSnapshot`: whether every chunk of its
    /// stream is staged (then the staging belongs to the Raft thread until it is applied or
    /// dropped after this iteration).
    pub(crate) fn snapshot_staged(&self, range: RangeId, from: NodeId, msg: &Message) -> bool {
        let Ok(h) = decode_header(msg.get_snapshot().get_data()) else {
            return false;
        };
        let mut inc = self.snap.incoming.lock();
        match inc.get_mut(&range) {
            Some(i) if i.id == h.id && i.from == from && i.next_seq == h.chunks && !i.stepped => {
                i.stepped = true;
                self.snap.stepped.lock().push((range, h.id));
                true
            }
            _ => false,
        }
    }

    /// On the Raft thread, applying a received snapshot: stages the data of `h`'s chunks into
    /// `batch` (after the caller cleared the range's spans) and the staging's deletion.
    pub(crate) fn stage_received_snapshot(
        &self,
        range: RangeId,
        h: &SnapHeader,
        batch: &mut WriteBatch,
    ) -> Result<(), String> {
        let (s, e) = staging_span(range, Some(h.id));
        let (mut chunks, mut bad) = (0u32, None);
        self.engine
            .scan(
                &s,
                Some(&e),
                &mut |_, v| match desc::decode::<Vec<(Vec<u8>, Vec<u8>)>>(v) {
                    Ok(kvs) => {
                        for (k, v) in kvs {
                            batch.put(k, v);
                        }
                        chunks += 1;
                        Visit::Continue
                    }
                    Err(e) => {
                        bad = Some(e);
                        Visit::Stop
                    }
                },
            )
            .map_err(|e| e.to_string())?;
        batch.delete_range(s, Some(e));
        {
            let mut inc = self.snap.incoming.lock();
            if inc.get(&range).is_some_and(|i| i.id == h.id) {
                inc.remove(&range);
            }
        }
        self.snap.count(|s| s.applied += 1);
        if let Some(e) = bad {
            return Err(format!("undecodable staged chunk: {e}"));
        }
        if chunks != h.chunks {
            return Err(format!("{chunks} of {} chunks staged", h.chunks));
        }
        Ok(())
    }

    /// On the Raft thread after each iteration: staging of headers stepped but not applied
    /// (raft-rs found them stale) is dropped.
    pub(crate) fn snapshots_after_iteration(&self) {
        let stepped = std::mem::take(&mut *self.snap.stepped.lock());
        for (range, id) in stepped {
            let mut inc = self.snap.incoming.lock();
            if inc.get(&range).is_none_or(|i| i.id != id) {
                continue; // applied
            }
            inc.remove(&range);
            let (s, e) = staging_span(range, Some(id));
            let mut batch = WriteBatch::new();
            batch.delete_range(s, Some(e));
            if let Err(e) = self.engine.write(batch, false) {
                tracing::warn!(range = %range, error = %e, "cannot drop a staged snapshot");
            }
        }
    }

    /// Staged snapshot keys of `range` in the engine (tests: a refused or applied stream
    /// leaves none behind).
    pub fn staged_snapshot_keys(&self, range: RangeId) -> usize {
        let (s, e) = staging_span(range, None);
        let mut n = 0;
        let _ = self.engine.scan(&s, Some(&e), &mut |_, _| {
            n += 1;
            Visit::Continue
        });
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_messages_are_recognised_by_their_first_bytes() {
        let env = wire_envelope(
            RangeId(3),
            (NodeId(1), 1),
            (NodeId(2), 2),
            &Wire::Chunk {
                id: 9,
                seq: 4,
                of: 5,
                data: vec![1, 2, 3],
            },
        )
        .expect("envelope");
        assert_eq!(chunk_of(&env), Some((9, 4)));
        for t in [
            MessageType::MsgAppend,
            MessageType::MsgHeartbeat,
            MessageType::MsgAppendResponse,
        ] {
            let mut m = Message::default();
            m.set_msg_type(t);
            m.mut_snapshot().set_data(vec![7u8; 10].into());
            m.term = 5;
            let raw = m.write_to_bytes().expect("encode");
            assert!(!is_snapshot_msg(&raw), "{t:?}");
        }
        let mut m = Message::default();
        m.set_msg_type(MessageType::MsgSnapshot);
        m.term = 5;
        m.from = 1;
        assert!(is_snapshot_msg(&m.write_to_bytes().expect("encode")));
        let ack = wire_envelope(
            RangeId(3),
            (NodeId(2), 2),
            (NodeId(1), 1),
            &Wire::Ack {
                id: 9,
                seq: 4,
                ok: true,
            },
        )
        .expect("envelope");
        assert!(is_snapshot_msg(&ack.msg));
        assert_eq!(chunk_of(&ack), None);
    }

    #[test]
    fn staging_keys_sit_outside_every_range_and_clear() {
        let k = staging_key(RangeId(5), 7, 1);
        let (s, e) = staging_span(RangeId(5), Some(7));
        assert!(s <= k && k < e);
        let (s5, e5) = staging_span(RangeId(5), None);
        assert!(s5 <= s && e <= e5);
        assert!(k[0] == LOCAL_PREFIX && k[1] == b's' && k[2] == b'p');
        let engine = kv::engine::MemoryEngine::new();
        let mut b = WriteBatch::new();
        b.put(k.clone(), b"x".to_vec());
        b.put(vec![LOCAL_PREFIX, b's', b'r'], b"keep".to_vec());
        engine.write(b, false).expect("write");
        clear_staging(&engine).expect("clear");
        assert_eq!(engine.get(&k).expect("get"), None);
        assert!(engine
            .get(&[LOCAL_PREFIX, b's', b'r'])
            .expect("get")
            .is_some());
    }
}
