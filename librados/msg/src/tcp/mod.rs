//! The TCP transport: the same frames as in-process, carried by tokio TCP streams between
//! processes.
//!
//! - `hello.rs`: the handshake (fsid, names, incarnations, feature bits) and the items that
//!   follow it on a stream.
//! - `session.rs`: sessions that outlive connections (sequence numbers, acknowledgements,
//!   resends, byte budgets) and who dials whom.
//! - `conn.rs`: dialing with backoff, accepting, and each connection's reader and writer.
//!
//! Every frame read is checked whole (header, length bound, checksum, and that its sender is
//! the entity the connection was opened by) before it reaches an inbox; anything else closes
//! the connection with a logged reason, and the daemon goes on serving the others. Inboxes
//! are bounded: a full one stops the reading of its connections, which stops the peer's
//! sending once its budget of unacknowledged bytes is spent (back-pressure end to end).

mod conn;
pub mod hello;
mod session;

use super::{Delivery, EntityKind, EntityName, Inbox, MsgError, Network, SendFuture};
use crate::osdmap::{EntityAddr, Fsid};
use bytes::Bytes;
use session::{Pair, QueueError};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch, Notify};

/// The transport's settings.
#[derive(Clone, Debug)]
pub struct TcpConfig {
    pub fsid: Fsid,
    /// Unacknowledged bytes one session may have in flight before its sender waits.
    pub session_bytes_max: u64,
    /// Frames an entity's inbox holds before its connections stop being read.
    pub inbox_capacity: usize,
    pub connect_timeout: Duration,
    pub handshake_timeout: Duration,
    /// Redialing waits this long at first, doubling up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Bytes of messages from clients this process's entities may hold at once (received,
    /// not yet done with: each `Envelope` holds its share until dropped); a connection
    /// from a client is not read while they are spent, so TCP pushes back on that client
    /// alone. `None`: no limit.
    pub client_bytes_max: Option<u64>,
}

impl TcpConfig {
    pub fn new(fsid: Fsid) -> TcpConfig {
        TcpConfig {
            fsid,
            session_bytes_max: 128 << 20,
            inbox_capacity: 4096,
            connect_timeout: Duration::from_secs(3),
            handshake_timeout: Duration::from_secs(5),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
            client_bytes_max: None,
        }
    }
}

/// Where a peer daemon listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr {
    /// For clients and monitors (and OSDs without a cluster address).
    pub public: SocketAddr,
    /// For OSD-to-OSD traffic, when separate.
    pub cluster: Option<SocketAddr>,
    /// The incarnation expected there (0: any).
    pub nonce: u64,
}

/// What a listener accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// Clients, monitors and OSDs.
    Public,
    /// OSDs only (replication, recovery, heartbeats).
    Cluster,
}

struct State {
    locals: HashMap<EntityName, mpsc::Sender<Delivery>>,
    addrs: HashMap<EntityName, PeerAddr>,
    pairs: HashMap<(EntityName, EntityName), Arc<Pair>>,
    /// The address each remote entity was seen at (for blocklists and logs).
    seen: HashMap<EntityName, EntityAddr>,
    /// Live connections, by id.
    conns: HashMap<u64, session::Conn>,
    /// The IP our connections leave from, as the first one showed it.
    local_ip: Option<IpAddr>,
    listen: Vec<(Listener, SocketAddr)>,
}

struct Shared {
    cfg: TcpConfig,
    /// The cluster's fsid: the configured one, or (a client given none) the first monitor's.
    fsid: Mutex<Fsid>,
    nonce: u64,
    rt: Handle,
    st: Mutex<State>,
    next_conn: AtomicU64,
    /// Set once the network shuts down: listeners and connections end.
    stop: watch::Sender<bool>,
    /// Woken when an address changes, for dialers waiting to learn one.
    addr_changed: Notify,
    /// `TcpConfig::client_bytes_max`, in units of [`session::BUDGET_UNIT`].
    client_budget: Option<(Arc<tokio::sync::Semaphore>, u32)>,
}

/// Entities of this process talking to others over TCP.
#[derive(Clone)]
pub struct TcpNetwork {
    sh: Arc<Shared>,
}

