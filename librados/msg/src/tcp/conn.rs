//! Connections: dialing (with backoff) and accepting, the handshake's decisions, and each
//! connection's reader and writer tasks.

use super::hello::{self, Handshake, HandshakeError, Hello, TAG_ACK, TAG_MSG};
use super::session::{dials, Conn, Item, Pair};
use super::{Listener, Shared};
use crate::frame::{self, HEADER_LEN};
use crate::osdmap::EntityAddr;
use crate::{Delivery, EntityKind, EntityName};
use bytes::{Bytes, BytesMut};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// Acknowledge at least every this many messages, even while more are arriving.
const ACK_EVERY: u64 = 64;

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

fn my_hello(
    sh: &Shared,
    name: EntityName,
    peer: Option<EntityName>,
    seen: u64,
    in_seq: u64,
) -> Hello {
    Hello {
        fsid: sh.cfg.fsid,
        name,
        nonce: sh.nonce,
        features: hello::features::SUPPORTED,
        required: hello::features::REQUIRED,
        peer,
        seen_nonce: seen,
        in_seq,
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
async fn dial_loop(sh: Arc<Shared>, mut pair: Arc<Pair>) {
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
            Ok(p) => {
                p.out().dialing = false;
                if !Arc::ptr_eq(&p, &pair) {
                    pair.out().dialing = false;
                }
                return;
            }
            Err(DialFailure::Replaced(p)) => pair = p,
            Err(DialFailure::Failed(e)) => {
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

enum DialFailure {
    Failed(String),
    /// The pair was reset during the handshake: go on dialing for the fresh one.
    Replaced(Arc<Pair>),
}

/// One connection attempt; returns the pair the connection now serves.
async fn dial_once(
    sh: &Arc<Shared>,
    pair: &Arc<Pair>,
    addr: super::PeerAddr,
) -> Result<Arc<Pair>, DialFailure> {
    let fail = |e: String| DialFailure::Failed(e);
    let stream = tokio::time::timeout(sh.cfg.connect_timeout, TcpStream::connect(addr.public))
        .await
        .map_err(|_| fail("connect timed out".into()))?
        .map_err(|e| fail(e.to_string()))?;
    let _ = stream.set_nodelay(true);
    if let Ok(local) = stream.local_addr() {
        sh.state().local_ip.get_or_insert(local.ip());
    }
    let (mut rd, mut wr) = stream.into_split();
    let (seen, in_seq) = {
        let seen = pair.out().peer_nonce;
        (seen, pair.inn.lock().await.in_seq)
    };
    let mine = my_hello(sh, pair.local, Some(pair.peer), seen, in_seq);
    let theirs = tokio::time::timeout(sh.cfg.handshake_timeout, async {
        hello::write_handshake(&mut wr, &Handshake::Hello(mine.clone())).await?;
        match hello::read_handshake(&mut rd).await? {
            Handshake::Hello(h) => Ok(h),
            Handshake::Refuse(r) => Err(HandshakeError::Refused(r)),
        }
    })
    .await
    .map_err(|_| fail("handshake timed out".into()))?
    .map_err(|e: HandshakeError| fail(e.to_string()))?;
    if theirs.name != pair.peer {
        return Err(fail(format!(
            "{} answers there, not {}",
            theirs.name, pair.peer
        )));
    }
    hello::check_peer(&mine, &theirs).map_err(|e| {
        tracing::warn!(target: "msg", "{}: refusing {}: {e}", pair.local, pair.peer);
        fail(e)
    })?;
    if addr.nonce != 0 && theirs.nonce != addr.nonce {
        return Err(fail(format!(
            "another incarnation of {} answers (the map names {:#x}, it is {:#x})",
            pair.peer, addr.nonce, theirs.nonce
        )));
    }
    let continues = hello::session_continues(sh.nonce, seen, theirs.nonce, theirs.seen_nonce);
    let pair = if continues {
        pair.clone()
    } else if seen != 0 {
        let fresh = sh.reset_pair(pair, theirs.nonce);
        fresh.out().dialing = true;
        fresh
    } else {
        pair.out().peer_nonce = theirs.nonce;
        pair.clone()
    };
    if pair.is_closed() {
        return Err(DialFailure::Replaced(sh.pair(pair.local, pair.peer)));
    }
    let acked = if continues { theirs.in_seq } else { 0 };
    let conn = start_conn(sh, &pair, rd, wr, !dials(pair.peer, pair.local)).await;
    if !pair.attach(conn.clone(), acked) {
        conn.close();
        return Err(fail(format!(
            "{} acknowledged messages never sent",
            pair.peer
        )));
    }
    tracing::debug!(target: "msg", "{}: connected to {} at {}", pair.local, pair.peer, addr.public);
    Ok(pair)
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
    let mine = my_hello(sh, local, None, 0, 0);
    let pair = sh.pair(local, theirs.name);
    let seen = pair.out().peer_nonce;
    let in_seq = if seen == theirs.nonce {
        pair.inn.lock().await.in_seq
    } else {
        0
    };
    let reply = Hello {
        seen_nonce: seen,
        in_seq,
        ..mine
    };
    hello::write_handshake(&mut wr, &Handshake::Hello(reply))
        .await
        .map_err(|e| e.to_string())?;
    let continues = hello::session_continues(sh.nonce, seen, theirs.nonce, theirs.seen_nonce);
    let pair = if continues {
        pair
    } else if seen != 0 {
        sh.reset_pair(&pair, theirs.nonce)
    } else {
        pair.out().peer_nonce = theirs.nonce;
        pair
    };
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
    let conn = start_conn(sh, &pair, rd, wr, true).await;
    if !pair.dialer {
        let acked = if continues { theirs.in_seq } else { 0 };
        if !pair.attach(conn.clone(), acked) {
            conn.close();
            return Err(format!("{} acknowledged messages never sent", theirs.name));
        }
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
    hello::check_peer(&my_hello(sh, local, None, 0, 0), theirs)?;
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

/// Starts a connection's reader and writer. With `takes_in`, the reader delivers the peer's
/// messages (this connection replaces any earlier one for that direction); otherwise it only
/// takes acknowledgements.
async fn start_conn(
    sh: &Arc<Shared>,
    pair: &Arc<Pair>,
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    takes_in: bool,
) -> Conn {
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let conn = Conn {
        id: sh.next_conn.fetch_add(1, Ordering::Relaxed),
        tx,
        stop: Arc::new(stop_tx),
    };
    if takes_in {
        pair.inn.lock().await.conn_id = conn.id;
    }
    sh.state().conns.insert(conn.id, conn.clone());
    let writer = tokio::spawn(write_loop(
        BufWriter::with_capacity(64 << 10, wr),
        rx,
        stop_rx.clone(),
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
    loop {
        let item = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return Ok(()),
            item = rx.recv() => item,
        };
        let Some(item) = item else { return Ok(()) };
        let r = async {
            write_item(&mut w, item).await?;
            while let Ok(item) = rx.try_recv() {
                write_item(&mut w, item).await?;
            }
            w.flush().await
        };
        tokio::select! {
            r = r => r?,
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
    }
}

async fn write_item(w: &mut BufWriter<OwnedWriteHalf>, item: Item) -> std::io::Result<()> {
    let mut head = [0u8; 9];
    let (tag, seq, frame) = match item {
        Item::Msg(seq, f) => (TAG_MSG, seq, Some(f)),
        Item::Ack(seq) => (TAG_ACK, seq, None),
    };
    head[0] = tag;
    head[1..].copy_from_slice(&seq.to_le_bytes());
    w.write_all(&head).await?;
    if let Some(f) = frame {
        w.write_all(&f).await?;
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
    loop {
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
                if let Some(delivered) = deliver(sh, pair, conn.id, seq, frame).await? {
                    if r.buffer().is_empty() || delivered >= last_acked + ACK_EVERY {
                        last_acked = delivered;
                        let _ = conn.tx.send(Item::Ack(delivered));
                    }
                }
            }
            other => return Err(ConnError::Protocol(format!("unknown item tag {other}"))),
        }
    }
}

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
    let len = header.body_len as usize;
    // Grow with the data rather than trusting the length to allocate.
    let mut buf = BytesMut::with_capacity(HEADER_LEN + len.min(1 << 20));
    buf.extend_from_slice(&head);
    let mut body = Vec::with_capacity(len.min(1 << 20));
    let got = (&mut *r).take(len as u64).read_to_end(&mut body).await?;
    if got != len {
        return Err(ConnError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    buf.extend_from_slice(&body);
    let frame = buf.freeze();
    frame::split(&frame)?;
    Ok(frame)
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
    match sh.local_inbox(pair.local) {
        Some(tx) => {
            if tx.send(Delivery::Checked(frame)).await.is_err() {
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
