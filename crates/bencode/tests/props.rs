//! Property tests: encode/decode round trips, and bendy's strict decoder as an oracle.

use std::collections::BTreeMap;

use proptest::prelude::*;
use shoal_bencode::{check_strict, decode, decode_with, Limits, OwnedValue};

fn owned() -> impl Strategy<Value = OwnedValue> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(OwnedValue::Int),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(OwnedValue::Bytes),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(OwnedValue::List),
            proptest::collection::btree_map(
                proptest::collection::vec(any::<u8>(), 0..8),
                inner,
                0..6
            )
            .prop_map(OwnedValue::Dict),
        ]
    })
}

/// Does bendy's (always strict) decoder accept `input` as exactly one value?
fn bendy_accepts(input: &[u8]) -> bool {
    let mut dec = bendy::decoding::Decoder::new(input).with_max_depth(100);
    let first = match dec.next_object() {
        Ok(Some(obj)) => consume(obj),
        _ => false,
    };
    first && matches!(dec.next_object(), Ok(None))
}

fn consume(obj: bendy::decoding::Object) -> bool {
    use bendy::decoding::Object;
    match obj {
        Object::List(mut l) => l.consume_all().is_ok(),
        Object::Dict(mut d) => d.consume_all().is_ok(),
        Object::Integer(s) => s.parse::<i64>().is_ok(),
        Object::Bytes(_) => true,
    }
}

proptest! {
    #[test]
    fn round_trip(v in owned()) {
        let bytes = v.encode();
        let decoded = decode_with(&bytes, &Limits::default(), true).expect("canonical");
        prop_assert_eq!(decoded.raw(), &bytes[..]);
        prop_assert_eq!(decoded.to_owned_value(), v);
    }

    #[test]
    fn raw_parts_are_spliced_verbatim(v in owned(), k in proptest::collection::vec(any::<u8>(), 0..8)) {
        // An unsorted (non-canonical) inner dict must survive byte for byte.
        let raw = b"d1:bi1e1:ai2ee".to_vec();
        let mut map = BTreeMap::new();
        map.insert(k.clone(), OwnedValue::Raw(raw.clone()));
        map.insert(b"zz".to_vec(), v);
        let bytes = OwnedValue::Dict(map).encode();
        let decoded = decode(&bytes).expect("valid");
        prop_assert_eq!(decoded.get(&k).map(|x| x.raw()), Some(&raw[..]));
    }

    #[test]
    fn strict_agrees_with_bendy(input in proptest::collection::vec(
        prop_oneof![Just(b'i'), Just(b'e'), Just(b'l'), Just(b'd'), Just(b':'), Just(b'-'),
                    Just(b'0'), Just(b'1'), Just(b'2'), Just(b'a')], 0..24)) {
        prop_assert_eq!(check_strict(&input).is_ok(), bendy_accepts(&input),
            "input {:?}", String::from_utf8_lossy(&input));
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&input);
        let _ = check_strict(&input);
    }

    #[test]
    fn our_encoding_is_what_bendy_writes(v in owned()) {
        let ours = v.encode();
        let theirs = bendy::encoding::ToBencode::to_bencode(&v).expect("encodes");
        prop_assert_eq!(ours, theirs);
    }
}
