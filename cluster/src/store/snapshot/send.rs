//! The sending side of a snapshot stream (see the parent module): spilling the range's data
//! into a chunked file on the Raft thread, then streaming the chunks from a thread of its own
//! and sending the Raft message last.

use super::{
    decode_header, wire_envelope, Outgoing, SnapHeader, Wire, ACK_TIMEOUT, MAX_OUTGOING, WINDOW,
};
use crate::desc::{self, RangeDescriptor};
use crate::store::apply::data_spans;
use crate::store::Store;
use crate::transport::{RaftEnvelope, Transport};
use kv::engine::{Engine, Visit};
use kv::{NodeId, RangeId};
use protobuf::Message as _;
use raft::prelude::Message;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::{mpsc, Weak};
use std::time::Instant;

fn write_chunk(w: &mut impl Write, kvs: &mut Vec<(Vec<u8>, Vec<u8>)>) -> std::io::Result<()> {
    let data = desc::encode(kvs);
    kvs.clear();
    w.write_all(&(data.len() as u64).to_be_bytes())?;
    w.write_all(&data)
}

fn read_chunk(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 8];
    r.read_exact(&mut len)?;
    let mut data = vec![0u8; u64::from_be_bytes(len) as usize];
    r.read_exact(&mut data)?;
    Ok(data)
}

/// Scans `d`'s data spans into chunks in a new file at `path`, which is unlinked at once (the
/// returned handle keeps it: nothing is left behind whatever happens to the process), rewound
/// for reading: (file, chunks, bytes).
fn spill(
    engine: &dyn Engine,
    d: &RangeDescriptor,
    path: &Path,
    chunk_bytes: usize,
) -> Result<(File, u32, u64), String> {
    let mut file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::remove_file(path).map_err(|e| format!("unlinking {}: {e}", path.display()))?;
    let mut w = BufWriter::new(&mut file);
    let (mut cur, mut cur_bytes, mut chunks, mut total) = (Vec::new(), 0usize, 0u32, 0u64);
    let mut failed = None;
    for (s, e) in data_spans(d) {
        engine
            .scan(&s, e.as_deref(), &mut |k, v| {
                cur_bytes += k.len() + v.len();
                cur.push((k.to_vec(), v.to_vec()));
                if cur_bytes >= chunk_bytes {
                    if let Err(e) = write_chunk(&mut w, &mut cur) {
                        failed = Some(e.to_string());
                        return Visit::Stop;
                    }
                    chunks += 1;
                    total += cur_bytes as u64;
                    cur_bytes = 0;
                }
                Visit::Continue
            })
            .map_err(|e| e.to_string())?;
        if let Some(e) = failed.take() {
            return Err(e);
        }
    }
    if !cur.is_empty() || chunks == 0 {
        write_chunk(&mut w, &mut cur).map_err(|e| e.to_string())?;
        chunks += 1;
        total += cur_bytes as u64;
    }
    w.flush().map_err(|e| e.to_string())?;
    drop(w);
    file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    Ok((file, chunks, total))
}

impl Store {
    /// On the Raft thread (raft-rs asks the leader's storage): writes `range`'s data to a spill
    /// file and returns the header that stands for it in the Raft message. Refused while a
    /// stream to the same replica runs or too many streams run.
    pub(crate) fn build_snapshot(&self, range: RangeId, to: u64) -> Result<Vec<u8>, String> {
        let replica = self.replica(range).ok_or("no replica")?;
        let (desc, lease) = {
            let st = replica.state.lock();
            (
                st.desc.clone().ok_or("replica not initialised")?,
                st.lease.clone(),
            )
        };
        self.snap.expire_unsent();
        {
            let out = self.snap.outgoing.lock();
            if out.values().any(|o| o.range == range && o.to == to) {
                return Err("a snapshot to this replica is still being sent".into());
            }
            if out.len() >= MAX_OUTGOING {
                return Err(format!("{MAX_OUTGOING} snapshots are being sent already"));
            }
        }
        let id = self.snap.new_id();
        let dir = self
            .cfg
            .snapshot_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        let path = dir.join(format!("meridian-snapshot-{id:016x}"));
        let chunk_bytes = self.cfg.snapshot_chunk_bytes.max(1);
        let (file, chunks, bytes) = match spill(self.engine.as_ref(), &desc, &path, chunk_bytes) {
            Ok(n) => n,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(format!("spilling the snapshot: {e}"));
            }
        };
        self.snap.outgoing.lock().insert(
            id,
            Outgoing {
                range,
                to,
                file: Some(file),
                built: Instant::now(),
                acks: None,
            },
        );
        tracing::debug!(range = %range, to, id, chunks, bytes, "snapshot built");
        Ok(desc::encode(&Wire::Header(SnapHeader {
            id,
            desc,
            lease,
            chunks,
            bytes,
        })))
    }

    /// On the Raft thread, instead of sending the `MsgSnapshot` raft-rs produced: starts the
    /// thread that streams its chunks to `to_node` and then sends `msg`.
    pub(crate) fn send_snapshot(store: Weak<Store>, range: RangeId, to_node: NodeId, msg: Message) {
        let Some(s) = store.upgrade() else {
            return;
        };
        let header = match decode_header(msg.get_snapshot().get_data()) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(range = %range, error = %e, "snapshot message without a header dropped");
                return;
            }
        };
        let (tx, rx) = mpsc::channel();
        let file = {
            let mut out = s.snap.outgoing.lock();
            match out.get_mut(&header.id) {
                Some(o) if o.acks.is_none() => {
                    o.acks = Some(tx);
                    o.file.take()
                }
                _ => None,
            }
        };
        let Some(file) = file else {
            return;
        };
        let (transport, node) = (s.transport.clone(), s.node_id);
        drop(s);
        let spawned = std::thread::Builder::new()
            .name("snapshot-send".into())
            .spawn(move || {
                let to = (to_node, msg.to);
                let r = stream(transport.as_ref(), range, (node, msg.from), to, &msg, &header, file, rx);
                if let Err(e) = &r {
                    tracing::info!(range = %range, to = %to_node, id = header.id, error = %e, "snapshot stream aborted");
                } else {
                    tracing::debug!(range = %range, to = %to_node, id = header.id, "snapshot sent");
                }
                if let Some(s) = store.upgrade() {
                    s.snap.finish_outgoing(header.id, r.is_ok());
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start a snapshot sender");
        }
    }
}

