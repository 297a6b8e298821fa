//! Any bytes as a message body inside a well-formed frame (right length, right checksum), so
//! that decoding itself is explored rather than the checksum refusing nearly everything: the
//! first two bytes choose the header's message type. Decoding must refuse or accept, never
//! panic; what is accepted encodes again to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rados_msg::frame::{self, Header};
use rados_msg::EntityName;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let header = Header {
        msg_type: u16::from_le_bytes([data[0], data[1]]),
        src: EntityName::osd(1),
        tid: 7,
        epoch: 3,
        body_len: 0,
    };
    let Ok(framed) = frame::build(header, &data[2..]) else {
        return;
    };
    if let Ok(env) = rados_msg::decode(&framed) {
        let again = rados_msg::encode(env.src, env.tid, env.epoch, &env.msg)
            .expect("a decoded message encodes");
        let back = rados_msg::decode(&again).expect("and decodes again");
        assert_eq!(back.msg, env.msg);
    }
});
