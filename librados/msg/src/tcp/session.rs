//! Sessions: what one local entity and one peer incarnation share across TCP connections.
//!
//! A [`Pair`] holds both directions between a local entity and a peer, each a session of
//! its own: the messages we send (numbered, kept until acknowledged so a new connection can
//! resend them in order, and charged to a byte budget that bounds what is in flight) and the
//! last sequence number we delivered from the peer (so a resent message is taken once). Each
//! direction belongs to one incarnation of the sender and one of the receiver; the handshake
//! tells each side which incarnations the other's state is for, and a direction whose two
//! ends disagree starts afresh (numbering from 1). A sender that drops messages that way, or
//! a receiver whose sender restarted, tells its entity (`Delivery::Reset`).
//!
//! Delivery policy, by who dials: the side that can dial (clients and OSDs toward monitors
//! and OSDs) keeps its messages across reconnects and waits for room in its budget
//! (back-pressure). The side that cannot dial (a monitor toward OSDs, anyone toward a
//! client) sends over the connection the peer opened: toward OSDs it keeps its messages
//! until the OSD reconnects (lossless) but never waits — with no room left it resets the
//! session instead, and the OSD learns of it on reconnecting; toward clients the session
//! ends with the connection (lossy: clients resend on their own).

use crate::{EntityKind, EntityName};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch, Semaphore};

/// Budget units: 1 KiB (a semaphore counts in u32).
pub const BUDGET_UNIT: u64 = 1024;

/// Whether `local` opens connections to `peer` (else it waits for `peer` to connect).
pub fn dials(local: EntityName, peer: EntityName) -> bool {
    peer.kind != EntityKind::Client
        && !(local.kind == EntityKind::Mon && peer.kind == EntityKind::Osd)
}

/// What a connection's writer sends.
#[derive(Debug)]
pub enum Item {
    Msg(u64, Bytes),
    /// Every message up to `seq` was delivered; `now` sends the acknowledgement at once,
    /// else it rides with the next message out or goes alone after a short delay.
    Ack {
        seq: u64,
        now: bool,
    },
}

/// A live connection, as sessions see it.
#[derive(Clone)]
pub struct Conn {
    pub id: u64,
    pub tx: mpsc::UnboundedSender<Item>,
    pub stop: Arc<watch::Sender<bool>>,
}

impl Conn {
    pub fn close(&self) {
        self.stop.send_replace(true);
    }
}

struct Queued {
    seq: u64,
    frame: Bytes,
    units: u32,
}

/// Our side of the session: messages out.
pub struct Out {
    /// The receiver incarnation this direction's state is for (0: never connected).
    pub peer_nonce: u64,
    next_seq: u64,
    /// Sent but unacknowledged, then not yet sent; ascending.
    queue: VecDeque<Queued>,
    pub conn: Option<Conn>,
    pub dialing: bool,
    pub closed: bool,
}

/// The peer's side: messages in.
pub struct In {
    /// The sender incarnation this direction's state is for (0: none yet).
    pub peer_nonce: u64,
    pub in_seq: u64,
    /// The connection whose reader may deliver (0: none).
    pub conn_id: u64,
}

/// One local entity and one peer.
pub struct Pair {
    pub local: EntityName,
    pub peer: EntityName,
    pub dialer: bool,
    budget: Arc<Semaphore>,
    budget_units: u32,
    pub out: Mutex<Out>,
    pub inn: tokio::sync::Mutex<In>,
}

/// Why a message could not be queued.
#[derive(Debug, PartialEq, Eq)]
pub enum QueueError {
    /// The session was closed (marked down, reset, or the network shut down).
    Closed,
    /// A side that never waits found no room: the session must be reset.
    Full,
}