impl TcpNetwork {
    /// A network whose tasks run on `rt`.
    pub fn new(cfg: TcpConfig, rt: Handle) -> TcpNetwork {
        let client_budget = cfg.client_bytes_max.map(|b| {
            let units = (b / session::BUDGET_UNIT).clamp(1, u32::MAX as u64) as u32;
            (Arc::new(tokio::sync::Semaphore::new(units as usize)), units)
        });
        TcpNetwork {
            sh: Arc::new(Shared {
                client_budget,
                fsid: Mutex::new(cfg.fsid),
                cfg,
                nonce: rados_common::random::nonzero_u64(),
                rt,
                st: Mutex::new(State {
                    locals: HashMap::new(),
                    addrs: HashMap::new(),
                    pairs: HashMap::new(),
                    seen: HashMap::new(),
                    conns: HashMap::new(),
                    local_ip: None,
                    listen: Vec::new(),
                }),
                next_conn: AtomicU64::new(1),
                stop: watch::channel(false).0,
                addr_changed: Notify::new(),
            }),
        }
    }

    /// This process's incarnation, which peers see in the handshake.
    pub fn nonce(&self) -> u64 {
        self.sh.nonce
    }

    /// Listens on `addr` (port 0: any free one); returns the address bound.
    pub async fn listen(&self, addr: SocketAddr, kind: Listener) -> std::io::Result<SocketAddr> {
        let l = tokio::net::TcpListener::bind(addr).await?;
        let bound = l.local_addr()?;
        self.sh.state().listen.push((kind, bound));
        tokio::spawn(conn::accept_loop(self.sh.clone(), l, kind));
        tracing::info!(target: "msg", "listening on {bound} ({kind:?})");
        Ok(bound)
    }

    /// Where `peer` listens. A different incarnation than before ends the old session.
    pub fn set_addr(&self, peer: EntityName, addr: PeerAddr) {
        let old = self.sh.state().addrs.insert(peer, addr);
        if let Some(old) = old {
            if old.nonce != addr.nonce && old.nonce != 0 {
                self.sh.mark_down(peer);
            }
        }
        self.sh.addr_changed.notify_waiters();
    }

    /// Bytes queued toward `peer` by `local` (sent and unacknowledged, or waiting).
    pub fn queued_bytes(&self, local: EntityName, peer: EntityName) -> u64 {
        self.sh
            .state()
            .pairs
            .get(&(local, peer))
            .map_or(0, |p| p.queued_bytes())
    }

    /// Closes every connection without ending any session, as a network fault would: dialers
    /// reconnect and resend what was not acknowledged.
    pub fn break_connections(&self) {
        let conns: Vec<session::Conn> = self.sh.state().conns.values().cloned().collect();
        for c in conns {
            c.close();
        }
    }

