//! A minimal blocking HTTP/1.1 client for the reference programs' local RPC endpoints.
//!
//! Written by hand because the only HTTP client in the workspace (reqwest) would pull tokio
//! into a kit that is otherwise plain threads, and these endpoints need very little: one
//! request per connection (`Connection: close`), Content-Length or chunked bodies, a cap on
//! the reply size, and a timeout on every socket operation.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::KitError;

/// Replies larger than this are refused (RPC status replies are a few KiB).
const MAX_REPLY: u64 = 16 << 20;
/// Every connect, read and write gives up after this long.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed HTTP reply.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The first header named `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request and reads the whole reply.
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Reply, KitError> {
    let ctx = |what: &str| format!("HTTP {method} http://{addr}{path}: {what}");
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .map_err(|e| KitError::io(ctx("connect"), e))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| KitError::io(ctx("socket options"), e))?;

    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .map_err(|e| KitError::io(ctx("send"), e))?;

    // Read until the body is complete by its own framing. Waiting for EOF is not enough:
    // qBittorrent ignores `Connection: close` and keeps the socket open for seconds.
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(KitError::io(ctx("receive"), e)),
        };
        raw.extend_from_slice(&buf[..n]);
        if raw.len() as u64 > MAX_REPLY {
            return Err(protocol(format!("reply larger than {MAX_REPLY} bytes")));
        }
        if let Some(reply) = parse_reply(&raw, n == 0)? {
            return Ok(reply);
        }
        if n == 0 {
            return Err(protocol(ctx(
                "connection closed before the reply was complete",
            )));
        }
    }
}

/// One field of a `multipart/form-data` body: a text value, or a file's name and bytes.
pub(crate) enum Part<'a> {
    Text(&'a str),
    File(&'a str, &'a [u8]),
}

/// Encodes a `multipart/form-data` body; returns (Content-Type header value, body).
pub(crate) fn multipart(fields: &[(&str, Part<'_>)]) -> (String, Vec<u8>) {
    // A fixed boundary is fine: the kit controls every field, and none of them (bencoded
    // torrents included) is likely to hold this line; it is checked anyway below.
    let mut boundary = String::from("shoal-testkit-boundary-7d3f1a");
    while fields.iter().any(|(_, p)| match p {
        Part::Text(t) => t.contains(&boundary),
        Part::File(_, b) => b.windows(boundary.len()).any(|w| w == boundary.as_bytes()),
    }) {
        boundary.push('x');
    }
    let mut body = Vec::new();
    for (name, part) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match part {
            Part::Text(text) => {
                body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                );
                body.extend_from_slice(text.as_bytes());
            }
            Part::File(file, bytes) => {
                body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\n\
                         Content-Type: application/x-bittorrent\r\n\r\n"
                    )
                    .as_bytes(),
                );
                body.extend_from_slice(bytes);
            }
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn protocol(detail: String) -> KitError {
    KitError::Protocol {
        client: "http",
        detail,
    }
}

/// Parses a reply; `Ok(None)` while more bytes are needed. `eof` says the server closed
/// the connection, which ends a body framed by neither length nor chunks.
fn parse_reply(raw: &[u8], eof: bool) -> Result<Option<Reply>, KitError> {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&raw[..end])
        .map_err(|_| protocol("reply headers are not UTF-8".into()))?;
    let rest = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| protocol(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut reply = Reply {
        status,
        headers,
        body: Vec::new(),
    };
    let body = if reply
        .header("Transfer-Encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        dechunk(rest)?
    } else if let Some(len) = reply.header("Content-Length") {
        let len: usize = len
            .parse()
            .map_err(|_| protocol(format!("bad Content-Length {len:?}")))?;
        rest.get(..len).map(<[u8]>::to_vec)
    } else {
        eof.then(|| rest.to_vec())
    };
    Ok(body.map(|body| {
        reply.body = body;
        reply
    }))
}

/// Decodes a chunked body (RFC 9112 section 7.1); `Ok(None)` while incomplete. Trailers
/// are ignored.
fn dechunk(mut data: &[u8]) -> Result<Option<Vec<u8>>, KitError> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&data[..line_end]).unwrap_or("");
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| protocol(format!("bad chunk size {size_text:?}")))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        // The chunk and its CRLF must both be there.
        let Some(chunk) = data.get(..size) else {
            return Ok(None);
        };
        if data.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(chunk);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_full(raw: &[u8]) -> Reply {
        parse_reply(raw, true).unwrap().unwrap()
    }

    #[test]
    fn parses_content_length_replies() {
        let r =
            parse_full(b"HTTP/1.1 409 Conflict\r\nX-Id: abc\r\nContent-Length: 3\r\n\r\nxyzEXTRA");
        assert_eq!(r.status, 409);
        assert_eq!(r.header("x-id"), Some("abc"));
        assert_eq!(r.body, b"xyz");
    }

    #[test]
    fn parses_chunked_replies() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n";
        assert_eq!(parse_full(raw).body, b"Wikipedia");
        // Every proper prefix is incomplete, not an error.
        for cut in 0..raw.len() - 2 {
            assert!(
                parse_reply(&raw[..cut], false).unwrap().is_none(),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn waits_for_the_framed_end_of_the_body() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab";
        assert!(parse_reply(raw, false).unwrap().is_none());
        let unframed = b"HTTP/1.0 200 OK\r\n\r\nabc";
        assert!(parse_reply(unframed, false).unwrap().is_none());
        assert_eq!(parse_reply(unframed, true).unwrap().unwrap().body, b"abc");
    }

    #[test]
    fn multipart_frames_every_field() {
        let (ct, body) = multipart(&[
            ("a", Part::Text("1")),
            ("f", Part::File("x.torrent", b"d1:xe")),
        ]);
        let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n"
        )));
        assert!(text.contains("filename=\"x.torrent\""));
        assert!(text.ends_with(&format!("\r\nd1:xe\r\n--{boundary}--\r\n")));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_reply(b"HTTP/1.1 abc\r\n\r\n", false).is_err());
        assert!(parse_reply(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\nab", false).is_err());
        let bad_chunk = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert!(parse_reply(bad_chunk, false).is_err());
    }

    #[test]
    fn talks_to_a_loopback_server() {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
            // Keep the connection open, as qBittorrent does, until the client has returned:
            // a client waiting for EOF would fail with its read timeout instead.
            let _ = release_rx.recv();
            req
        });
        let r = request(addr, "POST", "/x", &[("A", "b")], b"hi").unwrap();
        release_tx.send(()).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"ok");
        let req = server.join().unwrap();
        assert!(req.starts_with("POST /x HTTP/1.1\r\n"));
        assert!(req.contains("A: b\r\n"));
    }
}