impl Pair {
    pub fn new(local: EntityName, peer: EntityName, peer_nonce: u64, budget_bytes: u64) -> Pair {
        let units = (budget_bytes / BUDGET_UNIT).clamp(1, u64::from(u32::MAX >> 3)) as u32;
        Pair {
            local,
            peer,
            dialer: dials(local, peer),
            budget: Arc::new(Semaphore::new(units as usize)),
            budget_units: units,
            out: Mutex::new(Out {
                peer_nonce,
                next_seq: 1,
                queue: VecDeque::new(),
                conn: None,
                dialing: false,
                closed: false,
            }),
            inn: tokio::sync::Mutex::new(In {
                peer_nonce: 0,
                in_seq: 0,
                conn_id: 0,
            }),
        }
    }

    pub fn out(&self) -> std::sync::MutexGuard<'_, Out> {
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn units_for(&self, frame: &Bytes) -> u32 {
        (frame.len() as u64)
            .div_ceil(BUDGET_UNIT)
            .clamp(1, u64::from(self.budget_units)) as u32
    }

    /// Queues a frame (numbering it) and sends it if connected. A dialer waits for room in
    /// its budget; the other side never waits.
    pub async fn send(&self, frame: Bytes) -> Result<(), QueueError> {
        let units = self.units_for(&frame);
        let permit = if self.dialer {
            self.budget
                .acquire_many(units)
                .await
                .map_err(|_| QueueError::Closed)?
        } else {
            match self.budget.try_acquire_many(units) {
                Ok(p) => p,
                Err(tokio::sync::TryAcquireError::Closed) => return Err(QueueError::Closed),
                Err(tokio::sync::TryAcquireError::NoPermits) => return Err(QueueError::Full),
            }
        };
        let mut out = self.out();
        if out.closed {
            return Err(QueueError::Closed);
        }
        permit.forget();
        let seq = out.next_seq;
        out.next_seq += 1;
        if let Some(c) = &out.conn {
            let _ = c.tx.send(Item::Msg(seq, frame.clone()));
        }
        out.queue.push_back(Queued { seq, frame, units });
        Ok(())
    }

    /// The peer has every message up to `seq`: they leave the queue and free their budget.
    /// False when `seq` names a message never sent (a protocol error).
    pub fn ack(&self, seq: u64) -> bool {
        let mut out = self.out();
        if seq >= out.next_seq {
            return false;
        }
        let mut freed = 0usize;
        while out.queue.front().is_some_and(|q| q.seq <= seq) {
            if let Some(q) = out.queue.pop_front() {
                freed += q.units as usize;
            }
        }
        drop(out);
        self.budget.add_permits(freed);
        true
    }

    /// Sends this direction's messages over `conn` from now on, to receiver incarnation
    /// `nonce`. When the direction `continues`, what the receiver has (up to `acked`) is
    /// dropped and the rest is sent again in order; otherwise it starts afresh: messages of
    /// an earlier session are dropped (the result says whether there were such), messages
    /// never sent are numbered from 1. `Err` when `acked` names a message never sent.
    pub fn attach(&self, conn: Conn, nonce: u64, continues: bool, acked: u64) -> Result<bool, ()> {
        let mut dropped = false;
        if continues {
            if !self.ack(acked) {
                return Err(());
            }
        } else {
            let mut out = self.out();
            if out.peer_nonce != 0 {
                let freed: usize = out.queue.drain(..).map(|q| q.units as usize).sum();
                out.next_seq = 1;
                dropped = true;
                drop(out);
                self.budget.add_permits(freed);
            }
        }
        let mut out = self.out();
        out.peer_nonce = nonce;
        for q in &out.queue {
            let _ = conn.tx.send(Item::Msg(q.seq, q.frame.clone()));
        }
        if let Some(old) = out.conn.replace(conn) {
            old.close();
        }
        Ok(dropped)
    }

    /// Gives up on this direction's messages (the peer took none of them for too long):
    /// they are dropped and the connection closed; when the peer reconnects, both ends see
    /// that the direction cannot continue and tell their entities.
    pub fn abandon_out(&self) {
        let mut out = self.out();
        let freed: usize = out.queue.drain(..).map(|q| q.units as usize).sum();
        out.next_seq = 1;
        // Matches no incarnation (nonces are random), so the direction cannot resume.
        out.peer_nonce = u64::MAX;
        if let Some(c) = out.conn.take() {
            c.close();
        }
        drop(out);
        self.budget.add_permits(freed);
    }

