//! The messenger: typed messages in checksummed frames, carried by a [`Network`].
//!
//! Every message is encoded into a [`frame`] (fixed header + MessagePack body) on send and
//! checked and decoded on receipt, whatever the transport: the in-process [`LocalNetwork`] the
//! embedded deployment uses moves the same bytes a TCP connection will.
//!
//! Queues: each entity's inbox is an unbounded channel; what bounds it is the client-side
//! throttle (requests and bytes in flight per client), since every OSD-to-OSD message is caused
//! by a client request or by recovery, which is itself throttled per PG.

use rados_common::errno;
use rados_placement::osdmap;
use rados_store as store;

pub mod buf;
pub mod class;
pub mod clog;
pub mod command;
pub mod frame;
mod inbox;
mod local;
pub mod ops;
pub mod peering;
pub mod peers;
pub mod tcp;

pub use inbox::{Delivery, Event, Inbox};
pub use local::LocalNetwork;
pub use tcp::{Listener, PeerAddr, TcpConfig, TcpNetwork};

use crate::osdmap::{EntityAddr, Incremental, OsdMap, PgId};
use command::{MonCommand, MonReply, WireError};
use ops::{Eversion, OsdOpReply, OsdOpRequest, PgListReply, PgListRequest};
use peering::{LogEntry, PgInfo};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use thiserror::Error;

use crate::store::Transaction;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MsgError {
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("frame checksum mismatch (header says {expected:#010x}, body has {actual:#010x})")]
    Checksum { expected: u32, actual: u32 },
    #[error("message of {bytes} bytes exceeds the {max}-byte limit")]
    TooLarge { bytes: u64, max: u64 },
    #[error("message type {found} in a frame whose header says {header}")]
    TypeMismatch { header: u16, found: u16 },
    #[error("{0} is not reachable")]
    Unreachable(EntityName),
}

impl MsgError {
    pub fn errno(&self) -> i32 {
        match self {
            MsgError::TooLarge { .. } => crate::errno::E2BIG,
            MsgError::Unreachable(_) => crate::errno::EAGAIN,
            _ => crate::errno::EIO,
        }
    }
}

/// What kind of entity sent a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum EntityKind {
    Mon = 1,
    Osd = 2,
    Client = 3,
}

impl EntityKind {
    pub fn from_u8(v: u8) -> Option<EntityKind> {
        match v {
            1 => Some(EntityKind::Mon),
            2 => Some(EntityKind::Osd),
            3 => Some(EntityKind::Client),
            _ => None,
        }
    }
}

/// An entity's name: `mon.0`, `osd.3`, `client.4127`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntityName {
    pub kind: EntityKind,
    pub id: u64,
}

impl EntityName {
    pub fn mon(id: u64) -> Self {
        EntityName {
            kind: EntityKind::Mon,
            id,
        }
    }
    pub fn osd(id: i32) -> Self {
        EntityName {
            kind: EntityKind::Osd,
            id: id as u64,
        }
    }
    pub fn client(id: u64) -> Self {
        EntityName {
            kind: EntityKind::Client,
            id,
        }
    }
    /// The OSD id of an `osd.N` name.
    pub fn osd_id(&self) -> Option<i32> {
        (self.kind == EntityKind::Osd)
            .then(|| i32::try_from(self.id).ok())
            .flatten()
    }
}

impl fmt::Display for EntityName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            EntityKind::Mon => "mon",
            EntityKind::Osd => "osd",
            EntityKind::Client => "client",
        };
        write!(f, "{kind}.{}", self.id)
    }
}

