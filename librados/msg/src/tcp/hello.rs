//! The handshake that opens every TCP connection, and the items that follow it.
//!
//! ```text
//! initiator                                   acceptor
//!   banner (8 bytes) + Hello        ──────▶     checks fsid, features, that it is the entity
//!                                               asked for, that the listener takes this kind
//!                                  ◀──────      banner + Hello, or banner + Refuse(reason)
//!   checks fsid, features, name
//! ```
//!
//! Banner: `RADOSRS` and the protocol version byte (1). Hello and Refuse travel as
//! [`Handshake`]: a little-endian u32 length (at most [`MAX_HELLO_BYTES`]) and MessagePack.
//!
//! After the handshake, each side writes items:
//!
//! ```text
//! tag 1  MSG   seq (u64 LE) + one frame (36-byte header, body: see `frame.rs`)
//! tag 2  ACK   seq (u64 LE): every MSG up to seq has reached the receiver's inbox
//! ```
//!
//! Sequence numbers count the messages of one session (one sender, one receiver, one
//! incarnation of each), from 1, across reconnects: a receiver takes only `in_seq + 1` next,
//! drops what it has seen, and refuses a gap by closing the connection.

use crate::osdmap::Fsid;
use crate::EntityName;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub const BANNER: [u8; 8] = *b"RADOSRS\x01";
pub const MAX_HELLO_BYTES: u32 = 4096;
pub const TAG_MSG: u8 = 1;
pub const TAG_ACK: u8 = 2;

/// Feature bits: what a peer's build can do. A peer lacking one of ours that we require is
/// refused at the handshake.
pub mod features {
    /// Frames `RDM1` (`frame.rs`), MessagePack bodies with named fields.
    pub const FRAMES_V1: u64 = 1 << 0;
    /// Sessions with sequence numbers and acknowledgements, resumed across reconnects.
    pub const SESSIONS_V1: u64 = 1 << 1;
    /// Frames whose body may start with a pad (`frame::FLAG_PADDED`).
    pub const PADDED_FRAMES: u64 = 1 << 2;
    /// Everything this build speaks.
    pub const SUPPORTED: u64 = FRAMES_V1 | SESSIONS_V1 | PADDED_FRAMES;
    /// Everything this build needs a peer to speak.
    pub const REQUIRED: u64 = FRAMES_V1 | SESSIONS_V1 | PADDED_FRAMES;
}

/// One side's introduction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub fsid: Fsid,
    pub name: EntityName,
    /// This incarnation of the sender (random per process start).
    pub nonce: u64,
    pub features: u64,
    pub required: u64,
    /// The entity the initiator means to reach (the acceptor sends `None`).
    pub peer: Option<EntityName>,
    /// For the direction in which the sender sends: the receiver incarnation its state is
    /// for (0: none).
    pub out_nonce: u64,
    /// For the direction in which the sender receives: the sender incarnation its state is
    /// for (0: none), and the last sequence number it delivered.
    pub in_nonce: u64,
    pub in_seq: u64,
    /// The port the sender listens on (daemons), for the address others see it at.
    pub listen_port: u16,
}

/// What travels in the handshake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Handshake {
    Hello(Hello),
    Refuse(String),
}

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a RADOS peer (banner {0:02x?})")]
    Banner([u8; 8]),
    #[error("handshake of {0} bytes exceeds {MAX_HELLO_BYTES}")]
    TooLarge(u32),
    #[error("malformed handshake: {0}")]
    Malformed(String),
    #[error("refused by the peer: {0}")]
    Refused(String),
    #[error("{0}")]
    Mismatch(String),
}

pub async fn write_handshake<W: AsyncWrite + Unpin>(
    w: &mut W,
    h: &Handshake,
) -> Result<(), HandshakeError> {
    let body = rmp_serde::to_vec_named(h).map_err(|e| HandshakeError::Malformed(e.to_string()))?;
    let mut out = Vec::with_capacity(12 + body.len());
    out.extend_from_slice(&BANNER);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    w.write_all(&out).await?;
    w.flush().await?;
    Ok(())
}

/// Decodes a handshake from bytes (banner, length, body), as `read_handshake` reads one.
pub fn decode_handshake(bytes: &[u8]) -> Result<Handshake, HandshakeError> {
    let short = || HandshakeError::Io(std::io::ErrorKind::UnexpectedEof.into());
    let banner: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(short)?;
    if banner != BANNER {
        return Err(HandshakeError::Banner(banner));
    }
    let len = u32::from_le_bytes(
        bytes
            .get(8..12)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(short)?,
    );
    if len > MAX_HELLO_BYTES {
        return Err(HandshakeError::TooLarge(len));
    }
    let body = bytes.get(12..12 + len as usize).ok_or_else(short)?;
    rmp_serde::from_slice(body).map_err(|e| HandshakeError::Malformed(e.to_string()))
}

