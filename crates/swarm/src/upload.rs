//! Uploading: serving requests from the disk, and the choker's decisions.

use std::time::Instant;

use bytes::Bytes;
use shoal_picker::{ChokePeerStats, PeerKey};
use shoal_wire::BlockRange;

use crate::swarm::Swarm;
use crate::types::DiskOp;

impl Swarm {
    /// The peer asks for a block: read it if we serve this peer, refuse otherwise.
    pub(crate) fn on_peer_request(&mut self, now: Instant, key: PeerKey, block: BlockRange) {
        let have = self.picker.have().has(block.piece);
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if peer.session.am_choking()
            || !have
            || peer.reads_in_flight >= self.config.max_reads_per_peer
        {
            peer.session.refuse_request(now, block);
            self.dirty.insert(key);
            return;
        }
        peer.reads_in_flight += 1;
        self.disk_ops.push_back(DiskOp::Read { peer: key, block });
    }

    pub(crate) fn on_read_done(
        &mut self,
        now: Instant,
        key: PeerKey,
        block: BlockRange,
        data: Result<Bytes, String>,
    ) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        peer.reads_in_flight = peer.reads_in_flight.saturating_sub(1);
        match data {
            Ok(data) => {
                let len = data.len() as u64;
                if peer.session.send_piece(now, block, data) == shoal_wire::ServeOutcome::Sent {
                    peer.up.add(now, len);
                    self.up_rate.add(now, len);
                    self.totals.uploaded += len;
                }
            }
            Err(_) => {
                // The piece is unreadable (file changed or vanished): tell the peer no.
                peer.session.refuse_request(now, block);
            }
        }
        self.dirty.insert(key);
    }

    /// Runs the choker over every peer and sends its CHOKE / UNCHOKE messages.
    pub(crate) fn rechoke(&mut self, now: Instant) {
        let stats: Vec<ChokePeerStats> = self
            .peers
            .iter_mut()
            .map(|(key, p)| ChokePeerStats {
                key: *key,
                interested: p.session.peer_interested(),
                am_interested: p.interesting,
                download_rate: p.down.per_second(now),
                upload_rate: p.up.per_second(now),
                connected_at: p.connected_at,
                last_block_at: p.last_block_at,
            })
            .collect();
        let decision = self.choker.rechoke(now, &stats, &mut self.rng);
        for key in decision.choke {
            if let Some(p) = self.peers.get_mut(&key) {
                p.session.choke(now);
                // Flooding is judged on requests refused from here on.
                p.refused_at_choke = p.session.stats().requests_refused;
                self.dirty.insert(key);
            }
        }
        for key in decision.unchoke {
            if let Some(p) = self.peers.get_mut(&key) {
                p.session.unchoke(now);
                self.dirty.insert(key);
            }
        }
        // Snubbing may have changed, which changes how much each peer may be asked for.
        self.fill_all = true;
    }

    /// Rechokes now, instead of at the next 10 s round, when every interested peer fits in
    /// the unchoke slots (regular plus optimistic): a peer that just became interested is
    /// then served at once, and since everyone interested gets a slot, an early round cannot
    /// choke anyone who had one. With more interested peers than slots the round waits, so
    /// peers of equal rank do not flap between choked and unchoked.
    pub(crate) fn rechoke_if_room(&mut self, now: Instant) {
        let interested = self
            .peers
            .values()
            .filter(|p| p.session.peer_interested())
            .count();
        if interested > 0 && interested <= self.config.choker.slots + 1 {
            self.rechoke(now);
        }
    }
}
