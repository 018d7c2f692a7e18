//! A seeder that lies: it claims every piece and answers every request, but flips one byte in
//! each block it sends. Used to prove that corrupt data is caught by the piece hash, that the
//! download still completes from honest peers, and that the liar gets banned.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use shoal_core::metainfo::Metainfo;
use shoal_core::{Bitfield, PeerId};
use shoal_storage::{FileStorage, Storage, StorageFile};
use shoal_wire::{Handshake, Message};

/// A running corrupt seeder; stops when dropped.
pub struct EvilSeeder {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Blocks sent (all corrupt).
    pub blocks_sent: Arc<AtomicU64>,
    /// Connections accepted.
    pub connections: Arc<AtomicU64>,
}

impl EvilSeeder {
    /// Serves the torrent's data from `data_dir` on `ip` (any free port).
    pub fn start(meta: &Metainfo, data_dir: &std::path::Path, ip: &str) -> std::io::Result<Self> {
        let files: Vec<StorageFile> = meta
            .files()
            .iter()
            .map(|f| {
                let rel: std::path::PathBuf = f.path.components().map(|c| c.as_str()).collect();
                if f.pad {
                    StorageFile::pad(rel, f.length)
                } else {
                    StorageFile::new(rel, f.length)
                }
            })
            .collect();
        let storage = FileStorage::open(data_dir, meta.piece_length(), files)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let storage: Arc<dyn Storage> = Arc::new(storage);
        let listener = TcpListener::bind((ip, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let blocks_sent = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let info_hash = meta.info_hash().wire_id();
        let pieces = meta.piece_count();
        {
            let (stop, sent, conns) = (stop.clone(), blocks_sent.clone(), connections.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            conns.fetch_add(1, Ordering::Relaxed);
                            let (storage, stop, sent) =
                                (storage.clone(), stop.clone(), sent.clone());
                            thread::spawn(move || {
                                let _ = serve(stream, info_hash, pieces, &*storage, &stop, &sent);
                            });
                        }
                        Err(_) => thread::sleep(Duration::from_millis(20)),
                    }
                }
            });
        }
        Ok(Self {
            addr,
            stop,
            blocks_sent,
            connections,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for EvilSeeder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(
    mut stream: TcpStream,
    info_hash: [u8; 20],
    pieces: u32,
    storage: &dyn Storage,
    stop: &AtomicBool,
    sent: &AtomicU64,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let theirs = loop {
        if let Ok(Some((hs, used))) = Handshake::decode(&buf) {
            buf.drain(..used);
            break hs;
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => return Err(e),
        }
    };
    if theirs.info_hash != info_hash {
        return Ok(());
    }
    let me = Handshake::new(info_hash, PeerId(*b"-EV0001-evilseeder01"));
    stream.write_all(&me.encode())?;
    stream.write_all(
        &Message::Bitfield(Bitfield::full(pieces).as_bytes().to_vec().into()).to_vec(),
    )?;
    stream.write_all(&Message::Unchoke.to_vec())?;
    loop {
        while let Ok(Some((msg, used))) = shoal_wire::decode(&buf) {
            buf.drain(..used);
            if let Message::Request(spec) = msg {
                let Some(piece) = shoal_core::PieceIndex::checked(spec.index, pieces) else {
                    continue;
                };
                let Ok(mut data) = storage.read_block_vec(piece, spec.begin, spec.length) else {
                    continue;
                };
                if let Some(b) = data.first_mut() {
                    *b ^= 0xff;
                }
                let reply = Message::Piece {
                    index: spec.index,
                    begin: spec.begin,
                    data: data.into(),
                };
                stream.write_all(&reply.to_vec())?;
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => return Err(e),
        }
    }
}
