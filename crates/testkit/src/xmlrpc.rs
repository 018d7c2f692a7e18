//! XML-RPC over SCGI, as rtorrent speaks it.
//!
//! Written by hand: rtorrent needs only a handful of value types, one request per
//! connection, and no XML beyond what XML-RPC uses, which is less code than adapting a
//! general XML crate and an HTTP-only XML-RPC client to SCGI.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use data_encoding::BASE64;

use crate::http::IO_TIMEOUT;
use crate::KitError;

/// Replies larger than this are refused.
const MAX_REPLY: u64 = 16 << 20;
/// Nesting deeper than this is refused (rtorrent replies are two levels deep).
const MAX_DEPTH: usize = 16;

/// An XML-RPC value.
#[derive(Clone, Debug, PartialEq)]
pub enum XmlValue {
    Int(i64),
    Str(String),
    /// Sent as `<base64>`; replies never carry one for the calls the kit makes.
    Bytes(Vec<u8>),
    Array(Vec<XmlValue>),
    Struct(Vec<(String, XmlValue)>),
}

impl XmlValue {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[XmlValue]> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }
    fn member(&self, name: &str) -> Option<&XmlValue> {
        match self {
            Self::Struct(m) => m.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Calls `method` on the SCGI endpoint at `addr`. A fault becomes [`KitError::Rejected`].
pub(crate) fn call(
    client: &'static str,
    addr: SocketAddr,
    method: &str,
    params: &[XmlValue],
) -> Result<XmlValue, KitError> {
    let ctx = |what: &str| format!("SCGI {method} at {addr}: {what}");
    let mut body =
        format!("<?xml version=\"1.0\"?><methodCall><methodName>{method}</methodName><params>");
    for p in params {
        body.push_str("<param>");
        encode(p, &mut body);
        body.push_str("</param>");
    }
    body.push_str("</params></methodCall>");
    // SCGI: a netstring of NUL-separated headers (CONTENT_LENGTH first), then the body.
    let headers = format!(
        "CONTENT_LENGTH\0{}\0SCGI\01\0REQUEST_METHOD\0POST\0",
        body.len()
    );
    let request = format!("{}:{headers},{body}", headers.len());

    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .map_err(|e| KitError::io(ctx("connect"), e))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| KitError::io(ctx("socket options"), e))?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| KitError::io(ctx("send"), e))?;
    // rtorrent closes the connection after each reply.
    let mut raw = Vec::new();
    stream
        .take(MAX_REPLY + 1)
        .read_to_end(&mut raw)
        .map_err(|e| KitError::io(ctx("receive"), e))?;
    let protocol = |detail: String| KitError::Protocol { client, detail };
    if raw.len() as u64 > MAX_REPLY {
        return Err(protocol(ctx("reply too large")));
    }
    let text = String::from_utf8_lossy(&raw);
    let xml = text
        .split_once("\r\n\r\n")
        .map(|(_, xml)| xml)
        .ok_or_else(|| protocol(ctx("no end of SCGI headers")))?;
    match parse_response(xml).map_err(|e| protocol(ctx(&e)))? {
        Ok(v) => Ok(v),
        Err(fault) => Err(KitError::Rejected {
            client,
            detail: format!("{method}: {fault}"),
        }),
    }
}

