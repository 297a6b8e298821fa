//! Connections: dialing (with backoff) and accepting, the handshake's decisions, and each
//! connection's reader and writer tasks.

use super::hello::{self, Handshake, HandshakeError, Hello, TAG_ACK, TAG_MSG};
use super::session::{dials, Conn, Item, Pair};
use super::{Listener, Shared};
use crate::buf;
use crate::frame::{self, HEADER_LEN};
use crate::osdmap::{EntityAddr, Fsid};
use crate::{Delivery, EntityKind, EntityName};
use bytes::{Bytes, BytesMut};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// Acknowledge at once after this many messages or bytes since the last immediate
/// acknowledgement, even while more are arriving (the sender keeps what is unacknowledged,
/// charged to its budget).
const ACK_EVERY: u64 = 64;
const ACK_BYTES: u64 = 16 << 20;
/// Otherwise an acknowledgement waits this long for a message going the other way to ride
/// with (a reply usually follows a request within it), saving a write and a wake-up on both
/// ends per message.
const ACK_DELAY: std::time::Duration = std::time::Duration::from_millis(2);

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Protocol(String),
    #[error("{0}")]
    Frame(#[from] crate::MsgError),
    #[error("closed")]
    Closed,
}

/// Our introduction, with no session state yet (the caller fills it in).
fn my_hello(sh: &Shared, name: EntityName, peer: Option<EntityName>) -> Hello {
    Hello {
        fsid: sh.fsid(),
        name,
        nonce: sh.nonce,
        features: hello::features::SUPPORTED,
        required: hello::features::REQUIRED,
        peer,
        out_nonce: 0,
        in_nonce: 0,
        in_seq: 0,
        listen_port: sh.listen_port(),
    }
}

/// Starts the dial task of a dialer pair unless one runs or it is connected.
pub(super) fn ensure_dialing(sh: &Arc<Shared>, pair: &Arc<Pair>) {
    let mut out = pair.out();
    if out.conn.is_some() || out.dialing || out.closed {
        return;
    }
    out.dialing = true;
    drop(out);
    sh.rt.spawn(dial_loop(sh.clone(), pair.clone()));
}

/// Dials `pair.peer` until connected (or the pair is closed), backing off between tries.
async fn dial_loop(sh: Arc<Shared>, pair: Arc<Pair>) {
    let mut backoff = sh.cfg.backoff_min;
    let mut stop = sh.stop.subscribe();
    loop {
        if pair.is_closed() || sh.is_stopped() {
            pair.out().dialing = false;
            return;
        }
        let Some(addr) = sh.addr_for_dial(pair.local, pair.peer) else {
            // Not known yet: wait for an address (or the backoff, in case one was missed).
            let changed = sh.addr_changed.notified();
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
            continue;
        };
        match dial_once(&sh, &pair, addr).await {
            Ok(()) => {
                pair.out().dialing = false;
                return;
            }
            Err(e) => {
                tracing::debug!(target: "msg", "{}: cannot reach {} at {}: {e}", pair.local, pair.peer, addr.public);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
                backoff = (backoff * 2).min(sh.cfg.backoff_max);
            }
        }
    }
}

