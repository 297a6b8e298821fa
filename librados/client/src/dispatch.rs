//! The client's receive loop: maps from the monitor (and what they say about the OSDs'
//! addresses), replies to their waiters, notifies and cluster log entries, session resets.

use super::{clog, watch, ClientInner, Pending, Rados};
use crate::msg::{EntityName, Event, Message, Messenger};
use crate::osdmap::OsdMap;
use std::sync::{Arc, Weak};

/// What the receive loop hands messages to.
pub(crate) struct Receiver {
    pub client: Weak<ClientInner>,
    pub pending: Arc<Pending>,
    pub watches: Arc<watch::Watches>,
    pub log_follower: Arc<clog::LogFollower>,
    pub msgr: Messenger,
    pub map_tx: tokio::sync::watch::Sender<Arc<OsdMap>>,
    pub resets: tokio::sync::broadcast::Sender<EntityName>,
}

impl Receiver {
    /// The client's receive loop: maps from the monitor, replies to their waiters. It holds
    /// no reference to the handle, so the cluster is always shut down by whoever drops the
    /// last handle, never from inside its own runtime.
    pub async fn run(self, mut inbox: crate::msg::Inbox) {
        let Receiver {
            client,
            pending,
            watches,
            log_follower,
            msgr,
            map_tx,
            resets: _,
        } = &self;
        while let Some(ev) = inbox.next().await {
            let env = match ev {
                Event::Msg(env) => env,
                Event::Reset(peer) => {
                    self.on_reset(peer).await;
                    continue;
                }
            };
            match env.msg {
                Message::WatchNotify { .. } => watches.on_notify(msgr, env),
                Message::WatchDisconnect { cookie, .. } => watches.on_disconnect(cookie),
                Message::ClusterLog(entries) => log_follower.deliver(entries),
                Message::MonMap { full, incrementals } => {
                    let current = map_tx.borrow().clone();
                    let mut map = match full.map(|f| f.into_checked()) {
                        Some(Ok(f)) if f.epoch() > current.epoch() => f,
                        Some(Err(e)) => {
                            tracing::warn!(target: "client", "refusing a map: {e}");
                            continue;
                        }
                        _ => (*current).clone(),
                    };
                    for inc in incrementals {
                        if inc.epoch == map.epoch() + 1 {
                            if let Err(e) = map.apply_incremental(&inc) {
                                tracing::warn!(target: "client", "cannot apply epoch {}: {e}", inc.epoch);
                                break;
                            }
                        }
                    }
                    if map.epoch() > current.epoch() {
                        let map = Arc::new(map);
                        crate::msg::peers::follow_map(
                            msgr.network().as_ref(),
                            Some(&current),
                            &map,
                        );
                        map_tx.send_replace(map.clone());
                        watch::rewatch(client, watches, &current, &map);
                    }
                }
                _ => {
                    let waiter = pending
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&env.tid);
                    if let Some(w) = waiter {
                        let _ = w.send(env);
                    }
                }
            }
        }
    }

    /// A session was reset. The monitor's: it may have lost our subscriptions, so subscribe to
    /// the map (and the cluster log, when followed) again. An OSD's: requests waiting for it are
    /// sent again.
    async fn on_reset(&self, peer: EntityName) {
        let Receiver {
            client,
            msgr,
            map_tx,
            log_follower,
            resets,
            ..
        } = self;
        tracing::debug!(target: "client", "{}: session with {peer} reset", msgr.me);
        if peer.kind != crate::msg::EntityKind::Mon {
            let _ = resets.send(peer);
            return;
        }
        let have = map_tx.borrow().epoch();
        let sub = Message::MonGetMap {
            have,
            subscribe: true,
        };
        if let Err(e) = msgr.send(EntityName::mon(0), 0, have, &sub).await {
            tracing::warn!(target: "client", "{}: cannot subscribe to the map again: {e}", msgr.me);
        }
        if let Some(inner) = client.upgrade() {
            log_follower.resubscribe(Rados { inner });
        }
    }
}
