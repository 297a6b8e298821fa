//! The in-process transport: one channel per registered entity, carrying encoded frames.

use super::{decode, EntityName, Envelope, MsgError, Network, SendFuture};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::mpsc;

/// Where an entity receives its frames.
pub struct Inbox {
    rx: mpsc::UnboundedReceiver<Bytes>,
}

impl Inbox {
    pub(crate) fn new(rx: mpsc::UnboundedReceiver<Bytes>) -> Self {
        Inbox { rx }
    }

    /// The next well-formed message; malformed frames are logged and skipped. `None` once the
    /// entity is unregistered and its queue drained.
    pub async fn recv(&mut self) -> Option<Envelope> {
        loop {
            let frame = self.rx.recv().await?;
            match decode(&frame) {
                Ok(env) => return Some(env),
                Err(e) => tracing::warn!(target: "msg", "dropping frame: {e}"),
            }
        }
    }
}

/// Entities of one process talking through channels. Frames are still encoded and checked,
/// exactly as over TCP.
#[derive(Default)]
pub struct LocalNetwork {
    peers: Mutex<HashMap<EntityName, mpsc::UnboundedSender<Bytes>>>,
}

impl LocalNetwork {
    pub fn new() -> Self {
        Self::default()
    }

    fn sender(&self, to: EntityName) -> Option<mpsc::UnboundedSender<Bytes>> {
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
            Some(tx) => tx.send(frame).map_err(|_| MsgError::Unreachable(to)),
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
        Inbox::new(rx)
    }

    fn unregister(&self, me: EntityName) {
        self.peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&me);
    }
}
