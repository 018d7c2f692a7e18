//! proptest strategies shared by the codec and session tests.

use bytes::Bytes;
use proptest::prelude::*;

use crate::message::{BlockSpec, Message};

pub(crate) fn arb_bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

/// Any message, with any field values.
pub(crate) fn arb_message() -> BoxedStrategy<Message> {
    messages(
        any::<u32>().boxed(),
        any::<u32>().boxed(),
        any::<u32>().boxed(),
        2000,
    )
}

/// Messages whose numbers are mostly near a torrent of about ten 2 KiB pieces: in range, just
/// out of range, aligned or not, so session checks are exercised on both sides.
pub(crate) fn arb_peer_message() -> BoxedStrategy<Message> {
    let index = prop_oneof![8 => 0u32..10, 1 => 10u32..12, 1 => any::<u32>()].boxed();
    let begin = prop_oneof![4 => Just(0u32), 4 => Just(1024u32), 1 => 0u32..3000].boxed();
    let length = prop_oneof![8 => Just(1024u32), 1 => 0u32..3000, 1 => any::<u32>()].boxed();
    messages(index, begin, length, 1100)
}

fn messages(
    index: BoxedStrategy<u32>,
    begin: BoxedStrategy<u32>,
    length: BoxedStrategy<u32>,
    max_data: usize,
) -> BoxedStrategy<Message> {
    let spec =
        (index.clone(), begin.clone(), length).prop_map(|(index, begin, length)| BlockSpec {
            index,
            begin,
            length,
        });
    let data = prop_oneof![Just(Bytes::from(vec![0u8; 1024])), arb_bytes(max_data)];
    prop_oneof![
        Just(Message::KeepAlive),
        Just(Message::Choke),
        Just(Message::Unchoke),
        Just(Message::Interested),
        Just(Message::NotInterested),
        index.clone().prop_map(Message::Have),
        proptest::collection::vec(any::<u8>(), 1..4)
            .prop_map(|v| Message::Bitfield(Bytes::from(v))),
        spec.clone().prop_map(Message::Request),
        (index.clone(), begin, data).prop_map(|(index, begin, data)| Message::Piece {
            index,
            begin,
            data
        }),
        spec.clone().prop_map(Message::Cancel),
        any::<u16>().prop_map(Message::Port),
        index.clone().prop_map(Message::Suggest),
        Just(Message::HaveAll),
        Just(Message::HaveNone),
        spec.prop_map(Message::Reject),
        index.prop_map(Message::AllowedFast),
        (any::<u8>(), arb_bytes(300)).prop_map(|(id, payload)| Message::Extended { id, payload }),
    ]
    .boxed()
}
