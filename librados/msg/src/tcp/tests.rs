//! The TCP transport between networks of one test process, over 127.0.0.1.

use super::*;
use crate::{encode, Event, Message};
use std::net::SocketAddr;
use tokio::io::AsyncWriteExt;

const FSID: Fsid = Fsid([3; 16]);
const WAIT: Duration = Duration::from_secs(10);

fn net() -> TcpNetwork {
    let mut cfg = TcpConfig::new(FSID);
    cfg.backoff_min = Duration::from_millis(10);
    cfg.backoff_max = Duration::from_millis(100);
    TcpNetwork::new(cfg, Handle::current())
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn msg(i: u64) -> Message {
    Message::MonGetMap {
        have: i as u32,
        subscribe: false,
    }
}

async fn send(net: &TcpNetwork, from: EntityName, to: EntityName, i: u64) -> Result<(), MsgError> {
    net.deliver(to, encode(from, i, 0, &msg(i)).unwrap()).await
}

async fn next(inbox: &mut Inbox) -> Event {
    tokio::time::timeout(WAIT, inbox.next())
        .await
        .expect("a delivery in time")
        .expect("an open inbox")
}

/// Receives messages until `n` of them came; returns their tids.
async fn tids(inbox: &mut Inbox, n: usize) -> Vec<u64> {
    let mut got = Vec::new();
    while got.len() < n {
        if let Event::Msg(env) = next(inbox).await {
            got.push(env.tid);
        }
    }
    got
}

async fn server(name: EntityName) -> (TcpNetwork, Inbox, SocketAddr) {
    let n = net();
    let inbox = n.register(name);
    let addr = n.listen(any_port(), Listener::Public).await.unwrap();
    (n, inbox, addr)
}

fn at(addr: SocketAddr) -> PeerAddr {
    PeerAddr {
        public: addr,
        cluster: None,
        nonce: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_arrive_in_order_across_broken_connections() {
    let (a, b) = (EntityName::osd(1), EntityName::osd(2));
    let (_na, mut ia, addr) = server(a).await;
    let nb = net();
    let _ib = nb.register(b);
    nb.set_addr(a, at(addr));
    let sender = tokio::spawn({
        let nb = nb.clone();
        async move {
            for i in 1..=3000u64 {
                send(&nb, b, a, i).await.unwrap();
                if i % 500 == 0 {
                    nb.break_connections();
                }
            }
        }
    });
    let got = tids(&mut ia, 3000).await;
    sender.await.unwrap();
    assert_eq!(got, (1..=3000).collect::<Vec<_>>(), "once each, in order");
    // Everything was acknowledged in the end.
    tokio::time::timeout(WAIT, async {
        while nb.queued_bytes(b, a) > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
}

/// Waits until `local` has nothing unacknowledged toward `peer`.
async fn all_acknowledged(n: &TcpNetwork, local: EntityName, peer: EntityName) {
    tokio::time::timeout(WAIT, async {
        while n.queued_bytes(local, peer) > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("everything acknowledged in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgements_ride_with_replies_or_follow_alone() {
    let (a, b) = (EntityName::osd(1), EntityName::osd(2));
    let (na, mut ia, addr_a) = server(a).await;
    let (nb, mut ib, addr_b) = server(b).await;
    nb.set_addr(a, at(addr_a));
    na.set_addr(b, at(addr_b));
    // A message nothing answers is acknowledged on its own after the short delay.
    send(&nb, b, a, 1).await.unwrap();
    assert_eq!(tids(&mut ia, 1).await, [1]);
    all_acknowledged(&nb, b, a).await;
    // Requests and replies back and forth: each side's acknowledgements go out with its
    // messages, and the last ones alone; nothing stays unacknowledged.
    for i in 2..=50u64 {
        send(&nb, b, a, i).await.unwrap();
        assert_eq!(tids(&mut ia, 1).await, [i]);
        send(&na, a, b, i).await.unwrap();
        assert_eq!(tids(&mut ib, 1).await, [i]);
    }
    all_acknowledged(&nb, b, a).await;
    all_acknowledged(&na, a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_answers_over_the_connection_an_osd_opened() {
    let (mon, osd) = (EntityName::mon(0), EntityName::osd(4));
    let (nm, mut im, addr) = server(mon).await;
    let no = net();
    let mut io = no.register(osd);
    no.set_addr(mon, at(addr));
    // Before the OSD connects the monitor cannot reach it.
    assert!(send(&nm, mon, osd, 1).await.is_err());
    send(&no, osd, mon, 7).await.unwrap();
    assert_eq!(tids(&mut im, 1).await, vec![7]);
    for i in 1..=10 {
        send(&nm, mon, osd, i).await.unwrap();
    }
    assert_eq!(tids(&mut io, 10).await, (1..=10).collect::<Vec<_>>());
    // Lossless across a reconnect the OSD makes: what the monitor sends while the
    // connection is down arrives once it is back.
    no.break_connections();
    nm.break_connections();
    for i in 11..=20 {
        let _ = send(&nm, mon, osd, i).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    send(&no, osd, mon, 8).await.unwrap();
    assert_eq!(tids(&mut im, 1).await, vec![8]);
    assert_eq!(tids(&mut io, 10).await, (11..=20).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_peer_starts_a_new_session_and_the_sender_is_told() {
    let (a, b) = (EntityName::osd(1), EntityName::osd(2));
    let (na, mut ia, addr) = server(a).await;
    let nb = net();
    let mut ib = nb.register(b);
    nb.set_addr(a, at(addr));
    send(&nb, b, a, 1).await.unwrap();
    assert_eq!(tids(&mut ia, 1).await, vec![1]);
    // osd.1 restarts on the same port: a new incarnation.
    na.shutdown();
    drop(ia);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let na2 = net();
    let mut ia2 = na2.register(a);
    na2.listen(addr, Listener::Public).await.unwrap();
    send(&nb, b, a, 2).await.unwrap();
    let reset = tokio::time::timeout(WAIT, async {
        loop {
            if let Event::Reset(p) = next(&mut ib).await {
                return p;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(reset, a);
    // The new incarnation gets what is sent after the reset, numbered afresh.
    send(&nb, b, a, 3).await.unwrap();
    let got = tids(&mut ia2, 1).await;
    assert!(got == vec![3] || got == vec![2], "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_sessions_end_with_their_connection() {
    let (osd, client) = (EntityName::osd(1), EntityName::client(9));
    let (no, mut io, addr) = server(osd).await;
    let nc = net();
    let mut ic = nc.register(client);
    nc.set_addr(osd, at(addr));
    send(&nc, client, osd, 1).await.unwrap();
    assert_eq!(tids(&mut io, 1).await, vec![1]);
    send(&no, osd, client, 2).await.unwrap();
    assert_eq!(tids(&mut ic, 1).await, vec![2]);
    assert_eq!(
        no.addr_of(client).nonce,
        9,
        "a client's address names its id"
    );
    nc.unregister(client);
    tokio::time::timeout(WAIT, async {
        while send(&no, osd, client, 3).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the OSD forgets a client whose connection closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_peers_are_dropped_and_the_daemon_serves_the_rest() {
    let osd = EntityName::osd(1);
    let (_no, mut io, addr) = server(osd).await;
    // Garbage instead of a banner.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // A peer of another cluster.
    let mut cfg = TcpConfig::new(Fsid([9; 16]));
    cfg.backoff_min = Duration::from_millis(10);
    let stranger = TcpNetwork::new(cfg, Handle::current());
    let _is = stranger.register(EntityName::osd(2));
    stranger.set_addr(osd, at(addr));
    send(&stranger, EntityName::osd(2), osd, 1).await.unwrap();
    // A network refuses to send as an entity it does not have.
    let liar = net();
    let _il = liar.register(EntityName::client(5));
    liar.set_addr(osd, at(addr));
    let spoofed = encode(EntityName::osd(3), 1, 0, &msg(1)).unwrap();
    assert!(liar.deliver(osd, spoofed.clone()).await.is_err());
    // On the wire, a client whose frames claim to come from an OSD is dropped.
    let (mut rd, mut wr) = raw_session(addr, EntityName::client(5), osd).await;
    wr.write_all(&msg_item(1, &spoofed)).await.unwrap();
    assert_eq!(read_to_close(&mut rd).await, 0);
    // A good client is still served.
    let good = net();
    let _ig = good.register(EntityName::client(6));
    good.set_addr(osd, at(addr));
    send(&good, EntityName::client(6), osd, 42).await.unwrap();
    let Event::Msg(env) = next(&mut io).await else {
        panic!("a reset")
    };
    assert_eq!((env.src, env.tid), (EntityName::client(6), 42));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(200), io.next())
            .await
            .is_err(),
        "nothing from the stranger or the liar reached the inbox"
    );
}

/// Opens a connection by hand, as `me`, to `peer`.
async fn raw_session(
    addr: SocketAddr,
    me: EntityName,
    peer: EntityName,
) -> (
    tokio::net::tcp::OwnedReadHalf,
    tokio::net::tcp::OwnedWriteHalf,
) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let hello = hello::Hello {
        fsid: FSID,
        name: me,
        nonce: 5,
        features: hello::features::SUPPORTED,
        required: hello::features::REQUIRED,
        peer: Some(peer),
        out_nonce: 0,
        in_nonce: 0,
        in_seq: 0,
        listen_port: 0,
    };
    hello::write_handshake(&mut s, &hello::Handshake::Hello(hello))
        .await
        .unwrap();
    let (mut rd, wr) = s.into_split();
    let reply = hello::read_handshake(&mut rd).await.unwrap();
    assert!(matches!(reply, hello::Handshake::Hello(_)));
    (rd, wr)
}

fn msg_item(seq: u64, frame: &[u8]) -> Vec<u8> {
    let mut item = vec![hello::TAG_MSG];
    item.extend_from_slice(&seq.to_le_bytes());
    item.extend_from_slice(frame);
    item
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_with_more_buffered_behind_it_is_still_acknowledged() {
    let osd = EntityName::osd(1);
    let (_no, mut io, addr) = server(osd).await;
    let me = EntityName::client(78);
    let (mut rd, mut wr) = raw_session(addr, me, osd).await;
    // A message and, in the same write, an acknowledgement (of nothing yet): the message is
    // delivered while the acknowledgement is still buffered behind it.
    let mut bytes = msg_item(1, &encode(me, 1, 0, &msg(1)).unwrap());
    bytes.push(hello::TAG_ACK);
    bytes.extend_from_slice(&0u64.to_le_bytes());
    wr.write_all(&bytes).await.unwrap();
    assert_eq!(tids(&mut io, 1).await, [1]);
    // Then silence: the daemon acknowledges message 1 all the same.
    let mut item = [0u8; 9];
    tokio::time::timeout(
        WAIT,
        tokio::io::AsyncReadExt::read_exact(&mut rd, &mut item),
    )
    .await
    .expect("an acknowledgement in time")
    .unwrap();
    assert_eq!(item[0], hello::TAG_ACK);
    assert_eq!(u64::from_le_bytes(item[1..].try_into().unwrap()), 1);
}

/// Reads until the peer closes; returns the bytes read after the handshake.
async fn read_to_close(rd: &mut tokio::net::tcp::OwnedReadHalf) -> usize {
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, tokio::io::AsyncReadExt::read_to_end(rd, &mut buf))
        .await
        .expect("the daemon closes the connection")
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_frames_on_the_wire_close_the_connection() {
    let osd = EntityName::osd(1);
    let (_no, mut io, addr) = server(osd).await;
    let me = EntityName::client(77);
    let good = encode(me, 1, 0, &msg(1)).unwrap().to_vec();
    // A flipped byte in the body: the checksum fails.
    let mut bad_crc = good.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0xff;
    // A length beyond the limit.
    let mut oversized = good.clone();
    oversized[28..32].copy_from_slice(&(frame_limit() + 1).to_le_bytes());
    // A truncated frame, then the end of the stream.
    let truncated = good[..good.len() - 3].to_vec();
    // A gap in the session's sequence numbers.
    let cases: Vec<Vec<u8>> = vec![
        msg_item(1, &bad_crc),
        msg_item(1, &oversized),
        msg_item(1, &truncated),
        msg_item(2, &good),
        vec![9, 0, 0, 0, 0, 0, 0, 0, 0],
    ];
    for (i, item) in cases.into_iter().enumerate() {
        let (mut rd, mut wr) = raw_session(addr, me, osd).await;
        wr.write_all(&item).await.unwrap();
        if i == 2 {
            wr.shutdown().await.unwrap();
        }
        assert_eq!(read_to_close(&mut rd).await, 0, "case {i}: closed");
    }
    assert!(tokio::time::timeout(Duration::from_millis(200), io.next())
        .await
        .is_err());
    // The daemon still serves a good peer.
    let (mut rd, mut wr) = raw_session(addr, EntityName::client(78), osd).await;
    let ok = encode(EntityName::client(78), 5, 0, &msg(1)).unwrap();
    wr.write_all(&msg_item(1, &ok)).await.unwrap();
    let Event::Msg(env) = next(&mut io).await else {
        panic!("a reset")
    };
    assert_eq!(env.tid, 5);
    let mut ack = [0u8; 9];
    tokio::io::AsyncReadExt::read_exact(&mut rd, &mut ack)
        .await
        .unwrap();
    assert_eq!(ack[0], hello::TAG_ACK);
    assert_eq!(u64::from_le_bytes(ack[1..].try_into().unwrap()), 1);
}

fn frame_limit() -> u32 {
    crate::frame::MAX_BODY_BYTES
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_address_takes_osds_only() {
    let osd = EntityName::osd(1);
    let n = net();
    let mut io = n.register(osd);
    let public = n.listen(any_port(), Listener::Public).await.unwrap();
    let cluster = n.listen(any_port(), Listener::Cluster).await.unwrap();
    let peer = net();
    let _ip = peer.register(EntityName::osd(2));
    peer.set_addr(
        osd,
        PeerAddr {
            public,
            cluster: Some(cluster),
            nonce: n.nonce(),
        },
    );
    send(&peer, EntityName::osd(2), osd, 1).await.unwrap();
    assert_eq!(tids(&mut io, 1).await, vec![1]);
    let client = net();
    let _ic = client.register(EntityName::client(3));
    client.set_addr(osd, at(cluster));
    send(&client, EntityName::client(3), osd, 2).await.unwrap();
    assert!(tokio::time::timeout(Duration::from_millis(300), io.next())
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_osds_dialing_each_other_at_once_lose_nothing_and_reset_nothing() {
    for round in 0..20 {
        let (a, b) = (EntityName::osd(1), EntityName::osd(2));
        let (na, mut ia, addr_a) = server(a).await;
        let (nb, mut ib, addr_b) = server(b).await;
        na.set_addr(b, at(addr_b));
        nb.set_addr(a, at(addr_a));
        let (x, y) = tokio::join!(
            async {
                for i in 1..=20 {
                    send(&na, a, b, i).await.unwrap();
                }
            },
            async {
                for i in 1..=20 {
                    send(&nb, b, a, i).await.unwrap();
                }
            }
        );
        let _ = (x, y);
        for inbox in [&mut ia, &mut ib] {
            let mut got = Vec::new();
            while got.len() < 20 {
                match next(inbox).await {
                    Event::Msg(env) => got.push(env.tid),
                    Event::Reset(p) => panic!("round {round}: a reset from {p}"),
                }
            }
            assert_eq!(got, (1..=20).collect::<Vec<_>>(), "round {round}");
        }
        na.shutdown();
        nb.shutdown();
    }
}

/// A message of about `kib` KiB.
/// A cluster log message carrying `text`.
fn log_message(text: String) -> Message {
    Message::MonCommand(crate::command::MonCommand::Log {
        level: crate::clog::LogLevel::Info,
        channel: None,
        message: text,
    })
}

fn big(kib: usize) -> Message {
    log_message("x".repeat(kib << 10))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_from_clients_wait_while_the_budget_for_them_is_held() {
    let (osd, client, peer) = (
        EntityName::osd(0),
        EntityName::client(41),
        EntityName::osd(1),
    );
    let mut cfg = TcpConfig::new(FSID);
    cfg.client_bytes_max = Some(100 << 10);
    let no = TcpNetwork::new(cfg, Handle::current());
    let mut io = no.register(osd);
    let addr = no.listen(any_port(), Listener::Public).await.unwrap();
    let (nc, np) = (net(), net());
    let _ic = nc.register(client);
    let _ip = np.register(peer);
    nc.set_addr(osd, at(addr));
    np.set_addr(osd, at(addr));
    for i in 1..=4 {
        nc.deliver(osd, encode(client, i, 0, &big(40)).unwrap())
            .await
            .unwrap();
    }
    // Two fit the budget; while they are held, the rest wait, but an OSD's get through.
    let mut held = Vec::new();
    for _ in 0..2 {
        let Event::Msg(env) = next(&mut io).await else {
            panic!("a message")
        };
        assert!(env.throttle.is_some());
        held.push(env);
    }
    np.deliver(osd, encode(peer, 9, 0, &big(40)).unwrap())
        .await
        .unwrap();
    let Event::Msg(env) = next(&mut io).await else {
        panic!("a message")
    };
    assert_eq!((env.src, env.tid, env.throttle.is_none()), (peer, 9, true));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), io.next())
            .await
            .is_err(),
        "a third client message while the budget is spent"
    );
    // Done with one: the next comes; done with all: the last too.
    held.remove(0);
    assert_eq!(tids(&mut io, 1).await, vec![3]);
    held.clear();
    assert_eq!(tids(&mut io, 1).await, vec![4]);
    // One larger than the whole budget goes alone.
    nc.deliver(osd, encode(client, 5, 0, &big(300)).unwrap())
        .await
        .unwrap();
    assert_eq!(tids(&mut io, 1).await, vec![5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_padded_frames_arrive_whole_from_osds_and_clients() {
    let (a, b, c) = (
        EntityName::osd(1),
        EntityName::osd(2),
        EntityName::client(3),
    );
    let (_na, mut ia, addr) = server(a).await;
    for from in [b, c] {
        let nb = net();
        let _ib = nb.register(from);
        nb.set_addr(a, at(addr));
        for len in [100_000usize, 4 << 20] {
            let text: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            let m = log_message(text);
            nb.deliver(a, encode(from, len as u64, 0, &m).unwrap())
                .await
                .unwrap();
            let Event::Msg(env) = next(&mut ia).await else {
                panic!("a message")
            };
            assert_eq!((env.src, env.tid), (from, len as u64));
            assert_eq!(env.msg, m, "{from}: {len} bytes intact");
        }
    }
}
