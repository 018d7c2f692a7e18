//! One-line picker cases. See `notation.rs` for the state strings.

use std::collections::BTreeMap;
use std::time::Duration;

use super::notation::{letters, peer, pi, state, state_seeded};
use crate::{BlockOutcome, PeerBlock, PickerError, Priority};

fn accepted(cancel: &str, piece_complete: bool) -> BlockOutcome {
    BlockOutcome::Accepted {
        cancel: cancel.chars().map(peer).collect(),
        piece_complete,
    }
}

/// Which piece a fresh `spec` state hands peer `a` (holding `has`) first, over `seeds` seeds.
fn first_piece_counts(spec: &str, has: &str, seeds: u64) -> BTreeMap<String, u32> {
    let mut counts = BTreeMap::new();
    for seed in 0..seeds {
        let mut t = state_seeded(spec, seed);
        let first = t.pick('a', has, 1);
        let piece = first.split('.').next().unwrap_or("").to_string();
        *counts.entry(piece).or_insert(0) += 1;
    }
    counts
}

// ---- rarest first --------------------------------------------------------------------------

#[test]
fn rarest_piece_first() {
    assert_eq!(state("avail: 3213").pick('a', "*", 4), "2.0 2.1 2.2 2.3");
    assert_eq!(
        state("avail: 3213").pick('a', "*", 6),
        "2.0 2.1 2.2 2.3 1.0 1.1"
    );
}

#[test]
fn rarest_among_what_the_peer_has() {
    assert_eq!(state("avail: 1232").pick('a', "0011", 4), "3.0 3.1 3.2 3.3");
}

#[test]
fn pieces_nobody_has_are_never_picked() {
    let mut t = state("avail: 0100");
    assert_eq!(t.pick('a', "0100", 8), "1.0 1.1 1.2 1.3");
    assert_eq!(t.pick('b', "0000", 8), "");
    // Everything obtainable is started, so b may only duplicate piece 1 (endgame).
    assert_eq!(t.pick('b', "0100", 8), "1.0 1.1 1.2 1.3");
}

#[test]
fn pieces_we_have_are_never_picked() {
    assert_eq!(
        state("have: 1101, avail: 1111").pick('a', "*", 8),
        "2.0 2.1 2.2 2.3"
    );
}

#[test]
fn ties_are_broken_at_random() {
    // Pieces 1, 2, 3 are equally rare; 0 and 4 are commoner.
    let counts = first_piece_counts("avail: 2111 2", "*", 600);
    assert_eq!(counts.keys().cloned().collect::<Vec<_>>(), ["1", "2", "3"]);
    for (piece, n) in counts {
        assert!(
            (150..=250).contains(&n),
            "piece {piece} picked {n} times of 600"
        );
    }
}

#[test]
fn seeds_count_everywhere() {
    let mut t = state("seeds: 1, avail: 0100");
    assert_eq!(t.p.availability(pi(0)), 1);
    assert_eq!(t.p.availability(pi(1)), 2);
    // A seed makes every piece obtainable: no endgame while any is unstarted.
    assert_eq!(t.pick('a', "*", 12).split(' ').count(), 12);
    assert!(!t.p.in_endgame());
    t.p.peer_lost_all();
    assert_eq!(t.p.availability(pi(0)), 0);
}

#[test]
fn availability_follows_bitfields_and_losses() {
    let mut t = state("avail: 0000");
    let (one, two) = (t.bf("0110"), t.bf("0100"));
    t.p.peer_bitfield(&one);
    t.p.peer_bitfield(&two);
    t.p.peer_has(pi(3));
    t.p.peer_has(pi(3));
    assert_eq!(
        (0..4).map(|i| t.p.availability(pi(i))).collect::<Vec<_>>(),
        [0, 2, 1, 2]
    );
    assert_eq!(t.pick('a', "0111", 4), "2.0 2.1 2.2 2.3");
    let mut t = state("avail: 1111");
    let bf = t.bf("1101");
    t.p.peer_bitfield(&bf);
    t.p.peer_lost(&bf);
    t.p.peer_lost(&bf);
    assert_eq!(
        (0..4).map(|i| t.p.availability(pi(i))).collect::<Vec<_>>(),
        [0, 0, 1, 0]
    );
    assert_eq!(t.pick('a', "*", 4).len(), "0.0 0.1 0.2 0.3".len());
}

// ---- pieces in progress --------------------------------------------------------------------

#[test]
fn pieces_in_progress_first() {
    assert_eq!(
        state("avail: 1223, partial: 3:A-a-").pick('b', "*", 3),
        "3.1 3.3 0.0"
    );
}

