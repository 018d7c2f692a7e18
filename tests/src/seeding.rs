//! What shoal offers other peers, checked from the outside: `shoal seed` as a child process
//! ([`SeedProcess`]), pieces hashed as they lie on disk ([`DiskPieces`]), and a wire-level
//! [`Observer`] that checks every piece shoal announces and every block it serves.
//!
//! The seeding and crash-safety proofs share one claim: a piece shoal says it has (in a
//! bitfield, a HAVE or its resume file) is on disk with the right bytes, and a block it sends
//! is the torrent's. These helpers check that claim with nothing of shoal's own code on the
//! checking side except the torrent parser: pieces are read straight from the files and hashed
//! here, and the observer speaks the wire protocol over a plain socket.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use shoal_core::layout::Layout;
use shoal_core::metainfo::Metainfo;
use shoal_core::{Bitfield, PeerId};
use shoal_storage::hash_piece_v1;
use shoal_wire::{BlockSpec, Handshake, Message};
use tempfile::TempDir;

use crate::shoal_bin::shoal_bin;
use crate::shoal_process::{send, wait_reaped, Exit, FinalStats};

/// Grace period between SIGTERM and SIGKILL when stopping a seeding shoal.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// After SIGKILL the kernel reaps at once; this only guards against a stuck process.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// How much of shoal's stderr a failure message quotes.
const LOG_TAIL: usize = 6000;
/// The line `shoal seed` prints once every piece is verified and it serves them.
pub const SEEDING_LINE: &str = "seeding; Ctrl-C to stop";

/// How to run `shoal seed`.
#[derive(Clone, Debug)]
pub struct Seed {
    pub torrent: PathBuf,
    /// The save path: the folder holding the torrent's `name`.
    pub data: PathBuf,
    /// The address shoal listens on and dials from.
    pub ip: Ipv4Addr,
    /// The listening port; must be a real port so peers can be told where to dial.
    pub port: u16,
    /// Peers shoal dials (`--peer`).
    pub peers: Vec<SocketAddr>,
    /// More arguments, appended last.
    pub extra: Vec<String>,
}

impl Seed {
    pub fn new(torrent: &Path, data: &Path, ip: Ipv4Addr, port: u16) -> Self {
        Self {
            torrent: torrent.to_path_buf(),
            data: data.to_path_buf(),
            ip,
            port,
            peers: Vec::new(),
            extra: Vec::new(),
        }
    }

    pub fn peer(mut self, addr: SocketAddr) -> Self {
        self.peers.push(addr);
        self
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra.push(arg.into());
        self
    }
}

/// A running `shoal seed` (no trackers, no DHT, progress lines every second, final stats
/// with `--stats-json`); stopped by PID (SIGTERM, then SIGKILL) when dropped.
pub struct SeedProcess {
    /// `None` once reaped.
    child: Option<Child>,
    pid: u32,
    exit: Option<Exit>,
    lines: Arc<Mutex<Vec<String>>>,
    listen: SocketAddr,
    /// Holds stderr's log, the stats file and the state folder.
    dir: TempDir,
}

