//! The in-process transport: one channel per registered entity, carrying encoded frames.

use super::{Delivery, EntityName, Inbox, MsgError, Network, SendFuture};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::mpsc;

/// Entities of one process talking through channels. Frames are still encoded and checked,
/// exactly as over TCP.
#[derive(Default)]
pub struct LocalNetwork {
    peers: Mutex<HashMap<EntityName, mpsc::UnboundedSender<Delivery>>>,
}

impl LocalNetwork {
    pub fn new() -> Self {
        Self::default()
    }

    fn sender(&self, to: EntityName) -> Option<mpsc::UnboundedSender<Delivery>> {
        self.peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&to)
            .cloned()
    }
}

impl Network for LocalNetwork {
    fn deliver(&self, to: EntityName, frame: Bytes) -> SendFuture<'_> {
        let result = match self.sender(to) {
            Some(tx) => tx
                .send(Delivery::Frame(frame))
                .map_err(|_| MsgError::Unreachable(to)),
            None => Err(MsgError::Unreachable(to)),
        };
        Box::pin(async move { result })
    }

    fn register(&self, me: EntityName) -> Inbox {
        let (tx, rx) = mpsc::unbounded_channel();
        self.peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(me, tx);
        Inbox::unbounded(rx)
    }

    fn unregister(&self, me: EntityName) {
        self.peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&me);
    }
}