/// Every message of the protocol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Message {
    // --- monitor
    /// Asks for the map epochs after `have`; with `subscribe`, also every later one.
    MonGetMap {
        have: u32,
        subscribe: bool,
    },
    /// A full map (when the asker is too far behind) and/or consecutive incrementals.
    MonMap {
        full: Option<Box<OsdMap>>,
        incrementals: Vec<Incremental>,
    },
    MonCommand(MonCommand),
    MonCommandReply(Result<MonReply, WireError>),
    /// Cluster log entries for a subscriber (see [`MonCommand::LogSubscribe`]).
    ClusterLog(Vec<clog::ClusterLogEntry>),
    /// Between monitors: a consensus request (or, with `reply`, the answer to the request
    /// of the same tid), encoded by the monitor.
    MonPeer {
        payload: bytes::Bytes,
        reply: bool,
    },
    /// Between monitors: a command a follower took from `src`, for the leader to carry out
    /// as if `src` had sent it; the leader answers the follower (`MonCommandReply`, same tid),
    /// which passes the answer on. A monitor that does not lead sends it back untouched
    /// (`bounced`), and the follower passes it on again once it knows the leader.
    MonForward {
        src: EntityName,
        cmd: MonCommand,
        bounced: bool,
    },
    // --- client and OSD
    OsdOp(Box<OsdOpRequest>),
    OsdOpReply(Box<OsdOpReply>),
    PgList(PgListRequest),
    PgListReply(Result<PgListReply, WireError>),
    /// A notify delivered to a watcher.
    WatchNotify {
        pgid: PgId,
        cookie: u64,
        notify_id: u64,
        notifier: u64,
        payload: bytes::Bytes,
    },
    /// The watcher's acknowledgement, with its reply.
    NotifyAck {
        pgid: PgId,
        cookie: u64,
        notify_id: u64,
        reply: bytes::Bytes,
    },
    /// The primary dropped the watcher's watch `cookie` (its object was removed): the watch
    /// is in error (ENOTCONN) until the client unwatches it.
    WatchDisconnect {
        pgid: PgId,
        cookie: u64,
    },
    // --- between OSDs
    /// A write the primary made, for a replica to apply: the store transaction (including
    /// the PG log entry) and the entry itself.
    RepOp {
        pgid: PgId,
        interval: u32,
        entry: LogEntry,
        txn: Transaction,
    },
    RepOpReply {
        pgid: PgId,
        interval: u32,
        version: Eversion,
        result: Result<(), WireError>,
    },
    PgQuery {
        pgid: PgId,
        interval: u32,
    },
    /// A replica's answer to a query: its info and log, or `None` without the PG, and the
    /// objects its log names that it does not hold yet (recovery of an active PG was under way).
    PgNotify {
        pgid: PgId,
        interval: u32,
        info: Option<PgInfo>,
        log: Vec<LogEntry>,
        missing: Vec<(u32, ops::ObjectName)>,
    },
    /// Asks the holder of the authoritative log to push objects to `target` (with
    /// `backfill`, every object, and the target drops objects not pushed).
    PgPushRequest {
        pgid: PgId,
        interval: u32,
        target: i32,
        objects: Vec<(u32, ops::ObjectName)>,
        backfill: bool,
    },
    /// One message of a push stream (at most a few MiB of object state): the target applies
    /// it and answers `PgPushPartAck`; the last one it also acknowledges to the PG's primary
    /// once durable (`PgPushAck`).
    PgPush {
        pgid: PgId,
        interval: u32,
        stream: u64,
        seq: u32,
        parts: Vec<peering::PushPart>,
        last: bool,
        primary: i32,
    },
    /// The target took (or refused) message `seq` of push stream `stream`: the pusher sends
    /// the next.
    PgPushPartAck {
        pgid: PgId,
        interval: u32,
        stream: u64,
        seq: u32,
        result: Result<(), WireError>,
    },
    PgPushAck {
        pgid: PgId,
        interval: u32,
    },
    /// The primary to the authority pushing to `target`: a client waits for this object, send
    /// it next.
    PgPushFirst {
        pgid: PgId,
        interval: u32,
        target: i32,
        object: (u32, ops::ObjectName),
    },
    /// The primary's authoritative info and log: the replica adopts them and serves the
    /// interval. `missing`: the objects the replica does not hold yet, which the primary
    /// pushes next (it records them durably with the log, and drops each as it arrives).
    PgActivate {
        pgid: PgId,
        interval: u32,
        info: PgInfo,
        log: Vec<LogEntry>,
        missing: Vec<(u32, ops::ObjectName)>,
    },
    /// The authority to the primary: `target` took the push of these objects (recovery while
    /// active); ops waiting for them may go on.
    PgRecovered {
        pgid: PgId,
        interval: u32,
        target: i32,
        objects: Vec<(u32, ops::ObjectName)>,
    },
    /// A replica's answer to `PgActivate` once it adopted the log durably.
    PgActivated {
        pgid: PgId,
        interval: u32,
    },
    /// A heartbeat between OSDs (`reply` set on the answer, which echoes the stamp).
    OsdPing {
        stamp_ns: u64,
        reply: bool,
    },
}

