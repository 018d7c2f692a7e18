//! The node task: the only owner of the socket and the [`Dht`] core.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::node::{AnnounceResult, Command, Snapshot};
use crate::proto::{Config, Dht, DhtEvent, LookupId, NodeId, NodeInfo, MAX_DATAGRAM};

/// Who waits for a lookup's results.
enum Waiter {
    Bootstrap(oneshot::Sender<usize>),
    Peers(mpsc::UnboundedSender<SocketAddr>),
    Announce(oneshot::Sender<AnnounceResult>),
}

pub(crate) struct Actor {
    socket: UdpSocket,
    dht: Dht,
    rng: StdRng,
    waiters: HashMap<LookupId, Waiter>,
}

impl Actor {
    pub fn new(socket: UdpSocket, config: Config) -> Self {
        // Real entropy here; the core only ever sees this injected generator.
        let mut rng = StdRng::from_os_rng();
        let dht = Dht::new(config, Instant::now(), &mut rng);
        Self {
            socket,
            dht,
            rng,
            waiters: HashMap::new(),
        }
    }

    pub fn id(&self) -> NodeId {
        self.dht.id()
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<Command>, restore: Vec<NodeInfo>) {
        self.dht.add_nodes(Instant::now(), &restore);
        // One byte more than the largest datagram we accept, so that an oversized one is
        // seen as such (the kernel truncates silently) and refused by the decoder.
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        loop {
            let deadline = self.dht.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok((n, from)) => {
                        if let Some(data) = buf.get(..n) {
                            self.dht.handle_datagram(Instant::now(), from, data);
                        }
                    }
                    // ICMP "port unreachable" for an earlier send surfaces here on Linux; the
                    // query will time out on its own.
                    Err(e) if is_icmp_report(e.kind()) => {}
                    // Anything else means the socket is unusable; retrying would spin. The
                    // task ends and every handle reports `NodeError::Stopped`.
                    Err(_) => return,
                },
                cmd = rx.recv() => match cmd {
                    None | Some(Command::Shutdown) => return,
                    Some(cmd) => self.command(cmd),
                },
                () = sleep => self.dht.handle_timeout(Instant::now(), &mut self.rng),
            }
            self.flush().await;
        }
    }

    fn command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Bootstrap(nodes, tx) => {
                let id = self.dht.bootstrap(now, &nodes);
                self.waiters.insert(id, Waiter::Bootstrap(tx));
            }
            Command::GetPeers(info_hash, tx) => {
                let id = self.dht.get_peers(now, info_hash);
                self.waiters.insert(id, Waiter::Peers(tx));
            }
            Command::Announce(info_hash, port, tx) => {
                let id = self.dht.announce(now, info_hash, port);
                self.waiters.insert(id, Waiter::Announce(tx));
            }
            Command::AddNodes(nodes) => self.dht.add_nodes(now, &nodes),
            Command::Snapshot(tx) => {
                let _ = tx.send(Snapshot {
                    id: self.dht.id(),
                    nodes: self.dht.nodes(),
                    stats: self.dht.stats(),
                });
            }
            Command::Shutdown => {}
        }
    }

    /// Sends what the core queued and hands its events to whoever waits for them.
    async fn flush(&mut self) {
        while let Some((to, data)) = self.dht.poll_transmit() {
            // A failed send is a lost datagram, which the protocol already tolerates.
            let _ = self.socket.send_to(&data, to).await;
        }
        while let Some(ev) = self.dht.poll_event() {
            match ev {
                DhtEvent::Peers { lookup, peers } => {
                    if let Some(Waiter::Peers(tx)) = self.waiters.get(&lookup) {
                        if peers.into_iter().any(|p| tx.send(p).is_err()) {
                            // Nobody listens any more: stop the lookup.
                            self.waiters.remove(&lookup);
                            self.dht.cancel(lookup);
                        }
                    }
                }
                DhtEvent::LookupDone {
                    lookup,
                    peers,
                    announced,
                    ..
                } => match self.waiters.remove(&lookup) {
                    Some(Waiter::Bootstrap(tx)) => {
                        let _ = tx.send(self.dht.routing_table_size());
                    }
                    Some(Waiter::Announce(tx)) => {
                        let _ = tx.send(AnnounceResult {
                            stored_at: announced.unwrap_or(0),
                            peers_found: peers,
                        });
                    }
                    // Dropping the sender closes the peer channel.
                    Some(Waiter::Peers(_)) | None => {}
                },
            }
        }
    }
}

/// Errors a UDP socket reports for an ICMP message about an earlier send.
fn is_icmp_report(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset
    )
}
