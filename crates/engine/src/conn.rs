//! One task per peer connection: it only moves bytes. Everything it reads goes to the torrent
//! actor as [`PeerInput::Data`]; everything the actor wants sent arrives on the writer channel.
//! Generic over the stream so tests can use `tokio::io::duplex`.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::limits::RateLimits;

/// The actor's name for one connection.
pub type PeerKey = u64;

/// What a connection task reports to its torrent actor.
#[derive(Debug)]
pub enum PeerInput {
    /// Bytes read from the peer, in order.
    Data(PeerKey, Bytes),
    /// The connection ended (EOF, error, or the actor dropped the writer).
    Closed(PeerKey, String),
}

/// How much we ask the socket for per read. Large enough that a 16 KiB block usually arrives
/// in one piece, small enough to keep per-connection memory modest.
const READ_CHUNK: usize = 64 * 1024;
/// Most bytes gathered for one write.
const WRITE_BATCH: usize = 256 * 1024;

/// Runs a connection until either side ends it. `initial` holds bytes already read past the
/// handshake. Writes stop when the actor drops the sender; reads stop at EOF or error.
pub async fn run_connection<S>(
    stream: S,
    key: PeerKey,
    initial: BytesMut,
    to_actor: mpsc::Sender<PeerInput>,
    mut outgoing: mpsc::UnboundedReceiver<Bytes>,
    limits: Arc<RateLimits>,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let read_side = {
        let to_actor = to_actor.clone();
        let limits = Arc::clone(&limits);
        async move {
            let mut buf = initial;
            loop {
                if !buf.is_empty() {
                    let chunk = buf.split().freeze();
                    if to_actor.send(PeerInput::Data(key, chunk)).await.is_err() {
                        return "torrent stopped".to_string();
                    }
                }
                buf.reserve(READ_CHUNK);
                match reader.read_buf(&mut buf).await {
                    Ok(0) => return "peer closed the connection".to_string(),
                    Ok(n) => {
                        // Paying after the read keeps the average exact; TCP's window does
                        // the rest of the throttling while we wait.
                        if let Some(bucket) = &limits.download {
                            bucket.acquire(n as u64).await;
                        }
                    }
                    Err(e) => return format!("read error: {e}"),
                }
            }
        }
    };
    let write_side = async move {
        // Messages arrive as separate buffers (a 13-byte piece header, then the block), and the
        // socket has TCP_NODELAY: writing each alone would cost a syscall and often a packet
        // apiece. Everything already queued is gathered into one buffer and written at once.
        let mut batch = BytesMut::with_capacity(WRITE_BATCH);
        while let Some(first) = outgoing.recv().await {
            batch.clear();
            batch.extend_from_slice(&first);
            while batch.len() < WRITE_BATCH {
                match outgoing.try_recv() {
                    Ok(more) => batch.extend_from_slice(&more),
                    Err(_) => break,
                }
            }
            if let Some(bucket) = &limits.upload {
                bucket.acquire(batch.len() as u64).await;
            }
            if let Err(e) = writer.write_all(&batch).await {
                return format!("write error: {e}");
            }
        }
        let _ = writer.shutdown().await;
        "closed by us".to_string()
    };
    // Whichever side ends first ends the connection.
    let reason = tokio::select! {
        r = read_side => r,
        r = write_side => r,
    };
    let _ = to_actor.send(PeerInput::Closed(key, reason)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn moves_bytes_both_ways_and_reports_close() {
        let (ours, mut theirs) = tokio::io::duplex(1 << 16);
        let (tx, mut rx) = mpsc::channel(8);
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let limits = Arc::new(RateLimits::default());
        let initial = BytesMut::from(&b"ab"[..]);
        let task = tokio::spawn(run_connection(ours, 9, initial, tx, out_rx, limits));
        match rx.recv().await {
            Some(PeerInput::Data(9, b)) => assert_eq!(&b[..], b"ab"),
            other => panic!("unexpected {other:?}"),
        }
        theirs.write_all(b"cd").await.unwrap();
        match rx.recv().await {
            Some(PeerInput::Data(9, b)) => assert_eq!(&b[..], b"cd"),
            other => panic!("unexpected {other:?}"),
        }
        out_tx.send(Bytes::from_static(b"xyz")).unwrap();
        let mut got = [0u8; 3];
        theirs.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"xyz");
        drop(theirs);
        match rx.recv().await {
            Some(PeerInput::Closed(9, _)) => {}
            other => panic!("unexpected {other:?}"),
        }
        task.await.unwrap();
    }
}
