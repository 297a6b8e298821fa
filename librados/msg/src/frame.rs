//! The frame every message travels in, on every transport.
//!
//! ```text
//! offset size field
//!  0     4    magic "RDM1" (0x52 0x44 0x4d 0x31)
//!  4     2    message type (little endian, see `Message::msg_type`)
//!  6     1    sender kind (1 mon, 2 osd, 3 client)
//!  7     1    flags (FLAG_PADDED or 0; frames with unknown flags are refused)
//!  8     8    sender id
//! 16     8    transaction id (matches a reply to its request)
//! 24     4    the sender's OSD map epoch
//! 28     4    body length in bytes (at most MAX_BODY_BYTES)
//! 32     4    crc32c over bytes 0..32 followed by the body
//! 36     -    body: the message, MessagePack (rmp-serde, named fields)
//! ```
//!
//! With `FLAG_PADDED` the body starts with a 2-byte (little endian) pad length and that many
//! zero bytes before the message. A sender pads so that a message's large payload (a write's
//! data) starts on a page boundary of the frame; frames that large are received into
//! page-aligned buffers (`buf.rs`), so the payload reaches the object store aligned, as
//! direct I/O needs, without a copy.
//!
//! A frame is checked whole before its body is decoded: magic, flags, length bound, checksum,
//! and then that the decoded message is of the type the header names.

use super::{buf, EntityKind, EntityName, MsgError};
use bytes::{BufMut, Bytes, BytesMut};

pub const MAGIC: [u8; 4] = *b"RDM1";
pub const HEADER_LEN: usize = 36;
/// The body starts with a pad (see the module's documentation).
pub const FLAG_PADDED: u8 = 0x01;
/// Largest body a frame may carry: room for a 128 MiB write (Ceph's `osd_max_object_size`) and
/// its envelope.
pub const MAX_BODY_BYTES: u32 = 130 << 20;

/// The fixed part of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub msg_type: u16,
    pub src: EntityName,
    pub tid: u64,
    pub epoch: u32,
    pub body_len: u32,
}

impl Header {
    fn write_prefix(&self, out: &mut BytesMut) {
        out.put_slice(&MAGIC);
        out.put_u16_le(self.msg_type);
        out.put_u8(self.src.kind as u8);
        out.put_u8(0);
        out.put_u64_le(self.src.id);
        out.put_u64_le(self.tid);
        out.put_u32_le(self.epoch);
        out.put_u32_le(self.body_len);
    }

    /// Parses and checks the 36 header bytes (not yet the body checksum).
    pub fn parse(bytes: &[u8]) -> Result<(Header, u32), MsgError> {
        if bytes.len() < HEADER_LEN {
            return Err(MsgError::Malformed(format!(
                "frame of {} bytes is shorter than its {HEADER_LEN}-byte header",
                bytes.len()
            )));
        }
        if bytes[0..4] != MAGIC {
            return Err(MsgError::Malformed("bad magic".into()));
        }
        let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
        let kind = EntityKind::from_u8(bytes[6])
            .ok_or_else(|| MsgError::Malformed(format!("unknown sender kind {}", bytes[6])))?;
        if bytes[7] & !FLAG_PADDED != 0 {
            return Err(MsgError::Malformed(format!(
                "unknown flags {:#x}",
                bytes[7]
            )));
        }
        let header = Header {
            msg_type: u16_at(4),
            src: EntityName {
                kind,
                id: u64_at(8),
            },
            tid: u64_at(16),
            epoch: u32_at(24),
            body_len: u32_at(28),
        };
        if header.body_len > MAX_BODY_BYTES {
            return Err(MsgError::TooLarge {
                bytes: u64::from(header.body_len),
                max: u64::from(MAX_BODY_BYTES),
            });
        }
        Ok((header, u32_at(32)))
    }
}

/// Builds a frame from a header (whose `body_len` is filled in here) and an encoded body.
pub fn build(header: Header, body: &[u8]) -> Result<Bytes, MsgError> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.resize(HEADER_LEN, 0);
    out.extend_from_slice(body);
    seal(header, 0, &mut out)?;
    Ok(Bytes::from(out))
}