/// Streams `h`'s chunks from the spill `file`, then sends `msg` (see the module docs).
#[allow(clippy::too_many_arguments)]
fn stream(
    transport: &dyn Transport,
    range: RangeId,
    from: (NodeId, u64),
    to: (NodeId, u64),
    msg: &Message,
    h: &SnapHeader,
    file: File,
    acks: mpsc::Receiver<(u32, bool)>,
) -> Result<(), String> {
    let mut r = BufReader::new(file);
    let mut acked = 0u32;
    let wait = |acked: u32| -> Result<u32, String> {
        match acks.recv_timeout(ACK_TIMEOUT) {
            Ok((seq, true)) => Ok(acked.max(seq + 1)),
            Ok((seq, false)) => Err(format!("the receiver refused chunk {seq}")),
            Err(_) => Err(format!("no acknowledgement within {ACK_TIMEOUT:?}")),
        }
    };
    for seq in 0..h.chunks {
        while seq >= acked + WINDOW {
            acked = wait(acked)?;
        }
        let data = read_chunk(&mut r).map_err(|e| format!("reading the spill file: {e}"))?;
        let chunk = Wire::Chunk {
            id: h.id,
            seq,
            of: h.chunks,
            data,
        };
        let env = wire_envelope(range, from, to, &chunk).ok_or("cannot encode a chunk")?;
        transport.send_raft(vec![env]);
    }
    while acked < h.chunks {
        acked = wait(acked)?;
    }
    let bytes = msg.write_to_bytes().map_err(|e| e.to_string())?;
    transport.send_raft(vec![RaftEnvelope {
        range_id: range,
        from: from.0,
        to: to.0,
        msg: bytes,
    }]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kv::engine::{MemoryEngine, WriteBatch};

    #[test]
    fn a_spill_file_is_unlinked_at_once_and_reads_back_in_chunks() {
        let engine = MemoryEngine::new();
        let mut b = WriteBatch::new();
        for i in 0..10u8 {
            b.put(kv::mvcc::meta_key(&[b'b', i]), vec![i; 100]);
        }
        b.put(kv::mvcc::meta_key(b"z"), b"outside".to_vec());
        engine.write(b, false).expect("write");
        let d = RangeDescriptor {
            range_id: RangeId(7),
            start: b"a".to_vec(),
            end: Some(b"m".to_vec()),
            replicas: Vec::new(),
            next_replica_id: 1,
            generation: 1,
        };
        let path = std::env::temp_dir().join(format!("meridian-spill-test-{}", std::process::id()));
        let (file, chunks, bytes) = spill(&engine, &d, &path, 250).expect("spill");
        assert!(!path.exists(), "the spill file is unlinked");
        assert!(chunks >= 4, "{chunks} chunks");
        let mut r = BufReader::new(file);
        let mut keys = 0;
        let mut read = 0;
        for _ in 0..chunks {
            let kvs: Vec<(Vec<u8>, Vec<u8>)> =
                desc::decode(&read_chunk(&mut r).expect("chunk")).expect("decode");
            keys += kvs.len();
            read += kvs
                .iter()
                .map(|(k, v)| (k.len() + v.len()) as u64)
                .sum::<u64>();
        }
        assert_eq!((keys, read), (10, bytes));
        assert!(read_chunk(&mut r).is_err(), "nothing after the last chunk");
    }

    #[test]
    fn spilled_chunks_read_back_in_order() {
        let mut buf = Vec::new();
        let mut kvs = vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), vec![0; 100]),
        ];
        write_chunk(&mut buf, &mut kvs).expect("write");
        assert!(kvs.is_empty());
        let mut kvs = vec![(b"c".to_vec(), b"3".to_vec())];
        write_chunk(&mut buf, &mut kvs).expect("write");
        let mut r = &buf[..];
        let a: Vec<(Vec<u8>, Vec<u8>)> = desc::decode(&read_chunk(&mut r).expect("1")).expect("d");
        let b: Vec<(Vec<u8>, Vec<u8>)> = desc::decode(&read_chunk(&mut r).expect("2")).expect("d");
        assert_eq!(a.len(), 2);
        assert_eq!(b, vec![(b"c".to_vec(), b"3".to_vec())]);
        assert!(read_chunk(&mut r).is_err());
    }
}
