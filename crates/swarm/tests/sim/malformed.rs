//! Malformed input from one peer closes that connection only; the others carry on.

use std::time::Duration;

use shoal_swarm::{CloseReason, SwarmConfig, SwarmEvent};
use shoal_wire::{BlockSpec, Message};

use crate::support::{Behavior, Have, LinkOpts, Sim};

struct Case {
    name: &'static str,
    /// The bytes, given the piece count and piece length.
    bytes: fn(u32, u32) -> Vec<u8>,
    opts: LinkOpts,
    banned: bool,
}

fn frame(len: u32, id: u8, body: &[u8]) -> Vec<u8> {
    let mut v = len.to_be_bytes().to_vec();
    v.push(id);
    v.extend_from_slice(body);
    v
}

fn cases() -> Vec<Case> {
    let plain = LinkOpts::default();
    vec![
        Case {
            name: "have with a 5-byte body",
            bytes: |_, _| frame(6, 4, &[0, 0, 0, 1, 0]),
            opts: plain,
            banned: false,
        },
        Case {
            name: "unknown message id",
            bytes: |_, _| frame(1, 99, &[]),
            opts: plain,
            banned: false,
        },
        Case {
            name: "length prefix 0xFFFFFFFF",
            bytes: |_, _| vec![0xff; 4],
            opts: plain,
            banned: true,
        },
        Case {
            name: "piece longer than any block",
            bytes: |_, _| frame(9 + 200_000, 7, &[0; 8]),
            opts: plain,
            banned: false,
        },
        Case {
            name: "cancel with a 4-byte body",
            bytes: |_, _| frame(5, 8, &[0, 0, 0, 0]),
            opts: plain,
            banned: false,
        },
        Case {
            name: "have past the last piece",
            bytes: |n, _| Message::Have(n + 3).to_vec(),
            opts: plain,
            banned: false,
        },
        Case {
            name: "request past the last piece",
            bytes: |n, _| {
                Message::Request(BlockSpec {
                    index: n,
                    begin: 0,
                    length: 16_384,
                })
                .to_vec()
            },
            opts: plain,
            banned: false,
        },
        Case {
            name: "request past the piece end",
            bytes: |_, len| {
                Message::Request(BlockSpec {
                    index: 0,
                    begin: len,
                    length: 16_384,
                })
                .to_vec()
            },
            opts: plain,
            banned: false,
        },
        // A bitfield later in the connection is accepted (aria2 sends one instead of many
        // HAVEs), but one of the wrong length is still an error.
        Case {
            name: "late bitfield of the wrong length",
            bytes: |n, _| Message::Bitfield(vec![0u8; n.div_ceil(8) as usize + 1].into()).to_vec(),
            opts: plain,
            banned: false,
        },
        Case {
            name: "fast-extension message without it",
            bytes: |_, _| Message::HaveAll.to_vec(),
            opts: plain.fast(false),
            banned: false,
        },
        Case {
            name: "extended message without BEP 10",
            bytes: |_, _| {
                Message::Extended {
                    id: 0,
                    payload: b"de".to_vec().into(),
                }
                .to_vec()
            },
            opts: plain.ext(false),
            banned: false,
        },
    ]
}

#[test]
fn malformed_input_closes_only_that_connection() {
    for (i, case) in cases().into_iter().enumerate() {
        let seed = 40 + i as u64;
        // Large enough that the download is still going when the bad bytes, queued behind
        // the evil peer's in-flight blocks, arrive.
        let mut sim = Sim::new(seed, 4 << 20, 65_536);
        let l = sim.add_swarm("leecher", Have::None, SwarmConfig::default());
        let g1 = sim.add_swarm("good1", Have::All, SwarmConfig::default());
        let g2 = sim.add_swarm("good2", Have::All, SwarmConfig::default());
        let evil = sim.add_script("evil", Have::All, Behavior::Serve);
        let slow = LinkOpts::default().rate(128 << 10);
        let l1 = sim.connect(l, g1, slow).expect("g1");
        let l2 = sim.connect(l, g2, slow).expect("g2");
        let le = sim
            .connect(l, evil, case.opts.rate(128 << 10))
            .expect("evil");
        // Mid-transfer, with requests in flight everywhere.
        let quarter = sim.content.piece_count() / 4;
        assert!(sim.run_until(Duration::from_secs(30), |sim| sim
            .swarm(l)
            .have()
            .count_ones()
            >= quarter));
        let bytes = (case.bytes)(sim.content.piece_count(), sim.content.piece_len);
        sim.inject(le, evil, &bytes);
        let closed = sim.run_until(Duration::from_secs(30), |sim| !sim.links[le].open);
        assert!(closed, "{}: connection not closed", case.name);
        let evil_key = sim.key(le, l);
        let closes = sim.closes(l);
        assert_eq!(closes.len(), 1, "{}: {closes:?}", case.name);
        assert_eq!(closes[0].0, evil_key, "{}", case.name);
        match (&closes[0].1, case.banned) {
            (CloseReason::Banned, true) | (CloseReason::Protocol(_), false) => {}
            (other, _) => panic!("{}: closed as {other:?}", case.name),
        }
        assert!(
            sim.links[l1].open && sim.links[l2].open,
            "{}: others closed too",
            case.name
        );
        let closed_at = sim.links[le].closed_at.expect("closed");
        sim.run_to_completion(&[l], Duration::from_secs(60));
        sim.assert_complete_and_correct(l);
        // The good peers kept delivering after the bad one was gone.
        let done_at = sim.nodes[l]
            .events
            .iter()
            .find(|(_, e)| *e == SwarmEvent::Completed)
            .expect("done")
            .0;
        assert!(done_at > closed_at);
        for (k, reason) in sim.closes(l).into_iter().skip(1) {
            assert_eq!(reason, CloseReason::NotUseful, "{}: {k:?}", case.name);
        }
    }
}