    /// Whether there is anything to send.
    pub fn has_queued(&self) -> bool {
        !self.out().queue.is_empty()
    }

    /// Ends the session: queued messages are dropped, waiting senders fail, the connection
    /// it sends on is closed.
    pub fn close(&self) {
        let mut out = self.out();
        out.closed = true;
        out.queue.clear();
        if let Some(c) = out.conn.take() {
            c.close();
        }
        drop(out);
        self.budget.close();
    }

    pub fn is_closed(&self) -> bool {
        self.out().closed
    }

    /// Bytes queued (sent but unacknowledged, or not yet sent).
    pub fn queued_bytes(&self) -> u64 {
        self.out().queue.iter().map(|q| q.frame.len() as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(id: u64) -> (Conn, mpsc::UnboundedReceiver<Item>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Conn {
                id,
                tx,
                stop: Arc::new(watch::channel(false).0),
            },
            rx,
        )
    }

    fn seqs(rx: &mut mpsc::UnboundedReceiver<Item>) -> Vec<u64> {
        let mut v = Vec::new();
        while let Ok(Item::Msg(s, _)) = rx.try_recv() {
            v.push(s);
        }
        v
    }

    #[tokio::test]
    async fn unacknowledged_messages_are_resent_in_order_on_a_new_connection() {
        let p = Pair::new(EntityName::osd(1), EntityName::osd(2), 0, 1 << 20);
        p.send(Bytes::from(vec![9; 10])).await.unwrap();
        let (c1, mut rx1) = conn(1);
        // The first connection: nothing to drop, the queued message numbered 1.
        assert_eq!(p.attach(c1, 9, false, 0), Ok(false));
        for i in 0..4u8 {
            p.send(Bytes::from(vec![i; 10])).await.unwrap();
        }
        assert_eq!(seqs(&mut rx1), vec![1, 2, 3, 4, 5]);
        assert!(p.ack(2));
        let (c2, mut rx2) = conn(2);
        assert_eq!(p.attach(c2, 9, true, 3), Ok(false));
        assert_eq!(seqs(&mut rx2), vec![4, 5]);
        assert!(!p.ack(6), "an ack of a message never sent is an error");
        // The receiver restarted: the rest is dropped and numbering starts again.
        let (c3, mut rx3) = conn(3);
        assert_eq!(p.attach(c3, 10, false, 0), Ok(true));
        assert!(seqs(&mut rx3).is_empty());
        p.send(Bytes::from(vec![1; 10])).await.unwrap();
        assert_eq!(seqs(&mut rx3), vec![1]);
    }

    #[tokio::test]
    async fn the_budget_bounds_what_is_in_flight() {
        // A monitor never waits: with no room it asks for a reset.
        let p = Pair::new(EntityName::mon(0), EntityName::osd(2), 9, 4 * BUDGET_UNIT);
        p.send(Bytes::from(vec![0; 3000])).await.unwrap();
        assert_eq!(
            p.send(Bytes::from(vec![0; 2000])).await,
            Err(QueueError::Full)
        );
        assert!(p.ack(1));
        p.send(Bytes::from(vec![0; 2000])).await.unwrap();
        // A dialer waits for room, and fails once the session is closed.
        let p = Arc::new(Pair::new(
            EntityName::osd(1),
            EntityName::osd(2),
            9,
            2 * BUDGET_UNIT,
        ));
        p.send(Bytes::from(vec![0; 2048])).await.unwrap();
        let waiting = tokio::spawn({
            let p = p.clone();
            async move { p.send(Bytes::from(vec![0; 10])).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        p.close();
        assert_eq!(waiting.await.unwrap(), Err(QueueError::Closed));
    }

    #[test]
    fn who_dials_whom() {
        let (c, o, m) = (
            EntityName::client(4),
            EntityName::osd(1),
            EntityName::mon(0),
        );
        assert!(dials(c, o) && dials(c, m) && dials(o, m) && dials(o, EntityName::osd(2)));
        assert!(!dials(o, c) && !dials(m, o) && !dials(m, c));
    }
}