/// One connection attempt.
async fn dial_once(
    sh: &Arc<Shared>,
    pair: &Arc<Pair>,
    addr: super::PeerAddr,
) -> Result<(), String> {
    let stream = tokio::time::timeout(sh.cfg.connect_timeout, TcpStream::connect(addr.public))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    if let Ok(local) = stream.local_addr() {
        sh.state().local_ip.get_or_insert(local.ip());
    }
    let (mut rd, mut wr) = stream.into_split();
    let conn_id = sh.next_conn.fetch_add(1, Ordering::Relaxed);
    // This connection also carries the peer's messages to us when it cannot dial us: our
    // state for that direction is held through the handshake, so no older connection
    // delivers into it meanwhile.
    // (Only then: two OSDs dialing each other at once must not wait for each other.)
    let carries_in = !dials(pair.peer, pair.local);
    let mut inn = if carries_in {
        Some(pair.inn.lock().await)
    } else {
        None
    };
    let mut mine = my_hello(sh, pair.local, Some(pair.peer));
    mine.out_nonce = pair.out().peer_nonce;
    if let Some(inn) = &inn {
        (mine.in_nonce, mine.in_seq) = (inn.peer_nonce, inn.in_seq);
    }
    let theirs = tokio::time::timeout(sh.cfg.handshake_timeout, async {
        hello::write_handshake(&mut wr, &Handshake::Hello(mine.clone())).await?;
        match hello::read_handshake(&mut rd).await? {
            Handshake::Hello(h) => Ok(h),
            Handshake::Refuse(r) => Err(HandshakeError::Refused(r)),
        }
    })
    .await
    .map_err(|_| "handshake timed out".to_string())?
    .map_err(|e: HandshakeError| e.to_string())?;
    if theirs.name != pair.peer {
        return Err(format!("{} answers there, not {}", theirs.name, pair.peer));
    }
    if mine.fsid == Fsid::NIL && theirs.name.kind == EntityKind::Mon {
        // A client told no fsid takes the monitor's.
        *sh.fsid.lock().unwrap_or_else(|e| e.into_inner()) = theirs.fsid;
        mine.fsid = theirs.fsid;
    }
    hello::check_peer(&mine, &theirs).map_err(|e| {
        tracing::warn!(target: "msg", "{}: refusing {}: {e}", pair.local, pair.peer);
        e
    })?;
    if addr.nonce != 0 && theirs.nonce != addr.nonce {
        return Err(format!(
            "another incarnation of {} answers (the map names {:#x}, it is {:#x})",
            pair.peer, addr.nonce, theirs.nonce
        ));
    }
    if let Some(inn) = &mut inn {
        take_in(sh, pair, inn, &theirs, conn_id).await;
    }
    drop(inn);
    let out_continues =
        hello::direction_continues(sh.nonce, mine.out_nonce, theirs.nonce, theirs.in_nonce);
    let conn = start_conn(sh, pair, conn_id, rd, wr);
    attach_out(sh, pair, conn, &theirs, out_continues).await?;
    tracing::debug!(target: "msg", "{}: connected to {} at {}", pair.local, pair.peer, addr.public);
    Ok(())
}

/// Settles our state for the peer's messages to us, for the session `theirs` describes:
/// resumed, or started afresh (telling the entity when an earlier one is lost); and makes
/// `conn_id` the connection they come on.
async fn take_in(
    sh: &Shared,
    pair: &Pair,
    inn: &mut super::session::In,
    theirs: &Hello,
    conn_id: u64,
) {
    let continues =
        hello::direction_continues(theirs.nonce, theirs.out_nonce, sh.nonce, inn.peer_nonce);
    if !continues {
        if inn.peer_nonce != 0 {
            tracing::info!(target: "msg", "{}: session from {} reset", pair.local, pair.peer);
            tell_reset(sh, pair).await;
        }
        inn.peer_nonce = theirs.nonce;
        inn.in_seq = 0;
    }
    inn.conn_id = conn_id;
}

/// Sends our messages to the peer over `conn` from now on (see `Pair::attach`).
async fn attach_out(
    sh: &Shared,
    pair: &Pair,
    conn: Conn,
    theirs: &Hello,
    continues: bool,
) -> Result<(), String> {
    match pair.attach(conn.clone(), theirs.nonce, continues, theirs.in_seq) {
        Ok(true) => {
            tracing::info!(target: "msg", "{}: session to {} reset; unacknowledged messages dropped", pair.local, pair.peer);
            tell_reset(sh, pair).await;
            Ok(())
        }
        Ok(false) => Ok(()),
        Err(()) => {
            conn.close();
            Err(format!("{} acknowledged messages never sent", pair.peer))
        }
    }
}

/// Puts word of a reset session in the local entity's inbox, before anything the new
/// session delivers.
async fn tell_reset(sh: &Shared, pair: &Pair) {
    if let Some(tx) = sh.local_inbox(pair.local) {
        let _ = tx.send(Delivery::Reset(pair.peer)).await;
    }
}

