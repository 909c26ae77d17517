//! The single-store transaction source: one [`Store`] over a node's engine with the protocol's
//! background threads (intent resolution, heartbeats, optionally MVCC gc), behind
//! [`TxnSource`]. The SQL layer of a single node and its tests use this.

use crate::coord::KvTxnSource;
use crate::range::RangeConfig;
use crate::store::{Store, StoreConfig};
use crate::{Result, Transaction, TxnOptions, TxnSource};
use kv::mvcc::Mvcc;
use kv::{Clock, Timestamp};
use std::sync::Arc;

/// Transactions on one store.
pub struct LocalTxnManager {
    source: KvTxnSource,
    store: Arc<Store>,
}

impl LocalTxnManager {
    /// A manager over `mvcc`, timestamping with `clock`; with `sync`, commits fsync.
    pub fn new(mvcc: Mvcc, clock: Arc<Clock>, sync: bool) -> Self {
        let cfg = StoreConfig {
            range: RangeConfig {
                sync,
                ..RangeConfig::default()
            },
            ..StoreConfig::default()
        };
        Self::with_config(mvcc, clock, cfg)
    }

    /// A manager with an explicit store configuration.
    pub fn with_config(mvcc: Mvcc, clock: Arc<Clock>, cfg: StoreConfig) -> Self {
        let store = Store::new(mvcc, clock, cfg);
        LocalTxnManager {
            source: KvTxnSource::new(store.clone()),
            store,
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The store's MVCC data.
    pub fn mvcc(&self) -> &Mvcc {
        self.store().mvcc()
    }
}

impl TxnSource for LocalTxnManager {
    fn begin(&self, opts: TxnOptions) -> Result<Box<dyn Transaction>> {
        self.source.begin(opts)
    }

    fn now(&self) -> Timestamp {
        self.source.now()
    }
}