fn encode(v: &XmlValue, out: &mut String) {
    out.push_str("<value>");
    match v {
        XmlValue::Int(i) => out.push_str(&format!("<i8>{i}</i8>")),
        XmlValue::Str(s) => {
            out.push_str("<string>");
            out.push_str(&escape(s));
            out.push_str("</string>");
        }
        XmlValue::Bytes(b) => {
            out.push_str("<base64>");
            out.push_str(&BASE64.encode(b));
            out.push_str("</base64>");
        }
        XmlValue::Array(items) => {
            out.push_str("<array><data>");
            for item in items {
                encode(item, out);
            }
            out.push_str("</data></array>");
        }
        XmlValue::Struct(members) => {
            out.push_str("<struct>");
            for (name, value) in members {
                out.push_str(&format!("<member><name>{}</name>", escape(name)));
                encode(value, out);
                out.push_str("</member>");
            }
            out.push_str("</struct>");
        }
    }
    out.push_str("</value>");
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// `Ok(Ok(value))` for a result, `Ok(Err(text))` for a fault, `Err` for unparsable XML.
fn parse_response(xml: &str) -> Result<Result<XmlValue, String>, String> {
    let mut p = Parser { rest: xml };
    p.skip_declaration();
    p.expect("<methodResponse>")?;
    if p.eat("<fault>") {
        let v = p.value(0)?;
        let code = v
            .member("faultCode")
            .and_then(XmlValue::as_int)
            .unwrap_or(0);
        let text = v
            .member("faultString")
            .and_then(XmlValue::as_str)
            .unwrap_or("");
        return Ok(Err(format!("fault {code}: {text}")));
    }
    p.expect("<params>")?;
    p.expect("<param>")?;
    Ok(Ok(p.value(0)?))
}

struct Parser<'a> {
    rest: &'a str,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        self.rest = self.rest.trim_start();
    }
    fn skip_declaration(&mut self) {
        self.skip_ws();
        if self.rest.starts_with("<?") {
            if let Some(end) = self.rest.find("?>") {
                self.rest = &self.rest[end + 2..];
            }
        }
    }
    fn eat(&mut self, tag: &str) -> bool {
        self.skip_ws();
        match self.rest.strip_prefix(tag) {
            Some(r) => {
                self.rest = r;
                true
            }
            None => false,
        }
    }
    fn expect(&mut self, tag: &str) -> Result<(), String> {
        if self.eat(tag) {
            Ok(())
        } else {
            Err(format!(
                "expected {tag} at {:?}",
                self.rest.chars().take(40).collect::<String>()
            ))
        }
    }
    /// Text up to the next `<`, unescaped.
    fn text(&mut self) -> String {
        let end = self.rest.find('<').unwrap_or(self.rest.len());
        let t = unescape(&self.rest[..end]);
        self.rest = &self.rest[end..];
        t
    }

    fn value(&mut self, depth: usize) -> Result<XmlValue, String> {
        if depth > MAX_DEPTH {
            return Err("values nested too deeply".into());
        }
        self.expect("<value>")?;
        // An untyped value is a string; keep its leading whitespace.
        if !self.rest.trim_start().starts_with('<')
            || self.rest.trim_start().starts_with("</value>")
        {
            let s = self.text();
            self.expect("</value>")?;
            return Ok(XmlValue::Str(s));
        }
        let v = if self.eat("<string/>") {
            XmlValue::Str(String::new())
        } else if self.eat("<string>") {
            let s = self.text();
            self.expect("</string>")?;
            XmlValue::Str(s)
        } else if let Some(tag) = ["i4", "i8", "int", "boolean"]
            .into_iter()
            .find(|t| self.eat(&format!("<{t}>")))
        {
            let t = self.text();
            self.expect(&format!("</{tag}>"))?;
            XmlValue::Int(t.trim().parse().map_err(|_| format!("bad integer {t:?}"))?)
        } else if self.eat("<array>") {
            let mut items = Vec::new();
            if !self.eat("<data/>") {
                self.expect("<data>")?;
                while !self.eat("</data>") {
                    items.push(self.value(depth + 1)?);
                }
            }
            self.expect("</array>")?;
            XmlValue::Array(items)
        } else if self.eat("<struct>") {
            let mut members = Vec::new();
            while !self.eat("</struct>") {
                self.expect("<member>")?;
                self.expect("<name>")?;
                let name = self.text();
                self.expect("</name>")?;
                members.push((name, self.value(depth + 1)?));
                self.expect("</member>")?;
            }
            XmlValue::Struct(members)
        } else {
            return Err(format!(
                "unsupported value at {:?}",
                self.rest.chars().take(40).collect::<String>()
            ));
        };
        self.expect("</value>")?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_results_and_faults() {
        let ok = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<methodResponse>\r\n<params>\r\n\
                  <param><value><array><data>\r\n<value><string>A&amp;B</string></value>\r\n\
                  <value><i8>-5</i8></value><value>raw</value><value><string/></value>\
                  <value><array><data/></array></value></data></array></value></param>\r\n\
                  </params>\r\n</methodResponse>";
        let v = parse_response(ok).unwrap().unwrap();
        assert_eq!(
            v,
            XmlValue::Array(vec![
                XmlValue::Str("A&B".into()),
                XmlValue::Int(-5),
                XmlValue::Str("raw".into()),
                XmlValue::Str(String::new()),
                XmlValue::Array(vec![]),
            ])
        );
        let fault = "<?xml version=\"1.0\"?><methodResponse><fault><value><struct>\
                     <member><name>faultCode</name><value><i4>-501</i4></value></member>\
                     <member><name>faultString</name><value><string>Could not find info-hash.</string></value></member>\
                     </struct></value></fault></methodResponse>";
        assert_eq!(
            parse_response(fault).unwrap().unwrap_err(),
            "fault -501: Could not find info-hash."
        );
        assert!(parse_response("<methodResponse><params><param><value><double>1").is_err());
        assert!(parse_response("garbage").is_err());
    }

    #[test]
    fn encodes_every_type() {
        let mut out = String::new();
        encode(
            &XmlValue::Array(vec![
                XmlValue::Int(1),
                XmlValue::Str("<&>".into()),
                XmlValue::Bytes(b"hi".to_vec()),
                XmlValue::Struct(vec![("k".into(), XmlValue::Int(2))]),
            ]),
            &mut out,
        );
        assert_eq!(
            out,
            "<value><array><data><value><i8>1</i8></value><value><string>&lt;&amp;&gt;</string></value>\
             <value><base64>aGk=</base64></value><value><struct><member><name>k</name><value><i8>2</i8>\
             </value></member></struct></value></data></array></value>"
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut xml = String::from("<methodResponse><params><param>");
        for _ in 0..100 {
            xml.push_str("<value><array><data>");
        }
        assert!(parse_response(&xml).unwrap_err().contains("deeply"));
    }
}
