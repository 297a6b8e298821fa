//! Any bytes as a frame: checking and decoding must refuse or accept, never panic; what is
//! accepted encodes again to a frame that decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let frame = bytes::Bytes::copy_from_slice(data);
    if let Ok(env) = rados_msg::decode(&frame) {
        let again = rados_msg::encode(env.src, env.tid, env.epoch, &env.msg)
            .expect("a decoded message encodes");
        let back = rados_msg::decode(&again).expect("and decodes again");
        assert_eq!(back.msg, env.msg);
    }
});