/// Builds a frame around a body written in place by `write_body` (saving a copy of the body):
/// the header is reserved first and filled in once the body's length is known.
///
/// A body expected to reach [`buf::POOLED_MIN`] bytes (`size_hint`) goes into a pooled,
/// page-aligned buffer, and is written twice: first only counted, to learn where its largest
/// single write (a payload) falls, then into the buffer behind a pad that puts that payload
/// on a page boundary. `write_body` must write the same bytes both times.
pub fn build_with(
    header: Header,
    size_hint: usize,
    write_body: impl Fn(&mut dyn std::io::Write) -> Result<(), MsgError>,
) -> Result<Bytes, MsgError> {
    if HEADER_LEN + size_hint < buf::POOLED_MIN {
        let mut out = Vec::with_capacity(HEADER_LEN + size_hint);
        out.resize(HEADER_LEN, 0);
        write_body(&mut out)?;
        seal(header, 0, &mut out)?;
        return Ok(Bytes::from(out));
    }
    let mut count = Counter::default();
    write_body(&mut count)?;
    let mut out = buf::FrameBuf::with_capacity(HEADER_LEN + 2 + buf::ALIGN + count.len);
    out.put_zeros(HEADER_LEN);
    let mut flags = 0;
    if let Some(at) = count.payload_at {
        let pad = (buf::ALIGN - (HEADER_LEN + 2 + at) % buf::ALIGN) % buf::ALIGN;
        out.put_u16_le(pad as u16);
        out.put_zeros(pad);
        flags = FLAG_PADDED;
    }
    let body_start = out.len();
    write_body(&mut out)?;
    if out.len() - body_start != count.len {
        return Err(MsgError::Malformed(format!(
            "a message encoded to {} bytes, then to {}",
            count.len,
            out.len() - body_start
        )));
    }
    seal(header, flags, out.as_mut_slice())?;
    Ok(out.freeze())
}

/// Fills in the header reserved at the start of `frame` (whose body follows it).
fn seal(mut header: Header, flags: u8, frame: &mut [u8]) -> Result<(), MsgError> {
    let body_len = frame.len() - HEADER_LEN;
    header.body_len = u32::try_from(body_len)
        .ok()
        .filter(|n| *n <= MAX_BODY_BYTES)
        .ok_or(MsgError::TooLarge {
            bytes: body_len as u64,
            max: u64::from(MAX_BODY_BYTES),
        })?;
    let mut prefix = BytesMut::with_capacity(32);
    header.write_prefix(&mut prefix);
    prefix[7] = flags;
    frame[..32].copy_from_slice(&prefix);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&frame[..32]), &frame[HEADER_LEN..]);
    frame[32..36].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Counts what a body's encoding writes, and where its largest payload-sized write starts.
#[derive(Default)]
struct Counter {
    len: usize,
    payload_at: Option<usize>,
    payload_len: usize,
}

impl std::io::Write for Counter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if data.len() >= buf::ALIGN && data.len() > self.payload_len {
            self.payload_at = Some(self.len);
            self.payload_len = data.len();
        }
        self.len += data.len();
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Splits a whole frame into its checked header and body.
pub fn split(frame: &Bytes) -> Result<(Header, Bytes), MsgError> {
    let (header, crc) = Header::parse(frame)?;
    let total = HEADER_LEN + header.body_len as usize;
    if frame.len() != total {
        return Err(MsgError::Malformed(format!(
            "frame is {} bytes, its header says {total}",
            frame.len()
        )));
    }
    let body = frame.slice(HEADER_LEN..);
    let actual = crc32c::crc32c_append(crc32c::crc32c(&frame[..32]), &body);
    if actual != crc {
        return Err(MsgError::Checksum {
            expected: crc,
            actual,
        });
    }
    Ok((header, message_of(frame, body)?))
}

/// Header and message of a frame that [`split`] already checked (not checksummed again).
pub fn split_checked(frame: &Bytes) -> Result<(Header, Bytes), MsgError> {
    let (header, _) = Header::parse(frame)?;
    Ok((header, message_of(frame, frame.slice(HEADER_LEN..))?))
}

/// The message within a frame's body: all of it, or what follows the pad.
fn message_of(frame: &[u8], body: Bytes) -> Result<Bytes, MsgError> {
    if frame[7] & FLAG_PADDED == 0 {
        return Ok(body);
    }
    let pad = match body.get(..2) {
        Some(b) => 2 + usize::from(u16::from_le_bytes([b[0], b[1]])),
        None => usize::MAX,
    };
    if pad > body.len() {
        return Err(MsgError::Malformed(format!(
            "a pad of {} bytes in a body of {}",
            pad.saturating_sub(2),
            body.len()
        )));
    }
    Ok(body.slice(pad..))
}