    /// Ends every connection and listener.
    pub fn shutdown(&self) {
        self.sh.shutdown();
    }
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fsid(&self) -> Fsid {
        *self.fsid.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_stopped(&self) -> bool {
        *self.stop.borrow()
    }

    fn shutdown(&self) {
        self.stop.send_replace(true);
        let conns: Vec<session::Conn> = self.state().conns.drain().map(|(_, c)| c).collect();
        for c in conns {
            c.close();
        }
        let pairs: Vec<Arc<Pair>> = self.state().pairs.drain().map(|(_, p)| p).collect();
        for p in pairs {
            p.close();
        }
        self.addr_changed.notify_waiters();
    }

    /// The pair for `(local, peer)`, made if there is none.
    fn pair(&self, local: EntityName, peer: EntityName) -> Arc<Pair> {
        let mut st = self.state();
        st.pairs
            .entry((local, peer))
            .or_insert_with(|| Arc::new(Pair::new(local, peer, 0, self.cfg.session_bytes_max)))
            .clone()
    }

    fn existing_pair(&self, local: EntityName, peer: EntityName) -> Option<Arc<Pair>> {
        self.state().pairs.get(&(local, peer)).cloned()
    }

    /// Ends every session with `peer` (the map says it is down or restarted).
    fn mark_down(&self, peer: EntityName) {
        let gone: Vec<Arc<Pair>> = {
            let mut st = self.state();
            let keys: Vec<_> = st
                .pairs
                .keys()
                .filter(|(_, p)| *p == peer)
                .copied()
                .collect();
            keys.into_iter()
                .filter_map(|k| st.pairs.remove(&k))
                .collect()
        };
        for p in gone {
            tracing::debug!(target: "msg", "{}: marking {} down", p.local, p.peer);
            p.close();
        }
    }

    fn local_inbox(&self, who: EntityName) -> Option<mpsc::Sender<Delivery>> {
        self.state().locals.get(&who).cloned()
    }

    fn addr_for_dial(&self, local: EntityName, peer: EntityName) -> Option<PeerAddr> {
        let st = self.state();
        let a = st.addrs.get(&peer).copied()?;
        Some(match (local.kind, a.cluster) {
            (EntityKind::Osd, Some(c)) if peer.kind == EntityKind::Osd => {
                PeerAddr { public: c, ..a }
            }
            _ => a,
        })
    }

    fn listen_port(&self) -> u16 {
        self.state()
            .listen
            .iter()
            .find(|(k, _)| *k == Listener::Public)
            .map_or(0, |(_, a)| a.port())
    }

    async fn deliver(self: &Arc<Self>, to: EntityName, frame: Bytes) -> Result<(), MsgError> {
        if self.is_stopped() {
            return Err(MsgError::Unreachable(to));
        }
        let (header, _) = super::frame::Header::parse(&frame)?;
        let from = header.src;
        if !self.state().locals.contains_key(&from) {
            return Err(MsgError::Malformed(format!(
                "{from} is not an entity of this process"
            )));
        }
        if let Some(tx) = self.local_inbox(to) {
            return tx
                .send(Delivery::Frame(frame))
                .await
                .map_err(|_| MsgError::Unreachable(to));
        }
        let pair = if session::dials(from, to) {
            self.pair(from, to)
        } else {
            // We can only answer over a connection the peer opened.
            self.existing_pair(from, to)
                .ok_or(MsgError::Unreachable(to))?
        };
        match pair.send(frame).await {
            Ok(()) => {
                if pair.dialer {
                    conn::ensure_dialing(self, &pair);
                }
                Ok(())
            }
            Err(QueueError::Closed) => Err(MsgError::Unreachable(to)),
            Err(QueueError::Full) => {
                tracing::warn!(target: "msg", "{from}: {to} is not taking messages; resetting the session");
                pair.abandon_out();
                Err(MsgError::Unreachable(to))
            }
        }
    }
}

impl Network for TcpNetwork {
    fn deliver(&self, to: EntityName, frame: Bytes) -> SendFuture<'_> {
        Box::pin(self.sh.deliver(to, frame))
    }

    fn register(&self, me: EntityName) -> Inbox {
        let (tx, rx) = mpsc::channel(self.sh.cfg.inbox_capacity);
        self.sh.state().locals.insert(me, tx);
        Inbox::bounded(rx)
    }

    fn unregister(&self, me: EntityName) {
        let (gone, empty): (Vec<Arc<Pair>>, bool) = {
            let mut st = self.sh.state();
            st.locals.remove(&me);
            let keys: Vec<_> = st.pairs.keys().filter(|(l, _)| *l == me).copied().collect();
            let gone = keys
                .into_iter()
                .filter_map(|k| st.pairs.remove(&k))
                .collect();
            (gone, st.locals.is_empty())
        };
        for p in gone {
            p.close();
        }
        if empty {
            self.sh.shutdown();
        }
    }

    fn addr_of(&self, who: EntityName) -> EntityAddr {
        let st = self.sh.state();
        if let Some(a) = st.seen.get(&who) {
            return *a;
        }
        let ip = st.local_ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        if who.kind == EntityKind::Client || !st.locals.contains_key(&who) {
            return EntityAddr {
                ip,
                port: 0,
                nonce: who.id,
            };
        }
        let port = st
            .listen
            .iter()
            .find(|(k, _)| *k == Listener::Public)
            .map_or(0, |(_, a)| a.port());
        let ip = st
            .listen
            .iter()
            .find(|(k, _)| *k == Listener::Public)
            .map_or(ip, |(_, a)| a.ip());
        EntityAddr {
            ip,
            port,
            nonce: self.sh.nonce,
        }
    }

    fn set_peer_addr(&self, peer: EntityName, addr: PeerAddr) {
        self.set_addr(peer, addr);
    }

    fn mark_down(&self, peer: EntityName) {
        self.sh.mark_down(peer);
    }
}

#[cfg(test)]
mod tests;
