use super::ops::*;
use super::*;
use crate::osdmap::PgId;
use bytes::Bytes;
use proptest::prelude::*;

fn sample() -> Message {
    Message::OsdOp(Box::new(OsdOpRequest {
        reqid: ReqId { client: 7, tid: 9 },
        pgid: PgId::new(1, 0x1f),
        object: ObjectName {
            namespace: "ns".into(),
            key: String::new(),
            name: "obj\0\n".into(),
        },
        hash: 0xdead_beef,
        steps: vec![
            OpStep::WriteFull {
                data: Bytes::from_static(b"hello"),
            },
            OpStep::SetXattr {
                name: "a".into(),
                value: Bytes::from_static(&[0, 255]),
            },
        ],
        mtime_ns: 5,
        resend: false,
        snap: 3,
        snapc: crate::ops::SnapContext {
            seq: 4,
            snaps: vec![4, 2],
        },
        failok: vec![1],
    }))
}

#[test]
fn round_trip_keeps_header_and_body() {
    let src = EntityName::client(7);
    let frame = encode(src, 42, 17, &sample()).unwrap();
    let env = decode(&frame).unwrap();
    assert_eq!(env.src, src);
    assert_eq!(env.tid, 42);
    assert_eq!(env.epoch, 17);
    assert_eq!(env.msg, sample());
}

#[test]
fn compare_and_write_same_steps_round_trip() {
    let Message::OsdOp(mut req) = sample() else {
        unreachable!("sample() is an OsdOp")
    };
    req.steps = vec![
        OpStep::CmpExt {
            offset: u64::MAX,
            data: Bytes::from_static(b"\0cmp"),
        },
        OpStep::OmapCmp {
            assertions: vec![(
                Bytes::from_static(b"k"),
                CmpOp::Lt,
                Bytes::from_static(&[0, 255]),
            )],
        },
        OpStep::WriteSame {
            offset: 3,
            len: 8,
            data: Bytes::from_static(b"ab"),
        },
    ];
    let msg = Message::OsdOp(req);
    let frame = encode(EntityName::client(7), 1, 1, &msg).unwrap();
    assert_eq!(decode(&frame).unwrap().msg, msg);
}

#[test]
fn watch_steps_and_disconnects_round_trip() {
    let Message::OsdOp(mut req) = sample() else {
        unreachable!("sample() is an OsdOp")
    };
    req.steps = vec![OpStep::Watch {
        cookie: 5,
        timeout_secs: 9,
    }];
    let ping = Message::OsdOp(Box::new(OsdOpRequest {
        steps: vec![OpStep::WatchPing { cookie: u64::MAX }],
        ..(*req).clone()
    }));
    let watch = Message::OsdOp(req);
    let disconnect = Message::WatchDisconnect {
        pgid: PgId::new(3, 4),
        cookie: 6,
    };
    for msg in [watch, ping, disconnect] {
        let frame = encode(EntityName::osd(2), 1, 1, &msg).unwrap();
        assert_eq!(decode(&frame).unwrap().msg, msg);
    }
}

#[test]
fn cluster_log_messages_round_trip() {
    let entry = clog::ClusterLogEntry {
        stamp: crate::osdmap::UTime {
            secs: 1_795_462_008,
            nanos: 5,
        },
        who: EntityName::client(9),
        addr: crate::osdmap::EntityAddr::local(9),
        seq: u64::MAX,
        channel: "audit".into(),
        level: clog::LogLevel::Sec,
        message: "ünïcode \n and newlines".into(),
    };
    let msgs = [
        Message::ClusterLog(vec![entry.clone(), entry.clone()]),
        Message::MonCommand(command::MonCommand::Log {
            level: clog::LogLevel::Debug,
            channel: None,
            message: String::new(),
        }),
        Message::MonCommand(command::MonCommand::LogSubscribe { level: None }),
        Message::MonCommandReply(Ok(command::MonReply::ClusterLog(vec![entry]))),
    ];
    for msg in msgs {
        let frame = encode(EntityName::mon(0), 1, 1, &msg).unwrap();
        assert_eq!(decode(&frame).unwrap().msg, msg);
    }
}

#[test]
fn a_watch_encoded_without_a_timeout_takes_the_default() {
    // The step as encoded before it carried a timeout.
    #[derive(serde::Serialize)]
    enum Before {
        Watch { cookie: u64 },
    }
    let old = rmp_serde::to_vec_named(&Before::Watch { cookie: 11 }).unwrap();
    let step: OpStep = rmp_serde::from_slice(&old).unwrap();
    assert_eq!(
        step,
        OpStep::Watch {
            cookie: 11,
            timeout_secs: 0
        }
    );
}

#[test]
fn every_flipped_byte_is_refused() {
    let frame = encode(EntityName::osd(1), 1, 1, &sample()).unwrap();
    for i in 0..frame.len() {
        let mut bad = frame.to_vec();
        bad[i] ^= 0x40;
        assert!(
            decode(&Bytes::from(bad)).is_err(),
            "flip at byte {i} accepted"
        );
    }
}

#[test]
fn truncated_and_oversized_frames_are_refused() {
    let frame = encode(EntityName::osd(1), 1, 1, &sample()).unwrap();
    for len in 0..frame.len() {
        assert!(decode(&frame.slice(..len)).is_err());
    }
    let mut big = frame.to_vec();
    big[28..32].copy_from_slice(&(frame::MAX_BODY_BYTES + 1).to_le_bytes());
    assert!(matches!(
        decode(&Bytes::from(big)),
        Err(MsgError::TooLarge { .. })
    ));
}

