//! Zero-copy byte payloads out of a received frame.
//!
//! A field marked `#[serde(deserialize_with = "rados_common::frame_bytes::deserialize")]`
//! decodes, while [`decoding_from`] runs the decoder over a frame, to a slice of that frame's
//! buffer instead of a copy: a 4 MiB write arrives, is checked and is stored without its data
//! being copied in user space. Anywhere else (or for bytes not inside the frame) it copies,
//! like `Bytes`' own `Deserialize`. Only large payloads are marked: a slice keeps its whole
//! frame alive.

use bytes::Bytes;
use serde::de::{Deserializer, Error, SeqAccess, Visitor};
use std::cell::RefCell;

thread_local! {
    static FRAME: RefCell<Option<Bytes>> = const { RefCell::new(None) };
}

/// Runs `decode` with `frame` as the buffer that marked fields slice into.
pub fn decoding_from<T>(frame: &Bytes, decode: impl FnOnce() -> T) -> T {
    struct Restore(Option<Bytes>);
    impl Drop for Restore {
        fn drop(&mut self) {
            FRAME.with(|f| *f.borrow_mut() = self.0.take());
        }
    }
    let _restore = Restore(FRAME.with(|f| f.borrow_mut().replace(frame.clone())));
    decode()
}

/// `bytes` as a slice of the frame being decoded, if it lies inside it.
fn slice_of_frame(bytes: &[u8]) -> Option<Bytes> {
    FRAME.with(|f| {
        let f = f.borrow();
        let frame = f.as_ref()?;
        let (start, end) = (
            frame.as_ptr() as usize,
            frame.as_ptr() as usize + frame.len(),
        );
        let (s, e) = (
            bytes.as_ptr() as usize,
            bytes.as_ptr() as usize + bytes.len(),
        );
        (!bytes.is_empty() && start <= s && e <= end).then(|| frame.slice_ref(bytes))
    })
}

/// Deserializes `Bytes`, without a copy for bytes borrowed from the frame being decoded.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Bytes;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("bytes")
        }
        fn visit_borrowed_bytes<E: Error>(self, v: &'de [u8]) -> Result<Bytes, E> {
            Ok(slice_of_frame(v).unwrap_or_else(|| Bytes::copy_from_slice(v)))
        }
        fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Bytes, E> {
            Ok(Bytes::copy_from_slice(v))
        }
        fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
            Ok(Bytes::from(v))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
            let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(b) = seq.next_element::<u8>()? {
                v.push(b);
            }
            Ok(Bytes::from(v))
        }
    }
    d.deserialize_bytes(V)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Msg {
        #[serde(deserialize_with = "deserialize")]
        data: Bytes,
        small: Bytes,
    }

    #[test]
    fn payloads_slice_the_frame_while_decoding_from_it_and_copy_otherwise() {
        let m = Msg {
            data: Bytes::from(vec![7u8; 100_000]),
            small: Bytes::from_static(b"abc"),
        };
        let frame = Bytes::from(rmp_serde::to_vec_named(&m).unwrap());
        let inside = |b: &Bytes| {
            let p = b.as_ptr() as usize;
            p >= frame.as_ptr() as usize && p + b.len() <= frame.as_ptr() as usize + frame.len()
        };
        let got: Msg = decoding_from(&frame, || rmp_serde::from_slice(&frame)).unwrap();
        assert_eq!(got, m);
        assert!(inside(&got.data), "the payload is a slice of the frame");
        assert!(!inside(&got.small), "unmarked fields are copied");
        // Outside `decoding_from`, or decoding another buffer: a copy.
        let copied: Msg = rmp_serde::from_slice(&frame).unwrap();
        assert!(!inside(&copied.data));
        let other = frame.to_vec();
        let got: Msg = decoding_from(&frame, || rmp_serde::from_slice(&other)).unwrap();
        assert!(!inside(&got.data) && got == m);
        // Nested decodes restore the outer frame.
        decoding_from(&frame, || {
            let _: Msg = decoding_from(&Bytes::from(other.clone()), || {
                rmp_serde::from_slice(&other).unwrap()
            });
            let again: Msg = rmp_serde::from_slice(&frame).unwrap();
            assert!(inside(&again.data));
        });
        // An empty payload is just empty.
        let e = Msg {
            data: Bytes::new(),
            small: Bytes::new(),
        };
        let f = Bytes::from(rmp_serde::to_vec_named(&e).unwrap());
        assert_eq!(
            decoding_from(&f, || rmp_serde::from_slice::<Msg>(&f)).unwrap(),
            e
        );
    }
}
