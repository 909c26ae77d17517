//! What a request does when another transaction's intent or lock is in its way: push that
//! transaction through its record's range until it is finished (then clean up after it) or
//! until the request should simply evaluate again.
//!
//! Each round first asks the pusher's own record range who waits for the pusher (its
//! dependents) and whether the pusher itself was aborted meanwhile (a deadlock victim, or
//! expired); then pushes, which waits up to [`record::PUSH_WAIT`] in the pushee's queue.

use super::Router;
use crate::api::{Header, Request, TxnStatus};
use crate::{Error, Result, RetryReason};
use kv::mvcc::TxnMeta;

/// Pushes `pushee` (blocking `h`'s request at `key`) until it is finished or a round of
/// waiting ended; resolves the pushee's intent on `key` when it is finished.
pub(super) fn handle(router: &dyn Router, h: &Header, pushee: TxnMeta, key: Vec<u8>) -> Result<()> {
    let mut dependents = Vec::new();
    if let Some(pusher) = h.txn.as_ref() {
        let q = router.route(
            h,
            &Request::Query {
                id: pusher.id,
                anchor: pusher.anchor.clone(),
            },
        )?;
        if q.status == Some(TxnStatus::Aborted) {
            return Err(Error::Retry {
                reason: RetryReason::AbortedRecordFound,
                detail: format!(
                    "txn {} was aborted while waiting for txn {}",
                    pusher.id, pushee.id
                ),
            });
        }
        dependents = q.dependents;
    }
    let r = router.route(
        h,
        &Request::Push {
            pushee: pushee.clone(),
            dependents,
        },
    )?;
    let commit_ts = match r.status {
        Some(TxnStatus::Committed) => r.commit_ts,
        Some(TxnStatus::Aborted) => None,
        _ => return Ok(()),
    };
    router.route(
        h,
        &Request::Resolve {
            keys: vec![key],
            txn: pushee.id,
            commit_ts,
            ignored: r.ignored,
        },
    )?;
    Ok(())
}