pub async fn read_handshake<R: AsyncRead + Unpin>(r: &mut R) -> Result<Handshake, HandshakeError> {
    let mut banner = [0u8; 8];
    r.read_exact(&mut banner).await?;
    if banner != BANNER {
        return Err(HandshakeError::Banner(banner));
    }
    let len = r.read_u32_le().await?;
    if len > MAX_HELLO_BYTES {
        return Err(HandshakeError::TooLarge(len));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body).await?;
    rmp_serde::from_slice(&body).map_err(|e| HandshakeError::Malformed(e.to_string()))
}

/// The checks both sides make of the other's hello: same cluster, and each speaks what the
/// other requires.
pub fn check_peer(mine: &Hello, theirs: &Hello) -> Result<(), String> {
    if theirs.fsid != mine.fsid {
        return Err(format!(
            "{} belongs to cluster {}, not {}",
            theirs.name, theirs.fsid, mine.fsid
        ));
    }
    let missing = mine.required & !theirs.features;
    if missing != 0 {
        return Err(format!(
            "{} lacks required features {missing:#x} (has {:#x})",
            theirs.name, theirs.features
        ));
    }
    let they_need = theirs.required & !mine.features;
    if they_need != 0 {
        return Err(format!(
            "{} requires features {they_need:#x} this build lacks",
            theirs.name
        ));
    }
    Ok(())
}

/// Whether one direction of a session continues after a reconnect: the sender's state is
/// for this receiver incarnation and the receiver's for this sender incarnation. Sender and
/// receiver compute it from the same hellos, so they agree; otherwise both start the
/// direction afresh.
pub fn direction_continues(
    sender_nonce: u64,
    sender_out_nonce: u64,
    receiver_nonce: u64,
    receiver_in_nonce: u64,
) -> bool {
    sender_out_nonce == receiver_nonce && receiver_in_nonce == sender_nonce && sender_out_nonce != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(name: EntityName) -> Hello {
        Hello {
            fsid: Fsid([7; 16]),
            name,
            nonce: 11,
            features: features::SUPPORTED,
            required: features::REQUIRED,
            peer: None,
            out_nonce: 0,
            in_nonce: 0,
            in_seq: 0,
            listen_port: 0,
        }
    }

    #[tokio::test]
    async fn a_handshake_round_trips() {
        let h = Handshake::Hello(hello(EntityName::osd(3)));
        let mut buf = Vec::new();
        write_handshake(&mut buf, &h).await.unwrap();
        let back = read_handshake(&mut &buf[..]).await.unwrap();
        assert_eq!(back, h);
    }

    #[tokio::test]
    async fn garbage_and_oversized_handshakes_are_refused() {
        let mut r = &b"GET / HTTP/1.1\r\n\r\n"[..];
        assert!(matches!(
            read_handshake(&mut r).await,
            Err(HandshakeError::Banner(_))
        ));
        let mut big = BANNER.to_vec();
        big.extend_from_slice(&(MAX_HELLO_BYTES + 1).to_le_bytes());
        assert!(matches!(
            read_handshake(&mut &big[..]).await,
            Err(HandshakeError::TooLarge(_))
        ));
        let mut bad = BANNER.to_vec();
        bad.extend_from_slice(&3u32.to_le_bytes());
        bad.extend_from_slice(&[0xc1, 0xc1, 0xc1]);
        assert!(matches!(
            read_handshake(&mut &bad[..]).await,
            Err(HandshakeError::Malformed(_))
        ));
        let mut short = BANNER.to_vec();
        short.extend_from_slice(&10u32.to_le_bytes());
        assert!(matches!(
            read_handshake(&mut &short[..]).await,
            Err(HandshakeError::Io(_))
        ));
    }

    #[test]
    fn decoding_from_bytes_matches_reading() {
        let h = Handshake::Hello(hello(EntityName::client(1)));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut buf = Vec::new();
        rt.block_on(write_handshake(&mut buf, &h)).unwrap();
        assert_eq!(decode_handshake(&buf).unwrap(), h);
        for cut in 0..buf.len() {
            assert!(decode_handshake(&buf[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn peers_of_another_cluster_or_lacking_features_are_refused() {
        let me = hello(EntityName::osd(1));
        let mut other = hello(EntityName::osd(2));
        assert!(check_peer(&me, &other).is_ok());
        other.fsid = Fsid([8; 16]);
        assert!(check_peer(&me, &other).unwrap_err().contains("cluster"));
        let mut old = hello(EntityName::osd(2));
        old.features = features::FRAMES_V1;
        assert!(check_peer(&me, &old).unwrap_err().contains("lacks"));
        let mut newer = hello(EntityName::osd(2));
        newer.required |= 1 << 40;
        assert!(check_peer(&me, &newer).unwrap_err().contains("requires"));
    }

    #[test]
    fn directions_continue_only_when_both_ends_remember_each_other() {
        assert!(direction_continues(1, 2, 2, 1));
        // The receiver restarted (new nonce), or forgot us, or we never met.
        assert!(!direction_continues(1, 2, 3, 1));
        assert!(!direction_continues(1, 2, 2, 0));
        assert!(!direction_continues(1, 0, 2, 0));
        // The sender's state is for another receiver incarnation.
        assert!(!direction_continues(1, 7, 2, 1));
    }
}
