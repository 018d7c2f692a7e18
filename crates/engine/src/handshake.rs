//! Opening a peer connection: TCP connect or accept, then the 68-byte handshake, with time limits.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::BytesMut;
use shoal_wire::Handshake;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Why a connection did not get past the handshake. All of them just drop that connection;
/// `WrongTorrent` and `SelfConnection` also mean the address should not be dialled again.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("connect timed out")]
    ConnectTimeout,
    #[error("handshake timed out")]
    Timeout,
    #[error("connection closed during the handshake")]
    Closed,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a BitTorrent handshake: {0}")]
    Protocol(#[from] shoal_wire::WireError),
    #[error("peer is serving another torrent")]
    WrongTorrent,
    #[error("connected to ourselves")]
    SelfConnection,
}

/// How connections are opened: time limits, and the local address outgoing ones come from.
#[derive(Debug, Clone, Copy)]
pub struct HandshakeLimits {
    pub connect: Duration,
    pub handshake: Duration,
    /// Bind outgoing connections to this address (port chosen by the system), so that peers
    /// see us at the address we listen on rather than whichever one the route picks. Peers
    /// remember others by IP (one connection per IP, "was a seed" marks), so two sessions
    /// on one host must not share a source address. Applied only to peers of the same
    /// address family; `None` lets the system choose.
    pub local_ip: Option<IpAddr>,
}

impl Default for HandshakeLimits {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            handshake: Duration::from_secs(20),
            local_ip: None,
        }
    }
}

/// Opens a TCP connection to `addr`, from `local_ip` when it is of the same family.
async fn tcp_connect(addr: SocketAddr, local_ip: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let Some(ip) = local_ip.filter(|ip| ip.is_ipv4() == addr.is_ipv4()) else {
        return TcpStream::connect(addr).await;
    };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(ip, 0))?;
    socket.connect(addr).await
}

/// Reads a full handshake. Returns it and whatever the peer sent after it (already part of the
/// message stream, e.g. a bitfield sent together with the handshake).
pub async fn read_handshake<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<(Handshake, BytesMut), HandshakeError> {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if let Some((hs, used)) = Handshake::decode(&buf)? {
            let _ = buf.split_to(used);
            return Ok((hs, buf));
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(HandshakeError::Closed);
        }
    }
}

/// Dials `addr` and exchanges handshakes; the peer must answer for the same info-hash.
pub async fn connect_outgoing(
    addr: SocketAddr,
    ours: Handshake,
    limits: HandshakeLimits,
) -> Result<(TcpStream, Handshake, BytesMut), HandshakeError> {
    let mut stream = tokio::time::timeout(limits.connect, tcp_connect(addr, limits.local_ip))
        .await
        .map_err(|_| HandshakeError::ConnectTimeout)??;
    let _ = stream.set_nodelay(true);
    let (theirs, rest) = tokio::time::timeout(limits.handshake, async {
        stream.write_all(&ours.encode()).await?;
        read_handshake(&mut stream).await
    })
    .await
    .map_err(|_| HandshakeError::Timeout)??;
    check_theirs(&ours, &theirs)?;
    Ok((stream, theirs, rest))
}

/// Answers an incoming handshake that was already read and matched to a torrent.
pub async fn answer_incoming<S: AsyncWrite + Unpin>(
    stream: &mut S,
    ours: Handshake,
    theirs: &Handshake,
    limits: HandshakeLimits,
) -> Result<(), HandshakeError> {
    check_theirs(&ours, theirs)?;
    tokio::time::timeout(limits.handshake, stream.write_all(&ours.encode()))
        .await
        .map_err(|_| HandshakeError::Timeout)??;
    Ok(())
}

fn check_theirs(ours: &Handshake, theirs: &Handshake) -> Result<(), HandshakeError> {
    if theirs.info_hash != ours.info_hash {
        return Err(HandshakeError::WrongTorrent);
    }
    if theirs.peer_id == ours.peer_id {
        return Err(HandshakeError::SelfConnection);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_core::PeerId;

    #[tokio::test]
    async fn handshake_with_trailing_bytes() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let hs = Handshake::new([7; 20], PeerId([1; 20]));
        let mut bytes = hs.encode().to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 1, 2]);
        a.write_all(&bytes).await.unwrap();
        let (got, rest) = read_handshake(&mut b).await.unwrap();
        assert_eq!(got, hs);
        assert_eq!(&rest[..], &[0, 0, 0, 1, 2]);
    }

    #[tokio::test]
    async fn garbage_is_refused_early() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        a.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        assert!(matches!(
            read_handshake(&mut b).await,
            Err(HandshakeError::Protocol(_))
        ));
    }

    #[test]
    fn self_and_wrong_torrent() {
        let ours = Handshake::new([7; 20], PeerId([1; 20]));
        let me = ours;
        assert!(matches!(
            check_theirs(&ours, &me),
            Err(HandshakeError::SelfConnection)
        ));
        let other = Handshake::new([8; 20], PeerId([2; 20]));
        assert!(matches!(
            check_theirs(&ours, &other),
            Err(HandshakeError::WrongTorrent)
        ));
    }
}