impl Message {
    /// Whether only an OSD may send this (replication, peering, recovery, heartbeats): from
    /// anyone else it is refused.
    pub fn is_osd_only(&self) -> bool {
        matches!(
            self,
            Message::RepOp { .. }
                | Message::RepOpReply { .. }
                | Message::PgQuery { .. }
                | Message::PgNotify { .. }
                | Message::PgPushRequest { .. }
                | Message::PgPush { .. }
                | Message::PgPushPartAck { .. }
                | Message::PgPushAck { .. }
                | Message::PgPushFirst { .. }
                | Message::PgActivate { .. }
                | Message::PgActivated { .. }
                | Message::PgRecovered { .. }
                | Message::OsdPing { .. }
        )
    }

    /// Whether only a monitor may send this (consensus between monitors).
    pub fn is_mon_only(&self) -> bool {
        matches!(self, Message::MonPeer { .. } | Message::MonForward { .. })
    }

    /// Roughly how many bytes the message's body takes (to size its buffer once).
    fn payload_hint(&self) -> usize {
        let steps = |steps: &[ops::OpStep]| {
            steps
                .iter()
                .map(|s| s.payload_bytes() as usize)
                .sum::<usize>()
        };
        256 + match self {
            Message::OsdOp(r) => steps(&r.steps),
            Message::RepOp { txn, .. } => txn.added_bytes() as usize,
            Message::PgPush { parts, .. } => parts
                .iter()
                .map(|p| match p {
                    peering::PushPart::Data { data, .. } => data.len(),
                    peering::PushPart::Whole(s) => {
                        s.data.len() + s.clones.iter().map(|(_, c)| c.data.len()).sum::<usize>()
                    }
                    _ => 256,
                })
                .sum(),
            Message::OsdOpReply(r) => match &r.outcome {
                ops::OpOutcome::Done { results, .. } => results
                    .iter()
                    .map(|r| match &r.out {
                        ops::StepOutput::Data(d) => d.len(),
                        _ => 64,
                    })
                    .sum(),
                _ => 0,
            },
            _ => 0,
        }
    }

    /// The header's message type.
    pub fn msg_type(&self) -> u16 {
        match self {
            Message::MonGetMap { .. } => 1,
            Message::MonMap { .. } => 2,
            Message::MonCommand(_) => 3,
            Message::MonCommandReply(_) => 4,
            Message::ClusterLog(_) => 5,
            Message::MonPeer { .. } => 6,
            Message::MonForward { .. } => 7,
            Message::OsdOp(_) => 10,
            Message::OsdOpReply(_) => 11,
            Message::PgList(_) => 12,
            Message::PgListReply(_) => 13,
            Message::WatchNotify { .. } => 14,
            Message::NotifyAck { .. } => 15,
            Message::WatchDisconnect { .. } => 16,
            Message::RepOp { .. } => 20,
            Message::RepOpReply { .. } => 21,
            Message::PgQuery { .. } => 22,
            Message::PgNotify { .. } => 23,
            Message::PgPushRequest { .. } => 24,
            Message::PgPush { .. } => 25,
            Message::PgPushAck { .. } => 26,
            Message::PgActivate { .. } => 27,
            Message::OsdPing { .. } => 30,
            Message::PgPushPartAck { .. } => 28,
            Message::PgPushFirst { .. } => 29,
            Message::PgActivated { .. } => 31,
            Message::PgRecovered { .. } => 32,
        }
    }
}

/// A decoded message and its header fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    pub src: EntityName,
    pub tid: u64,
    pub epoch: u32,
    pub msg: Message,
    /// A client's message holds its share of the receiver's budget for client messages
    /// until dropped (see `TcpConfig::client_bytes_max`).
    pub throttle: Option<Throttle>,
}

/// A share of a budget, given back when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct Throttle(#[allow(dead_code)] std::sync::Arc<tokio::sync::OwnedSemaphorePermit>);

impl Throttle {
    pub fn new(permit: tokio::sync::OwnedSemaphorePermit) -> Throttle {
        Throttle(std::sync::Arc::new(permit))
    }
}

/// Budget shares take no part in comparing messages.
impl PartialEq for Throttle {
    fn eq(&self, _: &Throttle) -> bool {
        true
    }
}