#[test]
fn rarest_piece_in_progress_first() {
    let mut t = state("avail: 0321, partial: 1:a--- 2:a---");
    assert_eq!(t.pick('b', "0111", 7), "2.1 2.2 2.3 1.1 1.2 1.3 3.0");
}

// ---- priorities ----------------------------------------------------------------------------

#[test]
fn skipped_pieces_are_never_picked() {
    let mut t = state("avail: 1222, prio: 0444");
    assert_eq!(t.pick('a', "1000", 4), "");
    let all = t.pick('a', "*", 64);
    assert_eq!(all.split(' ').count(), 12);
    assert!(!all.split(' ').any(|b| b.starts_with("0.")), "{all}");
}

#[test]
fn higher_priority_beats_rarity_and_progress() {
    assert_eq!(
        state("avail: 1112, prio: 4447").pick('a', "*", 4),
        "3.0 3.1 3.2 3.3"
    );
    assert_eq!(
        state("avail: 1112, prio: 4447, partial: 0:A---").pick('b', "*", 5),
        "3.0 3.1 3.2 3.3 0.1"
    );
}

#[test]
fn file_priorities_map_to_pieces() {
    // 4 pieces of 64 KiB; files of 100 KiB (skip), 20 KiB (normal), 136 KiB (skip). The middle
    // file lies inside piece 1, which is wanted although it also holds skipped bytes.
    let mut t = state("avail: 1111");
    let files = [
        (102_400, Priority::SKIP),
        (20_480, Priority::NORMAL),
        (139_264, Priority::SKIP),
    ];
    t.p.set_file_priorities(&files).unwrap();
    assert_eq!(
        (0..4)
            .map(|i| t.p.piece_priority(pi(i)).get())
            .collect::<Vec<_>>(),
        [0, 4, 0, 0]
    );
    assert_eq!(t.pick('a', "*", 8), "1.0 1.1 1.2 1.3");
    assert!(matches!(
        t.p.set_file_priorities(&[(5, Priority::NORMAL)]),
        Err(PickerError::FileLengthMismatch { got: 5, .. })
    ));
}

#[test]
fn unskipping_makes_a_piece_pickable() {
    let mut t = state("avail: 12, prio: 00");
    assert_eq!(t.pick('a', "*", 4), "");
    assert!(t.p.is_finished());
    t.p.set_piece_priority(pi(1), Priority::LOWEST).unwrap();
    assert_eq!(t.pick('a', "*", 4), "1.0 1.1 1.2 1.3");
}

// ---- first pieces, sequential, snubbed -------------------------------------------------------

#[test]
fn first_pieces_are_random_then_rarest() {
    // Piece 0 is rarest, but with nothing to share yet any piece will do.
    let counts = first_piece_counts("random: 4, avail: 1999 9999", "*", 400);
    assert_eq!(counts.len(), 8, "{counts:?}");
    assert!(counts.get("0").copied().unwrap_or(0) < 100, "{counts:?}");
    // With 4 pieces had, rarest first again.
    let counts = first_piece_counts("random: 4, have: 1111 0000 0, avail: 0000 9991 9", "*", 50);
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        [("7".to_string(), 50)]
    );
}

#[test]
fn sequential_mode_goes_in_order() {
    assert_eq!(
        state("seq, avail: 9991").pick('a', "*", 6),
        "0.0 0.1 0.2 0.3 1.0 1.1"
    );
    assert_eq!(
        state("seq, have: 1000, avail: 9991").pick('a', "*", 2),
        "1.0 1.1"
    );
    assert_eq!(
        state("seq, avail: 9991, partial: 2:A---").pick('b', "*", 4),
        "2.1 2.2 2.3 0.0"
    );
    assert_eq!(
        state("seq, avail: 9991").pick('a', "0101", 8),
        "1.0 1.1 1.2 1.3 3.0 3.1 3.2 3.3"
    );
    // The lowest open piece first, although piece 3 is rarer.
    assert_eq!(
        state("seq, avail: 9991, partial: 1:A--- 3:A---").pick('b', "*", 4),
        "1.1 1.2 1.3 3.1"
    );
}

#[test]
fn snubbed_peer_gets_one_common_block_away_from_others() {
    let mut t = state("avail: 2139, partial: 0:a---");
    assert_eq!(t.pick_snubbed('b', "*", 4), "3.0");
    assert_eq!(
        t.pick_snubbed('b', "*", 4),
        "",
        "one request in flight at most"
    );
    // Its own piece in progress is fine to continue.
    let mut t = state("avail: 2139, partial: 0:B---");
    assert_eq!(t.pick_snubbed('b', "*", 4), "0.1");
}

