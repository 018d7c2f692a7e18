//! Scripted peers: a bare wire session that seeds with simple, fixed behaviour, for the cases a
//! real swarm core would never produce (choking mid-transfer, never answering).

use std::collections::BTreeMap;
use std::time::Instant;

use shoal_core::Bitfield;
use shoal_picker::PeerKey;
use shoal_wire::{ExtHandshake, Features, PeerEvent, PeerSession, SessionConfig};

use super::content::Content;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behavior {
    /// Unchokes interested peers and serves every request at once.
    Serve,
    /// Serves this many blocks, then chokes and never unchokes again.
    ChokeAfter(u32),
    /// Unchokes interested peers and never answers a request.
    Silent,
    /// Serves `after` blocks, chokes, unchokes again `pause` later and serves from then on.
    Pause {
        after: u32,
        pause: std::time::Duration,
    },
}

pub struct Script {
    pub behavior: Behavior,
    pub have: Bitfield,
    pub sessions: BTreeMap<PeerKey, PeerSession>,
    next_key: u64,
    pub served: u32,
    /// `Pause`: when to unchoke again.
    resume_at: Option<Instant>,
}

impl Script {
    pub fn new(behavior: Behavior, have: Bitfield) -> Self {
        Self {
            behavior,
            have,
            sessions: BTreeMap::new(),
            next_key: 1,
            served: 0,
            resume_at: None,
        }
    }

    pub fn connected(&mut self, now: Instant, features: Features, content: &Content) -> PeerKey {
        let mut s = PeerSession::new(
            now,
            SessionConfig::default(),
            features,
            Some((content.geometry, &self.have)),
        );
        if features.extension_protocol {
            let hs = ExtHandshake {
                v: Some("script".into()),
                reqq: Some(500),
                ..Default::default()
            };
            let _ = s.send_ext_handshake(now, &hs);
        }
        let key = PeerKey::new(self.next_key);
        self.next_key += 1;
        self.sessions.insert(key, s);
        key
    }

    /// Feeds bytes; `Err` means the script closes the connection.
    pub fn handle_bytes(
        &mut self,
        now: Instant,
        key: PeerKey,
        data: &[u8],
        content: &Content,
    ) -> Result<(), String> {
        let Some(s) = self.sessions.get_mut(&key) else {
            return Ok(());
        };
        s.handle_bytes(now, data).map_err(|e| e.to_string())?;
        while let Some(ev) = s.poll_event() {
            match ev {
                PeerEvent::Interested => {
                    let done = matches!(self.behavior, Behavior::ChokeAfter(n) if self.served >= n);
                    if !done {
                        s.unchoke(now);
                    }
                }
                PeerEvent::Request(block) => {
                    let serve = match self.behavior {
                        Behavior::Serve | Behavior::Pause { .. } => true,
                        Behavior::ChokeAfter(n) => self.served < n,
                        Behavior::Silent => false,
                    };
                    if serve {
                        s.send_piece(now, block, content.block(block));
                        self.served += 1;
                        match self.behavior {
                            Behavior::ChokeAfter(n) if n == self.served => s.choke(now),
                            Behavior::Pause { after, pause } if after == self.served => {
                                s.choke(now);
                                self.resume_at = Some(now + pause);
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub fn handle_timeout(&mut self, now: Instant) -> Vec<PeerKey> {
        if self.resume_at.is_some_and(|t| t <= now) {
            self.resume_at = None;
            for s in self.sessions.values_mut() {
                s.unchoke(now);
            }
        }
        let mut dead = Vec::new();
        for (k, s) in &mut self.sessions {
            if s.poll_timeout().is_some_and(|t| t <= now) && s.handle_timeout(now).is_err() {
                dead.push(*k);
            }
        }
        dead
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let sessions = self
            .sessions
            .values()
            .filter_map(PeerSession::poll_timeout)
            .min();
        [sessions, self.resume_at].into_iter().flatten().min()
    }
}