/// Encodes `msg` into a frame.
pub fn encode(
    src: EntityName,
    tid: u64,
    epoch: u32,
    msg: &Message,
) -> Result<bytes::Bytes, MsgError> {
    let header = frame::Header {
        msg_type: msg.msg_type(),
        src,
        tid,
        epoch,
        body_len: 0,
    };
    frame::build_with(header, msg.payload_hint(), |out| {
        rmp_serde::encode::write_named(out, msg).map_err(|e| MsgError::Malformed(e.to_string()))
    })
}

/// Checks and decodes a frame.
pub fn decode(frame_bytes: &bytes::Bytes) -> Result<Envelope, MsgError> {
    let (header, body) = frame::split(frame_bytes)?;
    decode_body(header, &body)
}

/// Decodes the body of a checked frame.
/// Large payloads come out as slices of `body` (see `rados_common::frame_bytes`).
fn decode_body(header: frame::Header, body: &bytes::Bytes) -> Result<Envelope, MsgError> {
    let msg: Message =
        rados_common::frame_bytes::decoding_from(body, || rmp_serde::from_slice(body))
            .map_err(|e| MsgError::Malformed(e.to_string()))?;
    if msg.msg_type() != header.msg_type {
        return Err(MsgError::TypeMismatch {
            header: header.msg_type,
            found: msg.msg_type(),
        });
    }
    Ok(Envelope {
        src: header.src,
        tid: header.tid,
        epoch: header.epoch,
        msg,
        throttle: None,
    })
}

/// Boxed future returned by [`Network`] methods.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), MsgError>> + Send + 'a>>;

/// A transport: delivers frames to named entities. The in-process network and TCP both
/// implement it; everything above speaks only in frames.
pub trait Network: Send + Sync + 'static {
    /// Delivers one frame to `to`; fails with [`MsgError::Unreachable`] when `to` is not
    /// known or has gone.
    fn deliver(&self, to: EntityName, frame: bytes::Bytes) -> SendFuture<'_>;
    /// Starts receiving frames addressed to `me`.
    fn register(&self, me: EntityName) -> Inbox;
    /// Stops delivering to `me`.
    fn unregister(&self, me: EntityName);
    /// The address `who` sends from, which the map's blocklist is matched against. Entities
    /// in this process have [`EntityAddr::local`] with their id as the nonce (a client's id
    /// is never reused, so neither is its address).
    fn addr_of(&self, who: EntityName) -> EntityAddr {
        EntityAddr::local(who.id)
    }
    /// Where `peer` (a daemon) listens, from the map or the configuration. A transport
    /// that needs no addresses ignores it.
    fn set_peer_addr(&self, _peer: EntityName, _addr: PeerAddr) {}
    /// Ends every session with `peer`: what is queued for it is dropped and senders waiting
    /// for room fail (the map says it is down, or another incarnation took its place).
    fn mark_down(&self, _peer: EntityName) {}
}

/// One entity's sending side: encodes and delivers.
#[derive(Clone)]
pub struct Messenger {
    pub me: EntityName,
    net: std::sync::Arc<dyn Network>,
}

impl Messenger {
    pub fn new(me: EntityName, net: std::sync::Arc<dyn Network>) -> Self {
        Messenger { me, net }
    }

    pub async fn send(
        &self,
        to: EntityName,
        tid: u64,
        epoch: u32,
        msg: &Message,
    ) -> Result<(), MsgError> {
        let frame = self.encode(tid, epoch, msg)?;
        self.net.deliver(to, frame).await
    }

    /// Encodes a message from this entity once, for [`Messenger::deliver`] to send to
    /// several destinations (and to learn before acting on it that it fits a frame).
    pub fn encode(&self, tid: u64, epoch: u32, msg: &Message) -> Result<bytes::Bytes, MsgError> {
        encode(self.me, tid, epoch, msg)
    }

    /// Delivers a frame made by [`Messenger::encode`].
    pub async fn deliver(&self, to: EntityName, frame: bytes::Bytes) -> Result<(), MsgError> {
        self.net.deliver(to, frame).await
    }

    /// The address `who` sends from (see [`Network::addr_of`]).
    pub fn addr_of(&self, who: EntityName) -> EntityAddr {
        self.net.addr_of(who)
    }

    pub fn network(&self) -> &std::sync::Arc<dyn Network> {
        &self.net
    }
}

#[cfg(test)]
mod tests;