// ---- endgame -------------------------------------------------------------------------------

#[test]
fn endgame_duplicates_and_cancels() {
    let mut t = state("avail: 22, partial: 0:aaaa 1:aaAA");
    assert!(t.p.in_endgame());
    assert_eq!(t.pick('b', "*", 8), "0.0 0.1 0.2 0.3 1.0 1.1");
    assert_eq!(t.partials(), "0:2222 1:22AA");
    assert_eq!(t.recv('b', "0.0"), accepted("a", false));
    assert_eq!(
        t.recv('a', "0.0"),
        BlockOutcome::Duplicate,
        "the copy that crossed our cancel"
    );
    assert_eq!(t.partials(), "0:B222 1:22AA");
    assert_eq!(t.p.outstanding(peer('a')), 5);
    assert_eq!(t.recv('a', "1.1"), accepted("b", false));
    assert_eq!(t.recv('a', "1.0"), accepted("b", true));
}

#[test]
fn endgame_limits_duplicates() {
    let mut t = state("dups: 1, avail: 3, partial: 0:aaaa");
    assert_eq!(t.pick('b', "*", 8), "0.0 0.1 0.2 0.3");
    assert_eq!(
        t.pick('c', "*", 8),
        "",
        "every block already has one duplicate"
    );
    let mut t = state("dups: 2, avail: 3, partial: 0:aaab");
    t.pick('b', "*", 8);
    assert_eq!(t.pick('c', "*", 1), "0.3", "fewest copies first");
}

#[test]
fn no_endgame_while_an_obtainable_piece_is_unstarted() {
    let mut t = state("avail: 11, partial: 0:aaaa");
    assert!(!t.p.in_endgame());
    assert_eq!(t.pick('b', "10", 4), "");
    let mut t = state("avail: 10, partial: 0:aaaa");
    assert!(
        t.p.in_endgame(),
        "piece 1 is unobtainable, so everything obtainable is started"
    );
    assert_eq!(t.pick('b', "10", 4), "0.0 0.1 0.2 0.3");
    assert_eq!(
        t.pick_snubbed('c', "10", 4),
        "",
        "no duplicates for snubbed peers"
    );
}

// ---- block lifecycle -----------------------------------------------------------------------

#[test]
fn choke_returns_requests_to_the_pool() {
    let mut t = state("avail: 22, partial: 0:aab- 1:aa--");
    assert_eq!(t.choke('a'), "0.0 0.1 1.0 1.1");
    assert_eq!(
        t.partials(),
        "0:--b-",
        "piece 1 is all free again and back in the order"
    );
    assert_eq!(t.p.outstanding(peer('a')), 0);
    assert_eq!(t.pick('c', "*", 3), "0.0 0.1 0.3");
    assert_eq!(t.p.on_peer_disconnected(peer('b')), vec![t.block("0.2")]);
}

#[test]
fn rejected_request_frees_the_block() {
    let mut t = state("avail: 2, partial: 0:ab--");
    t.p.on_request_rejected(peer('a'), t.block("0.0"));
    assert_eq!(t.partials(), "0:-b--");
    t.p.on_request_rejected(peer('a'), t.block("0.1"));
    assert_eq!(
        t.partials(),
        "0:-b--",
        "a rejection for someone else's request changes nothing"
    );
    t.p.on_request_rejected(peer('b'), t.block("0.1"));
    assert_eq!(t.partials(), "");
}

#[test]
fn received_blocks_complete_a_piece() {
    let mut t = state("avail: 1, partial: 0:AAa-");
    assert_eq!(t.recv('a', "0.2"), accepted("", false));
    assert_eq!(
        t.recv('b', "0.3"),
        accepted("", true),
        "unasked data for a missing block is kept"
    );
    assert_eq!(t.recv('b', "0.3"), BlockOutcome::Duplicate);
    assert!(t.p.on_piece_verified(pi(0)).is_empty());
    assert!(t.p.is_finished());
    assert_eq!(t.recv('a', "0.0"), BlockOutcome::Duplicate);
    assert_eq!(t.pick('a', "*", 4), "");
}

#[test]
fn unrequested_data_for_an_unstarted_piece_is_refused() {
    let mut t = state("avail: 11, partial: 0:aA--");
    assert_eq!(t.recv('b', "1.0"), BlockOutcome::Unrequested);
    t.choke('a');
    assert_eq!(
        t.recv('a', "0.0"),
        accepted("", false),
        "data in flight when a choked us still counts"
    );
}

