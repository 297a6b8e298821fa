//! Any bytes as the start of a TCP connection: the handshake is refused or read, never a
//! panic or an allocation the length field alone asks for.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rados_msg::tcp::hello::decode_handshake(data);
});