#[test]
fn header_type_must_match_body() {
    let frame = encode(EntityName::osd(1), 1, 1, &sample()).unwrap();
    let mut bad = frame.to_vec();
    bad[4..6].copy_from_slice(&99u16.to_le_bytes());
    // Recompute the checksum so only the type disagrees.
    let crc = crc32c::crc32c_append(crc32c::crc32c(&bad[..32]), &bad[36..]);
    bad[32..36].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(
        decode(&Bytes::from(bad)),
        Err(MsgError::TypeMismatch {
            header: 99,
            found: 10
        })
    );
}

#[tokio::test]
async fn local_network_delivers_checked_frames() {
    let net: std::sync::Arc<dyn Network> = std::sync::Arc::new(LocalNetwork::new());
    let mut inbox = net.register(EntityName::osd(0));
    let m = Messenger::new(EntityName::client(3), net.clone());
    m.send(EntityName::osd(0), 5, 2, &sample()).await.unwrap();
    net.deliver(EntityName::osd(0), Bytes::from_static(b"garbage"))
        .await
        .unwrap();
    m.send(EntityName::osd(0), 6, 2, &sample()).await.unwrap();
    // The garbage frame is skipped; both real ones arrive in order.
    assert_eq!(inbox.recv().await.unwrap().tid, 5);
    assert_eq!(inbox.recv().await.unwrap().tid, 6);
    assert_eq!(
        m.send(EntityName::osd(9), 1, 1, &sample()).await,
        Err(MsgError::Unreachable(EntityName::osd(9)))
    );
}

/// `sample()` writing `data` (and its xattr) instead.
fn writing(data: Bytes) -> Message {
    let Message::OsdOp(mut r) = sample() else {
        unreachable!()
    };
    r.steps[0] = OpStep::WriteFull { data };
    Message::OsdOp(r)
}

fn written(env: &Envelope) -> Bytes {
    match &env.msg {
        Message::OsdOp(r) => match &r.steps[0] {
            OpStep::WriteFull { data } => data.clone(),
            other => panic!("unexpected step {other:?}"),
        },
        other => panic!("unexpected message {other:?}"),
    }
}

#[test]
fn a_large_payload_travels_page_aligned_and_decodes_without_a_copy() {
    for len in [100_000usize, 4 << 20] {
        let data = Bytes::from((0..len).map(|i| (i % 251) as u8).collect::<Vec<_>>());
        let f = encode(EntityName::client(7), 3, 2, &writing(data.clone())).unwrap();
        assert_eq!(
            f.as_ptr() as usize % crate::buf::ALIGN,
            0,
            "{len}: frame aligned"
        );
        assert_eq!(f[7], frame::FLAG_PADDED, "{len}");
        let env = decode(&f).unwrap();
        assert_eq!(env.msg, writing(data.clone()), "{len}: round trip");
        let got = written(&env);
        assert_eq!(
            got.as_ptr() as usize % crate::buf::ALIGN,
            0,
            "{len}: payload aligned"
        );
        let at = got.as_ptr() as usize - f.as_ptr() as usize;
        assert!(at < f.len(), "{len}: the payload is a slice of the frame");
        // A copy of the frame in an unaligned buffer (another transport) decodes the same.
        let mut moved = vec![0u8; f.len() + 1];
        moved[1..].copy_from_slice(&f);
        let moved = Bytes::from(moved).slice(1..);
        assert_eq!(decode(&moved).unwrap().msg, writing(data), "{len}");
    }
    // Small messages are not padded.
    for m in [sample(), writing(Bytes::from(vec![1; 4096]))] {
        let f = encode(EntityName::client(7), 3, 2, &m).unwrap();
        assert_eq!(f[7], 0);
        assert_eq!(decode(&f).unwrap().msg, m);
    }
}

/// A frame with `flags` and `body`, with a correct checksum.
fn raw_frame(flags: u8, body: &[u8]) -> Bytes {
    let header = frame::Header {
        msg_type: sample().msg_type(),
        src: EntityName::client(7),
        tid: 1,
        epoch: 1,
        body_len: 0,
    };
    let mut f = frame::build(header, body).unwrap().to_vec();
    f[7] = flags;
    let crc = crc32c::crc32c_append(crc32c::crc32c(&f[..32]), &f[frame::HEADER_LEN..]);
    f[32..36].copy_from_slice(&crc.to_le_bytes());
    Bytes::from(f)
}

#[test]
fn pads_are_checked() {
    let body = rmp_serde::encode::to_vec_named(&sample()).unwrap();
    // A pad of 3 zero bytes before the message.
    let mut padded = vec![3, 0, 0, 0, 0];
    padded.extend_from_slice(&body);
    assert_eq!(
        decode(&raw_frame(frame::FLAG_PADDED, &padded)).unwrap().msg,
        sample()
    );
    // A pad longer than the body, a body too short to hold the pad's length, unknown flags.
    for (flags, bad) in [
        (frame::FLAG_PADDED, vec![0xff, 0xff, 0]),
        (frame::FLAG_PADDED, vec![1]),
        (frame::FLAG_PADDED, vec![]),
        (0x02, body.clone()),
    ] {
        assert!(
            matches!(decode(&raw_frame(flags, &bad)), Err(MsgError::Malformed(_))),
            "flags {flags:#x}, body {bad:?}"
        );
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(&Bytes::from(bytes));
    }

    #[test]
    fn random_bodies_behind_valid_headers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200), ty in 0u16..40) {
        let header = frame::Header { msg_type: ty, src: EntityName::mon(0), tid: 1, epoch: 1, body_len: 0 };
        let f = frame::build(header, &body).unwrap();
        let _ = decode(&f);
    }
}