#[test]
fn hash_failure_names_senders_and_frees_blocks() {
    let mut t = state("avail: 3, partial: 0:ABAC");
    assert_eq!(letters(&t.p.on_piece_failed(pi(0))), "abc");
    assert_eq!(t.partials(), "");
    assert_eq!(t.pick('d', "*", 4), "0.0 0.1 0.2 0.3");
    assert!(
        t.p.on_piece_failed(pi(0)).is_empty(),
        "nothing received yet"
    );
}

#[test]
fn we_have_cancels_requests_in_flight() {
    let mut t = state("avail: 22, partial: 0:abA-");
    let cancels = t.p.we_have(pi(0));
    let expect = vec![
        PeerBlock {
            peer: peer('a'),
            block: t.block("0.0"),
        },
        PeerBlock {
            peer: peer('b'),
            block: t.block("0.1"),
        },
    ];
    assert_eq!(cancels, expect);
    assert_eq!(
        (t.p.outstanding(peer('a')), t.p.outstanding(peer('b'))),
        (0, 0)
    );
    assert_eq!(t.pick('a', "*", 8), "1.0 1.1 1.2 1.3");
}

#[test]
fn write_failure_makes_the_block_needed_again() {
    let mut t = state("avail: 1, partial: 0:AA--");
    t.p.on_write_failed(t.block("0.1"));
    assert_eq!(t.partials(), "0:A---");
    t.p.on_write_failed(t.block("0.0"));
    assert_eq!(t.partials(), "");
}

#[test]
fn explicit_requests_are_checked() {
    let mut t = state("have: 10, avail: 11, partial: 1:aA--");
    let had = t.block("0.0");
    assert_eq!(
        t.p.request_block(peer('b'), had, t.now),
        Err(PickerError::BlockNotNeeded(had))
    );
    let received = t.block("1.1");
    assert_eq!(
        t.p.request_block(peer('b'), received, t.now),
        Err(PickerError::BlockNotNeeded(received))
    );
    let asked = t.block("1.0");
    assert_eq!(
        t.p.request_block(peer('a'), asked, t.now),
        Err(PickerError::AlreadyRequested(asked))
    );
    assert_eq!(t.p.request_block(peer('b'), asked, t.now), Ok(()));
}

// ---- timeouts ------------------------------------------------------------------------------

#[test]
fn stalled_requests_become_requestable_elsewhere() {
    let mut t = state("avail: 2, partial: 0:aa--");
    assert_eq!(t.p.poll_timeout(), Some(t.base + Duration::from_secs(30)));
    t.advance(29);
    assert_eq!(t.timeout(), "");
    t.advance(1);
    assert_eq!(t.timeout(), "a:0.0 a:0.1");
    assert_eq!(t.p.poll_timeout(), None);
    assert_eq!(t.partials(), "0:~~--");
    assert_eq!(t.pick('b', "1", 4), "0.0 0.1 0.2 0.3");
    assert_eq!(t.partials(), "0:22bb");
    assert_eq!(
        t.recv('a', "0.0"),
        accepted("b", false),
        "the slow copy still counts"
    );
}

#[test]
fn delivery_restarts_the_stall_clock() {
    let mut t = state("avail: 1, partial: 0:aaa-");
    t.advance(20);
    assert_eq!(t.recv('a', "0.0"), accepted("", false));
    t.advance(20);
    assert_eq!(t.timeout(), "");
    assert_eq!(t.p.poll_timeout(), Some(t.base + Duration::from_secs(50)));
}

// ---- layout ----------------------------------------------------------------------------------

#[test]
fn short_last_piece_has_fewer_and_shorter_blocks() {
    // 3 full pieces of 64 KiB and a last one of 20 000 bytes: one full block and 3 616 bytes.
    let mut t = state("total: 216608, avail: 1112");
    assert_eq!(t.pick('a', "0001", 8), "3.0 3.1");
    assert_eq!(t.p.geometry().block_len(t.block("3.0")), 16_384);
    assert_eq!(t.p.geometry().block_len(t.block("3.1")), 3_616);
    assert_eq!(t.recv('a', "3.0"), accepted("", false));
    assert_eq!(t.recv('a', "3.1"), accepted("", true));
}

// ---- pieces lost on disk -------------------------------------------------------------------

#[test]
fn a_lost_piece_is_picked_again() {
    let mut t = state("have: 1111, avail: 1111");
    assert!(t.p.is_finished());
    assert_eq!(t.pick('a', "*", 4), "");
    assert!(t.p.on_piece_lost(pi(2)));
    assert!(!t.p.on_piece_lost(pi(2)), "already missing");
    assert!(!t.p.is_finished());
    assert_eq!(t.pick('a', "*", 4), "2.0 2.1 2.2 2.3");
    assert!(t.p.check_invariants().is_ok());
}
