//! Sending independent requests to several ranges at once.
//!
//! The [`crate::sender::Sender`] interface blocks its caller, so a coordinator that must reach
//! several ranges (a refresh, a flush of buffered writes) fans the work out over a few scoped
//! threads: the cost is about one round trip to the slowest range instead of the sum, and
//! concurrent proposals are replicated together (the multi-raft loop batches them into one
//! log write).

use crate::sender::Sender;
use crate::{Error, Result};

/// Ranges a coordinator works on at once.
pub const PARALLEL: usize = 8;

/// Groups `items` (sorted by `key`) into runs whose keys lie in one range by `store`'s
/// routing: one request's worth each.
pub fn by_range<T>(
    store: &dyn Sender,
    items: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> &[u8],
) -> Vec<Vec<T>> {
    let mut groups: Vec<(u64, Vec<T>)> = Vec::new();
    for item in items {
        let range = store.range_of(key(&item));
        match groups.last_mut() {
            Some((r, group)) if *r == range => group.push(item),
            _ => groups.push((range, vec![item])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// Runs `work` on every group, at most [`PARALLEL`] at a time (the first group on the calling
/// thread when there is only one); returns the results in no particular order.
pub fn for_each<T: Send, R: Send>(
    groups: Vec<T>,
    work: impl Fn(T) -> Result<R> + Sync,
) -> Vec<Result<R>> {
    if groups.len() <= 1 {
        return groups.into_iter().map(&work).collect();
    }
    let workers = groups.len().min(PARALLEL);
    let mut shares: Vec<Vec<T>> = (0..workers).map(|_| Vec::new()).collect();
    for (i, g) in groups.into_iter().enumerate() {
        shares[i % workers].push(g);
    }
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .into_iter()
            .map(|share| scope.spawn(move || share.into_iter().map(work).collect::<Vec<_>>()))
            .collect();
        let mut out = Vec::new();
        for handle in handles {
            match handle.join() {
                Ok(results) => out.extend(results),
                Err(_) => out.push(Err(Error::Internal("a request worker panicked".into()))),
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_is_worked_on_once() {
        let mut got: Vec<u32> = for_each((0..20).collect(), |i: u32| Ok(i * 2))
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        got.sort();
        assert_eq!(got, (0..20).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(for_each(vec![1], |i: u32| Ok(i)).len(), 1);
        assert!(for_each(Vec::<u32>::new(), |i: u32| Ok(i)).is_empty());
    }
}
