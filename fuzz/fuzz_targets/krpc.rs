//! Any datagram: KRPC decoding never panics; whatever decodes re-encodes to a message that
//! decodes to the same value, and the reply decision for failures is total.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_dht::proto::{decode, MAX_DATAGRAM};

fuzz_target!(|data: &[u8]| {
    match decode(data) {
        Ok(msg) => {
            let again = msg.encode();
            // Re-encoding can grow a message (mapped addresses, canonical framing), but what
            // fits a datagram must decode back to the same message.
            if again.len() <= MAX_DATAGRAM {
                let back = decode(&again).expect("re-encoded message decodes");
                assert_eq!(back, msg);
            }
        }
        Err(failure) => {
            let _ = failure.reply_code();
        }
    }
});
