//! In-memory connections: two byte pipes with a bandwidth and a latency, and a log of every
//! message that went in (decoded as sent) and came out (decoded as delivered).

use std::collections::VecDeque;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::Rng;
use shoal_picker::PeerKey;
use shoal_wire::Message;

/// Settings of one simulated connection (both directions alike).
#[derive(Clone, Copy, Debug)]
pub struct LinkOpts {
    pub fast: bool,
    pub ext: bool,
    /// Bytes per second each way.
    pub rate: u64,
    pub latency: Duration,
}

impl Default for LinkOpts {
    fn default() -> Self {
        Self {
            fast: true,
            ext: true,
            rate: 4 << 20,
            latency: Duration::from_millis(10),
        }
    }
}

impl LinkOpts {
    pub fn rate(self, rate: u64) -> Self {
        Self { rate, ..self }
    }
    pub fn latency(self, latency: Duration) -> Self {
        Self { latency, ..self }
    }
    pub fn fast(self, fast: bool) -> Self {
        Self { fast, ..self }
    }
    pub fn ext(self, ext: bool) -> Self {
        Self { ext, ..self }
    }
}

/// A message seen on a pipe. Piece data is dropped (only its length kept) to bound memory.
#[derive(Clone, Debug)]
pub struct Logged {
    pub at: Duration,
    pub msg: Message,
    pub data_len: usize,
}

/// One direction of a connection.
pub struct Pipe {
    pub rate: u64,
    pub latency: Duration,
    /// Bytes waiting for bandwidth.
    backlog: VecDeque<Bytes>,
    backlog_len: usize,
    next_send: Duration,
    /// Bytes on the wire, with their arrival time.
    in_flight: VecDeque<(Duration, Bytes)>,
    tx_decoder: BytesMut,
    rx_decoder: BytesMut,
    /// Raw bytes were injected: the receive side no longer decodes into whole messages.
    rx_garbled: bool,
    /// Messages as the sender queued them.
    pub sent: Vec<Logged>,
    /// Messages as the receiver got them.
    pub delivered: Vec<Logged>,
    pub bytes_delivered: u64,
}

/// Bandwidth is handed out in ticks of this length.
pub const QUANTUM: Duration = Duration::from_millis(5);

impl Pipe {
    fn new(opts: &LinkOpts) -> Self {
        Self {
            rate: opts.rate,
            latency: opts.latency,
            backlog: VecDeque::new(),
            backlog_len: 0,
            next_send: Duration::ZERO,
            in_flight: VecDeque::new(),
            tx_decoder: BytesMut::new(),
            rx_decoder: BytesMut::new(),
            rx_garbled: false,
            sent: Vec::new(),
            delivered: Vec::new(),
            bytes_delivered: 0,
        }
    }

    /// Queues bytes a core produced. Returns the messages completed by them (for checks).
    /// With `corrupt`, one byte of every block is flipped on the way.
    pub fn push(
        &mut self,
        now: Duration,
        bytes: &[u8],
        corrupt: Option<&mut StdRng>,
    ) -> Vec<Message> {
        self.tx_decoder.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut corrupt = corrupt;
        loop {
            match shoal_wire::decode(&self.tx_decoder) {
                Ok(Some((msg, n))) => {
                    let frame = self.tx_decoder.split_to(n).freeze();
                    let frame = match (&msg, corrupt.as_deref_mut()) {
                        (Message::Piece { index, begin, data }, Some(rng)) if !data.is_empty() => {
                            let mut bad = data.to_vec();
                            let at = rng.random_range(0..bad.len());
                            bad[at] ^= 0x5a;
                            let m = Message::Piece {
                                index: *index,
                                begin: *begin,
                                data: bad.into(),
                            };
                            Bytes::from(m.to_vec())
                        }
                        _ => frame,
                    };
                    self.sent.push(log(now, &msg));
                    out.push(msg);
                    self.enqueue(now, frame);
                }
                Ok(None) => break,
                Err(e) => panic!("a core sent an undecodable frame: {e}"),
            }
        }
        out
    }

    /// Queues raw bytes as if the sender wrote them (malformed input, or messages behind the
    /// sender's back). Bytes that are not whole frames stop the receive-side log.
    pub fn inject(&mut self, now: Duration, bytes: Bytes) {
        let mut rest = &bytes[..];
        while let Ok(Some((_, n))) = shoal_wire::decode(rest) {
            rest = &rest[n..];
        }
        if !rest.is_empty() {
            self.rx_garbled = true;
        }
        self.enqueue(now, bytes);
    }