impl SeedProcess {
    pub fn start(s: &Seed) -> std::io::Result<Self> {
        if s.port == 0 {
            return Err(std::io::Error::other(
                "SeedProcess needs a real port (free_port) so peers can dial it",
            ));
        }
        let dir = tempfile::Builder::new().prefix("shoal-seed").tempdir()?;
        let stderr = std::fs::File::create(dir.path().join("stderr.log"))?;
        let listen = SocketAddr::from((s.ip, s.port));
        let mut cmd = Command::new(shoal_bin());
        cmd.arg("seed")
            .arg(&s.torrent)
            .arg("--data")
            .arg(&s.data)
            .arg("--listen")
            .arg(listen.to_string())
            .args([
                "--no-tui",
                "--no-dht",
                "--no-trackers",
                "--progress-every",
                "1",
            ])
            .arg("--stats-json")
            .arg(dir.path().join("stats.json"))
            .arg("--state-dir")
            .arg(dir.path().join("state"));
        for p in &s.peers {
            cmd.arg("--peer").arg(p.to_string());
        }
        cmd.args(&s.extra);
        let log = std::env::var("SHOAL_TEST_LOG").unwrap_or_else(|_| "info".to_string());
        cmd.env("SHOAL_LOG", log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        // SAFETY: prctl is async-signal-safe and touches no parent memory; the child dies with
        // the thread that started it if a test aborts without running our Drop.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        let pid = child.id();
        let lines = Arc::new(Mutex::new(Vec::new()));
        if let Some(stdout) = child.stdout.take() {
            let lines = Arc::clone(&lines);
            // Ends at EOF, when the process exits.
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { return };
                    lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
        }
        Ok(Self {
            child: Some(child),
            pid,
            exit: None,
            lines,
            listen,
            dir,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Where shoal accepts peers.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    pub fn stdout_lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn stderr_tail(&self) -> String {
        let text = std::fs::read(self.dir.path().join("stderr.log")).unwrap_or_default();
        let start = text.len().saturating_sub(LOG_TAIL);
        String::from_utf8_lossy(&text[start..]).into_owned()
    }

    pub fn diagnostics(&self) -> String {
        format!(
            "shoal seed pid {} on {} ended {:?}\n--- stdout ---\n{}\n--- stderr (tail) ---\n{}",
            self.pid,
            self.listen,
            self.exit,
            self.stdout_lines().join("\n"),
            self.stderr_tail()
        )
    }

    fn try_exit(&mut self) -> Option<Exit> {
        if self.exit.is_none() {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.exit = Some(status.into());
                self.child = None;
            }
        }
        self.exit
    }

    /// `Ok` while the process runs; the diagnostics once it ended.
    pub fn check_running(&mut self) -> Result<(), String> {
        match self.try_exit() {
            None => Ok(()),
            Some(e) => Err(format!("shoal seed exited ({e:?})\n{}", self.diagnostics())),
        }
    }

    /// Waits (bounded) until shoal has checked its data and serves it.
    pub fn wait_seeding(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stdout_lines().iter().any(|l| l == SEEDING_LINE) {
                return Ok(());
            }
            self.check_running()?;
            if Instant::now() >= deadline {
                return Err(format!(
                    "shoal seed not seeding after {timeout:?}\n{}",
                    self.diagnostics()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops a seeding shoal with SIGTERM (its normal way out) and returns the final
    /// statistics it wrote. It must exit by itself with 130 (interrupted) or 0, not by a
    /// signal.
    pub fn stop_for_stats(&mut self) -> Result<FinalStats, String> {
        self.check_running()?;
        self.stop();
        match self.exit {
            Some(Exit::Code(0 | 130)) => {}
            other => {
                return Err(format!(
                    "SIGTERM ended shoal seed with {other:?}\n{}",
                    self.diagnostics()
                ))
            }
        }
        let text = std::fs::read(self.dir.path().join("stats.json"))
            .map_err(|e| format!("no stats file: {e}\n{}", self.diagnostics()))?;
        serde_json::from_slice(&text)
            .map_err(|e| format!("bad stats file: {e}\n{}", self.diagnostics()))
    }

    /// SIGTERM, a bounded wait, then SIGKILL. Idempotent.
    pub fn stop(&mut self) {
        if self.try_exit().is_some() {
            return;
        }
        let Some(mut child) = self.child.take() else {
            return;
        };
        send(self.pid, libc::SIGTERM);
        let status = wait_reaped(&mut child, STOP_GRACE).or_else(|| {
            send(self.pid, libc::SIGKILL);
            wait_reaped(&mut child, KILL_WAIT)
        });
        self.exit = status.map(Exit::from);
        if status.is_none() {
            eprintln!("shoal seed pid {} did not exit after SIGKILL", self.pid);
        }
    }
}

impl Drop for SeedProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A torrent's pieces as they lie in some save path, read with plain positioned reads.
pub struct DiskPieces {
    meta: Metainfo,
    layout: Layout,
    /// Per file: its path below a save path, `None` for padding (zeros, never on disk).
    files: Vec<Option<PathBuf>>,
}

impl DiskPieces {
    /// Parses the .torrent at `torrent` (v1 piece hashes required).
    pub fn load(torrent: &Path) -> Result<Self, String> {
        let bytes =
            std::fs::read(torrent).map_err(|e| format!("reading {}: {e}", torrent.display()))?;
        let meta = Metainfo::from_bytes(&bytes)
            .map_err(|e| format!("parsing {}: {e}", torrent.display()))?;
        if !meta.has_v1() {
            return Err(format!("{} has no v1 piece hashes", torrent.display()));
        }
        let files = meta
            .files()
            .iter()
            .map(|f| (!f.pad).then(|| f.path.components().map(|c| c.as_str()).collect()))
            .collect();
        Ok(Self {
            layout: meta.layout(),
            meta,
            files,
        })
    }

    pub fn metainfo(&self) -> &Metainfo {
        &self.meta
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn piece_count(&self) -> u32 {
        self.layout.piece_count()
    }

    /// Length of piece `piece` (0 outside the torrent).
    pub fn piece_len(&self, piece: u32) -> u32 {
        self.layout
            .piece(piece)
            .map_or(0, |p| self.layout.piece_size(p))
    }

    /// Bytes `offset..offset + len` of `piece` as stored under `save_path`; `None` when a byte
    /// is not on disk (file missing or too short) or the range is outside the piece.
    pub fn read(
        &self,
        save_path: &Path,
        piece: u32,
        offset: u32,
        len: u32,
    ) -> std::io::Result<Option<Vec<u8>>> {
        let Some(p) = self.layout.piece(piece) else {
            return Ok(None);
        };
        if u64::from(offset) + u64::from(len) > u64::from(self.layout.piece_size(p)) {
            return Ok(None);
        }
        let start = self.layout.piece_offset(p) + u64::from(offset);
        let mut out = vec![0u8; len as usize];
        let mut at = 0usize;
        for s in self.layout.range_slices(start, u64::from(len)) {
            let Some(buf) = out.get_mut(at..at + s.len as usize) else {
                return Ok(None);
            };
            at += s.len as usize;
            let Some(Some(rel)) = self.files.get(s.file_index) else {
                continue; // padding reads as the zeros already there
            };
            let file = match std::fs::File::open(save_path.join(rel)) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            match file.read_exact_at(buf, s.offset_in_file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Ok((at == out.len()).then_some(out))
    }

    /// Whether piece `piece` under `save_path` hashes to the torrent's hash.
    pub fn is_good(&self, save_path: &Path, piece: u32) -> std::io::Result<bool> {
        let len = self.piece_len(piece);
        let Some(data) = self.read(save_path, piece, 0, len)? else {
            return Ok(false);
        };
        let expected = self.meta.piece_hashes().get(piece as usize);
        Ok(expected == Some(&hash_piece_v1(&data)))
    }

    /// Every piece under `save_path` that hashes right.
    pub fn good_pieces(&self, save_path: &Path) -> std::io::Result<Bitfield> {
        let mut good = Bitfield::new(self.piece_count());
        for i in 0..self.piece_count() {
            if self.is_good(save_path, i)? {
                good.set(i, true);
            }
        }
        Ok(good)
    }

    /// Overwrites every byte of `piece` under `save_path` with zeros (the files must exist at
    /// full length): builds copies that hold only some of the pieces.
    pub fn zero_piece(&self, save_path: &Path, piece: u32) -> std::io::Result<()> {
        let Some(p) = self.layout.piece(piece) else {
            return Ok(());
        };
        for s in self.layout.file_slices(p) {
            let Some(Some(rel)) = self.files.get(s.file_index) else {
                continue;
            };
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(save_path.join(rel))?;
            file.write_all_at(&vec![0u8; s.len as usize], s.offset_in_file)?;
        }
        Ok(())
    }

    /// Pieces of `claimed` that are not on disk under `save_path` with the right bytes.
    pub fn bad_claims(&self, save_path: &Path, claimed: &Bitfield) -> std::io::Result<Vec<u32>> {
        let mut bad = Vec::new();
        for i in claimed.iter_ones() {
            if !self.is_good(save_path, i)? {
                bad.push(i);
            }
        }
        Ok(bad)
    }
}

/// What an [`Observer`] saw on one connection to shoal.
#[derive(Clone, Debug, Default)]
pub struct ObserverReport {
    /// A handshake for the torrent was exchanged.
    pub connected: bool,
    /// Pieces shoal announced (bitfield or HAVE); each was checked on disk when it came.
    pub announced: BTreeSet<u32>,
    /// HAVE messages received.
    pub haves: u64,
    /// Blocks shoal served; each was compared with the source content.
    pub blocks_served: u64,
    /// Every claim or block that was wrong, and any protocol violation.
    pub problems: Vec<String>,
}

/// Peer id of the observer; no real client uses the `-ZW` prefix.
const OBSERVER_ID: PeerId = PeerId(*b"-ZW0000-observer0001");
/// Block size the observer requests.
const BLOCK: u32 = 16 * 1024;
/// Requests in flight at once.
const OBSERVER_PIPELINE: usize = 4;
/// Blocks requested per connection at most, so the observer does not become a real load.
const OBSERVER_MAX_BLOCKS: u64 = 256;
/// How often the observer's loop looks at its stop flag.
const TICK: Duration = Duration::from_millis(50);
/// Largest message body the observer accepts (a 16 KiB block plus headers, or a bitfield).
const MAX_BUFFER: usize = 1 << 20;

/// A peer that connects to shoal, says it has nothing and is interested, and checks what
/// shoal says and sends: every announced piece must hash right in `shoal_dir` at the moment
/// it is announced (a HAVE goes out only after the write, so the bytes are there), and every
/// served block must equal the same bytes of `source_dir`. It keeps connecting until a
/// handshake succeeds, so it can be started before shoal listens; one connection per run.
pub struct Observer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<ObserverReport>>,
}

impl Observer {
    /// `target` is shoal's listen address; `shoal_dir` and `source_dir` are save paths (the
    /// folders holding the torrent's name).
    pub fn start(
        target: SocketAddr,
        pieces: Arc<DiskPieces>,
        shoal_dir: PathBuf,
        source_dir: PathBuf,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("observer".into())
            .spawn(move || {
                let mut report = ObserverReport::default();
                let mut watch = Watch {
                    pieces: &pieces,
                    shoal_dir: &shoal_dir,
                    source_dir: &source_dir,
                    report: &mut report,
                };
                watch.run(target, &flag);
                report
            })
            .ok();
        Self { stop, thread }
    }

    /// Stops watching (the connection is usually gone already: shoal exited) and returns
    /// what was seen. The thread notices the flag within one tick.
    pub fn finish(mut self) -> ObserverReport {
        self.stop.store(true, Ordering::Release);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(report)) => report,
            Some(Err(_)) => ObserverReport {
                problems: vec!["observer thread panicked".into()],
                ..ObserverReport::default()
            },
            None => ObserverReport {
                problems: vec!["observer thread could not start".into()],
                ..ObserverReport::default()
            },
        }
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Watch<'a> {
    pieces: &'a DiskPieces,
    shoal_dir: &'a Path,
    source_dir: &'a Path,
    report: &'a mut ObserverReport,
}

impl Watch<'_> {
    fn run(&mut self, target: SocketAddr, stop: &AtomicBool) {
        let info_hash = self.pieces.meta.info_hash().wire_id();
        let stream = loop {
            if stop.load(Ordering::Acquire) {
                return;
            }
            if let Some(s) = handshake(target, info_hash) {
                break s;
            }
            std::thread::sleep(TICK);
        };
        self.report.connected = true;
        if let Err(e) = self.watch(stream, stop) {
            // A reset or EOF is how a killed or finished shoal leaves; anything else is noted.
            if !matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
            ) {
                self.report.problems.push(format!("connection error: {e}"));
            }
        }
    }

    fn watch(&mut self, mut stream: TcpStream, stop: &AtomicBool) -> std::io::Result<()> {
        stream.set_read_timeout(Some(TICK))?;
        stream.write_all(&Message::Interested.to_vec())?;
        let mut buf: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        let mut unchoked = false;
        let mut in_flight: Vec<BlockSpec> = Vec::new();
        // Next block to ask for: (piece, offset), walking the announced pieces in order.
        let mut cursor: Option<(u32, u32)> = None;
        let mut requested = 0u64;
        while !stop.load(Ordering::Acquire) {
            match stream.read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
            if buf.len() > MAX_BUFFER {
                self.report
                    .problems
                    .push("more than 1 MiB buffered without a whole message".into());
                return Ok(());
            }
            loop {
                let (msg, used) = match shoal_wire::decode(&buf) {
                    Ok(Some(x)) => x,
                    Ok(None) => break,
                    Err(e) => {
                        self.report.problems.push(format!("bad message: {e}"));
                        return Ok(());
                    }
                };
                buf.drain(..used);
                match msg {
                    Message::Bitfield(bits) => {
                        match Bitfield::from_bytes(&bits, self.pieces.piece_count()) {
                            Ok(b) => {
                                for i in b.iter_ones() {
                                    self.announced(i, "bitfield")?;
                                }
                            }
                            Err(e) => self.report.problems.push(format!("bad bitfield: {e}")),
                        }
                    }
                    Message::Have(i) => {
                        self.report.haves += 1;
                        self.announced(i, "HAVE")?;
                    }
                    Message::HaveAll => {
                        for i in 0..self.pieces.piece_count() {
                            self.announced(i, "HAVE ALL")?;
                        }
                    }
                    Message::Unchoke => unchoked = true,
                    Message::Choke => {
                        unchoked = false;
                        in_flight.clear();
                    }
                    Message::Reject(spec) => in_flight.retain(|s| *s != spec),
                    Message::Piece { index, begin, data } => {
                        let spec = BlockSpec {
                            index,
                            begin,
                            length: data.len() as u32,
                        };
                        in_flight.retain(|s| *s != spec);
                        self.served(index, begin, &data)?;
                    }
                    _ => {}
                }
            }
            if unchoked {
                while in_flight.len() < OBSERVER_PIPELINE && requested < OBSERVER_MAX_BLOCKS {
                    let Some(spec) = self.next_request(&mut cursor) else {
                        break;
                    };
                    stream.write_all(&Message::Request(spec).to_vec())?;
                    in_flight.push(spec);
                    requested += 1;
                }
            }
        }
        Ok(())
    }

    /// Checks an announced piece on disk, now.
    fn announced(&mut self, piece: u32, how: &str) -> std::io::Result<()> {
        if piece >= self.pieces.piece_count() {
            self.report
                .problems
                .push(format!("{how} names piece {piece}, past the end"));
            return Ok(());
        }
        if !self.pieces.is_good(self.shoal_dir, piece)? {
            self.report.problems.push(format!(
                "{how} announced piece {piece}, which is not on disk with the right bytes"
            ));
        }
        self.report.announced.insert(piece);
        Ok(())
    }

    /// Compares a served block with the source.
    fn served(&mut self, piece: u32, begin: u32, data: &[u8]) -> std::io::Result<()> {
        self.report.blocks_served += 1;
        if !self.report.announced.contains(&piece) {
            self.report
                .problems
                .push(format!("served a block of piece {piece}, never announced"));
        }
        let want = self
            .pieces
            .read(self.source_dir, piece, begin, data.len() as u32)?;
        if want.as_deref() != Some(data) {
            self.report.problems.push(format!(
                "served piece {piece} at {begin} (+{}) differs from the source",
                data.len()
            ));
        }
        Ok(())
    }

    /// The next block of an announced piece, walking them in order, once each.
    fn next_request(&self, cursor: &mut Option<(u32, u32)>) -> Option<BlockSpec> {
        let (piece, offset) = match *cursor {
            Some((p, o)) if o < self.pieces.piece_len(p) => (p, o),
            Some((p, _)) => (*self.report.announced.range(p + 1..).next()?, 0),
            None => (*self.report.announced.iter().next()?, 0),
        };
        let length = BLOCK.min(self.pieces.piece_len(piece) - offset);
        *cursor = Some((piece, offset + length));
        Some(BlockSpec {
            index: piece,
            begin: offset,
            length,
        })
    }
}

/// Connects and exchanges handshakes; `None` if shoal is not (yet) serving the torrent.
fn handshake(target: SocketAddr, info_hash: [u8; 20]) -> Option<TcpStream> {
    let mut s = TcpStream::connect_timeout(&target, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(&Handshake::new(info_hash, OBSERVER_ID).encode())
        .ok()?;
    let mut theirs = [0u8; Handshake::LEN];
    s.read_exact(&mut theirs).ok()?;
    match Handshake::decode(&theirs) {
        Ok(Some((hs, _))) if hs.info_hash == info_hash => Some(s),
        _ => None,
    }
}
