//! Any input: decoding never panics, and whatever decodes re-encodes to something that decodes
//! to the same owned value; strict acceptance implies the raw span is the whole input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_bencode::{check_strict, decode, decode_with, Limits};

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = decode(data) {
        let owned = v.to_owned_value();
        let again = owned.encode();
        let re = decode(&again).expect("re-encoded value decodes");
        assert_eq!(re.to_owned_value(), owned);
    }
    if check_strict(data).is_ok() {
        let v = decode_with(data, &Limits::default(), true).expect("strict accepted");
        assert_eq!(v.raw(), data);
        assert_eq!(v.to_owned_value().encode(), data, "canonical input re-encodes identically");
    }
});