    fn enqueue(&mut self, now: Duration, bytes: Bytes) {
        if self.backlog.is_empty() {
            self.next_send = self.next_send.max(now);
        }
        self.backlog_len += bytes.len();
        self.backlog.push_back(bytes);
    }

    /// Moves what the bandwidth allows onto the wire.
    pub fn send_due(&mut self, now: Duration) -> bool {
        if self.backlog.is_empty() || self.next_send > now {
            return false;
        }
        let mut budget =
            ((u128::from(self.rate) * QUANTUM.as_micros() / 1_000_000) as usize).max(1);
        while budget > 0 {
            let Some(mut chunk) = self.backlog.pop_front() else {
                break;
            };
            if chunk.len() > budget {
                let rest = chunk.split_off(budget);
                self.backlog.push_front(rest);
            }
            budget -= chunk.len();
            self.backlog_len -= chunk.len();
            self.in_flight.push_back((now + self.latency, chunk));
        }
        self.next_send = now + QUANTUM;
        true
    }

    /// Bytes that arrived by `now`, at most `max` of them.
    pub fn take_arrived(&mut self, now: Duration, max: usize) -> Option<Bytes> {
        let mut out = BytesMut::new();
        while let Some((at, chunk)) = self.in_flight.front_mut() {
            if *at > now || out.len() >= max {
                break;
            }
            let room = max - out.len();
            if chunk.len() > room {
                out.extend_from_slice(&chunk.split_to(room));
                break;
            }
            out.extend_from_slice(chunk);
            self.in_flight.pop_front();
        }
        if out.is_empty() {
            return None;
        }
        self.bytes_delivered += out.len() as u64;
        if !self.rx_garbled {
            self.rx_decoder.extend_from_slice(&out);
            loop {
                match shoal_wire::decode(&self.rx_decoder) {
                    Ok(Some((msg, n))) => {
                        let _ = self.rx_decoder.split_to(n);
                        self.delivered.push(log(now, &msg));
                    }
                    Ok(None) => break,
                    Err(_) => {
                        self.rx_garbled = true;
                        break;
                    }
                }
            }
        }
        Some(out.freeze())
    }

    pub fn next_event(&self) -> Option<Duration> {
        let send = (!self.backlog.is_empty()).then_some(self.next_send);
        let arrive = self.in_flight.front().map(|(t, _)| *t);
        [send, arrive].into_iter().flatten().min()
    }

    fn clear(&mut self) {
        self.backlog.clear();
        self.backlog_len = 0;
        self.in_flight.clear();
    }
}

fn log(at: Duration, msg: &Message) -> Logged {
    match msg {
        Message::Piece { index, begin, data } => Logged {
            at,
            msg: Message::Piece {
                index: *index,
                begin: *begin,
                data: Bytes::new(),
            },
            data_len: data.len(),
        },
        other => Logged {
            at,
            msg: other.clone(),
            data_len: 0,
        },
    }
}

/// One end of a connection: the node and the key it knows the connection by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct End {
    pub node: usize,
    pub key: PeerKey,
}

pub struct Link {
    /// `ends[0]` dialled `ends[1]`.
    pub ends: [End; 2],
    /// `pipes[i]` carries what `ends[i]` sends.
    pub pipes: [Pipe; 2],
    pub open: bool,
    pub closed_at: Option<Duration>,
}

impl Link {
    pub fn new(ends: [End; 2], opts: &LinkOpts) -> Self {
        Self {
            ends,
            pipes: [Pipe::new(opts), Pipe::new(opts)],
            open: true,
            closed_at: None,
        }
    }

    /// Which side `node` is.
    pub fn side(&self, node: usize) -> usize {
        if self.ends[0].node == node {
            0
        } else {
            assert_eq!(self.ends[1].node, node, "node {node} is not on this link");
            1
        }
    }

    /// What `node` sent on this link.
    pub fn sent_by(&self, node: usize) -> &[Logged] {
        &self.pipes[self.side(node)].sent
    }

    /// What `node` received on this link.
    pub fn received_by(&self, node: usize) -> &[Logged] {
        &self.pipes[1 - self.side(node)].delivered
    }

    pub fn close(&mut self, now: Duration) {
        self.open = false;
        self.closed_at = Some(now);
        for p in &mut self.pipes {
            p.clear();
        }
    }

    pub fn next_event(&self) -> Option<Duration> {
        if !self.open {
            return None;
        }
        self.pipes.iter().filter_map(Pipe::next_event).min()
    }
}