/// Accepts connections until the network stops.
pub(super) async fn accept_loop(sh: Arc<Shared>, l: TcpListener, kind: Listener) {
    let mut stop = sh.stop.subscribe();
    loop {
        let accepted = tokio::select! {
            a = l.accept() => a,
            _ = stop.wait_for(|s| *s) => return,
        };
        match accepted {
            Ok((stream, from)) => {
                let sh = sh.clone();
                tokio::spawn(async move {
                    if let Err(e) = accept_one(&sh, stream, from, kind).await {
                        tracing::warn!(target: "msg", "connection from {from} refused: {e}");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(target: "msg", "accept failed: {e}");
                tokio::time::sleep(sh.cfg.backoff_min).await;
            }
        }
    }
}

async fn accept_one(
    sh: &Arc<Shared>,
    stream: TcpStream,
    from: std::net::SocketAddr,
    kind: Listener,
) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let theirs = tokio::time::timeout(sh.cfg.handshake_timeout, hello::read_handshake(&mut rd))
        .await
        .map_err(|_| "handshake timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let Handshake::Hello(theirs) = theirs else {
        return Err("the initiator sent a refusal".into());
    };
    let local = match admit(sh, &theirs, kind) {
        Ok(local) => local,
        Err(reason) => {
            let _ = hello::write_handshake(&mut wr, &Handshake::Refuse(reason.clone())).await;
            return Err(format!("{}: {reason}", theirs.name));
        }
    };
    let pair = sh.pair(local, theirs.name);
    let conn_id = sh.next_conn.fetch_add(1, Ordering::Relaxed);
    // We answer over this connection when we cannot dial the peer.
    let carries_out = !pair.dialer;
    let mut inn = pair.inn.lock().await;
    let mut reply = my_hello(sh, local, None);
    reply.in_nonce = inn.peer_nonce;
    reply.in_seq = inn.in_seq;
    if carries_out {
        reply.out_nonce = pair.out().peer_nonce;
    }
    hello::write_handshake(&mut wr, &Handshake::Hello(reply.clone()))
        .await
        .map_err(|e| e.to_string())?;
    take_in(sh, &pair, &mut inn, &theirs, conn_id).await;
    drop(inn);
    let addr = EntityAddr {
        ip: from.ip(),
        port: if theirs.name.kind == EntityKind::Client {
            0
        } else {
            theirs.listen_port
        },
        nonce: if theirs.name.kind == EntityKind::Client {
            theirs.name.id
        } else {
            theirs.nonce
        },
    };
    sh.state().seen.insert(theirs.name, addr);
    let conn = start_conn(sh, &pair, conn_id, rd, wr);
    if carries_out {
        let continues =
            hello::direction_continues(sh.nonce, reply.out_nonce, theirs.nonce, theirs.in_nonce);
        attach_out(sh, &pair, conn, &theirs, continues).await?;
    }
    tracing::debug!(target: "msg", "{local}: {} connected from {from}", theirs.name);
    Ok(())
}

/// Whether an initiator may open a session here: it names an entity of this process, belongs
/// to this cluster, speaks what we need, and uses the address meant for its kind. Returns the
/// local entity it asked for.
fn admit(sh: &Shared, theirs: &Hello, kind: Listener) -> Result<EntityName, String> {
    let local = match theirs.peer {
        Some(p) if sh.local_inbox(p).is_some() => p,
        Some(p) => return Err(format!("{p} is not here")),
        None => return Err("no entity named".into()),
    };
    let mut mine = my_hello(sh, local, None);
    if theirs.fsid == Fsid::NIL && theirs.name.kind == EntityKind::Client {
        // A client that was told no fsid learns ours from this answer.
        mine.fsid = Fsid::NIL;
    }
    hello::check_peer(&mine, theirs)?;
    if kind == Listener::Cluster && theirs.name.kind != EntityKind::Osd {
        return Err(format!(
            "the cluster address serves OSDs only; {} must use the public address",
            theirs.name
        ));
    }
    if theirs.name == local {
        return Err("a peer cannot connect as ourselves".into());
    }
    Ok(local)
}

/// Starts a connection's reader and writer (the handshake has made it the connection of
/// the directions it carries).
fn start_conn(
    sh: &Arc<Shared>,
    pair: &Arc<Pair>,
    id: u64,
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
) -> Conn {
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let conn = Conn {
        id,
        tx,
        stop: Arc::new(stop_tx),
    };
    sh.state().conns.insert(conn.id, conn.clone());
    let writer = tokio::spawn(write_loop(
        BufWriter::with_capacity(64 << 10, wr),
        rx,
        stop_rx,
    ));
    let (sh2, pair2, conn2) = (sh.clone(), pair.clone(), conn.clone());
    tokio::spawn(async move {
        let r = read_loop(&sh2, &pair2, &conn2, BufReader::with_capacity(64 << 10, rd)).await;
        match &r {
            Err(ConnError::Closed) | Ok(()) => {}
            Err(ConnError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                tracing::debug!(target: "msg", "{}: {} closed the connection", pair2.local, pair2.peer)
            }
            Err(ConnError::Io(e)) => {
                tracing::debug!(target: "msg", "{}: connection with {} failed: {e}", pair2.local, pair2.peer)
            }
            Err(e) => {
                tracing::warn!(target: "msg", "{}: dropping the connection with {}: {e}", pair2.local, pair2.peer)
            }
        }
        conn2.close();
        let _ = writer.await;
        closed(&sh2, &pair2, conn2.id).await;
    });
    conn
}

async fn write_loop(
    mut w: BufWriter<OwnedWriteHalf>,
    mut rx: mpsc::UnboundedReceiver<Item>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    // The acknowledgement not yet written, and when it must go at the latest.
    let mut ack: Option<(u64, tokio::time::Instant)> = None;
    loop {
        let item = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return Ok(()),
            item = rx.recv() => match item {
                Some(item) => Some(item),
                None => return Ok(()),
            },
            _ = tokio::time::sleep_until(ack.map_or_else(tokio::time::Instant::now, |a| a.1)),
                if ack.is_some() => None,
        };
        let r = async {
            let mut ack_now = item.is_none();
            let mut next = item;
            while let Some(item) = next.take().or_else(|| rx.try_recv().ok()) {
                match item {
                    Item::Ack { seq, now } => {
                        let due = ack.map_or(tokio::time::Instant::now() + ACK_DELAY, |a| a.1);
                        ack = Some((ack.map_or(seq, |a| a.0.max(seq)), due));
                        ack_now |= now;
                    }
                    Item::Msg(seq, frame) => {
                        if let Some((acked, _)) = ack.take() {
                            write_item(&mut w, TAG_ACK, acked, None).await?;
                        }
                        write_item(&mut w, TAG_MSG, seq, Some(&frame)).await?;
                    }
                }
            }
            // Also when acknowledgements kept coming faster than the deadline was looked at.
            ack_now |= ack.is_some_and(|a| a.1 <= tokio::time::Instant::now());
            if ack_now {
                if let Some((acked, _)) = ack.take() {
                    write_item(&mut w, TAG_ACK, acked, None).await?;
                }
            }
            w.flush().await
        };
        tokio::select! {
            r = r => r?,
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
    }
}

async fn write_item(
    w: &mut BufWriter<OwnedWriteHalf>,
    tag: u8,
    seq: u64,
    frame: Option<&Bytes>,
) -> std::io::Result<()> {
    let mut head = [0u8; 9];
    head[0] = tag;
    head[1..].copy_from_slice(&seq.to_le_bytes());
    w.write_all(&head).await?;
    if let Some(f) = frame {
        w.write_all(f).await?;
    }
    Ok(())
}

async fn read_loop(
    sh: &Arc<Shared>,
    pair: &Arc<Pair>,
    conn: &Conn,
    mut r: BufReader<OwnedReadHalf>,
) -> Result<(), ConnError> {
    let mut stop = conn.stop.subscribe();
    let mut global_stop = sh.stop.subscribe();
    let mut last_acked = 0u64;
    let mut unacked_bytes = 0u64;
    // A delivery not yet acknowledged because more was already buffered behind it.
    let mut owed: Option<u64> = None;
    loop {
        if let Some(seq) = owed.filter(|_| r.buffer().is_empty()) {
            owed = None;
            let _ = conn.tx.send(Item::Ack { seq, now: false });
        }
        let tag = tokio::select! {
            t = r.read_u8() => t?,
            _ = stop.wait_for(|s| *s) => return Err(ConnError::Closed),
            _ = global_stop.wait_for(|s| *s) => return Err(ConnError::Closed),
        };
        let seq = r.read_u64_le().await?;
        match tag {
            TAG_ACK => {
                if !pair.ack(seq) {
                    return Err(ConnError::Protocol(format!(
                        "acknowledgement of message {seq}, never sent"
                    )));
                }
            }
            TAG_MSG => {
                let frame = read_frame(&mut r, pair.peer).await?;
                unacked_bytes += frame.len() as u64;
                if let Some(delivered) = deliver(sh, pair, conn.id, seq, frame).await? {
                    let now = delivered >= last_acked + ACK_EVERY || unacked_bytes >= ACK_BYTES;
                    if now {
                        last_acked = delivered;
                        unacked_bytes = 0;
                    }
                    if now || r.buffer().is_empty() {
                        owed = None;
                        let _ = conn.tx.send(Item::Ack {
                            seq: delivered,
                            now,
                        });
                    } else {
                        owed = Some(delivered);
                    }
                }
            }
            other => return Err(ConnError::Protocol(format!("unknown item tag {other}"))),
        }
    }
}

/// Frames up to this size get their whole buffer at once (a 4 MiB write and its headers).
const TRUSTED_ALLOC: usize = 8 << 20;

/// Reads one frame and checks it whole: header, length bound, checksum, and sender.
async fn read_frame(
    r: &mut BufReader<OwnedReadHalf>,
    peer: EntityName,
) -> Result<Bytes, ConnError> {
    let mut head = [0u8; HEADER_LEN];
    r.read_exact(&mut head).await?;
    let (header, _) = frame::Header::parse(&head)?;
    if header.src != peer {
        return Err(ConnError::Protocol(format!(
            "a frame from {} on {peer}'s connection",
            header.src
        )));
    }
    let total = HEADER_LEN + header.body_len as usize;
    // The body is read straight into the frame's buffer (never zeroed, never copied again).
    // Up to TRUSTED_ALLOC it is allocated whole, page-aligned and recycled from the second
    // pooled size on (see `buf.rs`); beyond, it grows with the data that came rather than
    // with what the length claims.
    let frame = if (buf::POOLED_MIN..=TRUSTED_ALLOC).contains(&total) {
        let mut buf = buf::FrameBuf::with_capacity(total);
        buf.extend_from_slice(&head);
        while buf.len() < total {
            read_some(r, &mut buf, total).await?;
        }
        buf.freeze()
    } else {
        let mut buf = BytesMut::with_capacity(total.min(TRUSTED_ALLOC));
        buf.extend_from_slice(&head);
        while buf.len() < total {
            if buf.len() == buf.capacity() {
                buf.reserve((total - buf.len()).min(buf.len()));
            }
            read_some(r, &mut buf, total).await?;
        }
        buf.freeze()
    };
    frame::split(&frame)?;
    Ok(frame)
}

/// Reads what has come of a frame of `total` bytes into `buf` (never past the frame).
async fn read_some(
    r: &mut BufReader<OwnedReadHalf>,
    buf: &mut (impl bytes::BufMut + AsRef<[u8]>),
    total: usize,
) -> Result<(), ConnError> {
    let remaining = (total - buf.as_ref().len()) as u64;
    if (&mut *r).take(remaining).read_buf(buf).await? == 0 {
        return Err(ConnError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(())
}

/// Hands message `seq` to the local entity if it is the next of the session; returns the
/// sequence number to acknowledge (`None` for nothing new).
async fn deliver(
    sh: &Arc<Shared>,
    pair: &Arc<Pair>,
    conn_id: u64,
    seq: u64,
    frame: Bytes,
) -> Result<Option<u64>, ConnError> {
    let mut inn = pair.inn.lock().await;
    if inn.conn_id != conn_id {
        return Err(ConnError::Closed);
    }
    if seq <= inn.in_seq {
        return Ok(Some(inn.in_seq));
    }
    if seq != inn.in_seq + 1 {
        return Err(ConnError::Protocol(format!(
            "message {seq} after {}: a gap in the session",
            inn.in_seq
        )));
    }
    let delivery = match (&sh.client_budget, pair.peer.kind) {
        (Some((budget, total)), EntityKind::Client) => {
            // A message larger than the whole budget waits for all of it, and goes alone.
            let units = (frame.len() as u64)
                .div_ceil(super::session::BUDGET_UNIT)
                .clamp(1, u64::from(*total)) as u32;
            let permit = budget
                .clone()
                .acquire_many_owned(units)
                .await
                .map_err(|_| ConnError::Closed)?;
            Delivery::Throttled(frame, crate::Throttle::new(permit))
        }
        _ => Delivery::Checked(frame),
    };
    match sh.local_inbox(pair.local) {
        Some(tx) => {
            if tx.send(delivery).await.is_err() {
                return Err(ConnError::Closed);
            }
        }
        None => return Err(ConnError::Closed),
    }
    inn.in_seq = seq;
    Ok(Some(seq))
}

/// A connection ended: detach it; redial if this side dials and has reason to; forget a
/// client's session (lossy).
async fn closed(sh: &Arc<Shared>, pair: &Arc<Pair>, conn_id: u64) {
    sh.state().conns.remove(&conn_id);
    {
        let mut inn = pair.inn.lock().await;
        if inn.conn_id == conn_id {
            inn.conn_id = 0;
        }
    }
    let was_out = {
        let mut out = pair.out();
        if out.conn.as_ref().is_some_and(|c| c.id == conn_id) {
            out.conn = None;
            true
        } else {
            false
        }
    };
    if sh.is_stopped() || pair.is_closed() {
        return;
    }
    if pair.peer.kind == EntityKind::Client {
        let mut st = sh.state();
        if st
            .pairs
            .get(&(pair.local, pair.peer))
            .is_some_and(|p| Arc::ptr_eq(p, pair))
            && pair.out().conn.is_none()
        {
            st.pairs.remove(&(pair.local, pair.peer));
            st.seen.remove(&pair.peer);
            drop(st);
            pair.close();
        }
        return;
    }
    // A dialer reconnects when it has something to send, or when the peer can only reach
    // it over the connections it opens.
    if was_out && pair.dialer && (pair.has_queued() || !dials(pair.peer, pair.local)) {
        ensure_dialing(sh, pair);
    }
}
