//! Framing of the PostgreSQL wire protocol, hardened against hostile input.
//!
//! pgwire's message decoders read fields straight from the connection buffer and would read
//! past a malformed message into the next one (or panic on a short one). So framing happens
//! here first: the length prefix is checked (at least 4, at most the configured maximum,
//! 64 MiB by default) before any byte of the body is buffered for it, each message is split off
//! into its own buffer, and only that buffer is handed to pgwire's decoder, under
//! `catch_unwind` so a decoder panic on garbage becomes a protocol error that closes this one
//! connection. Startup-phase packets (SSLRequest, GSSENCRequest, CancelRequest, StartupMessage)
//! are parsed here directly: they are tiny and fixed.

use bytes::{Buf, BufMut, BytesMut};
use pgwire::messages::{
    DecodeContext, PgWireBackendMessage, PgWireFrontendMessage, ProtocolVersion,
};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Default maximum size of one frontend message.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 << 20;

/// PostgreSQL's limit on a startup packet.
const MAX_STARTUP_PACKET: usize = 10_000;

const SSL_REQUEST_CODE: u32 = 80_877_103;
const GSSENC_REQUEST_CODE: u32 = 80_877_104;
const CANCEL_REQUEST_CODE: u32 = 80_877_102;

/// A protocol violation: the connection is closed after reporting it (SQLSTATE 08P01).
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolError(pub String);

/// A packet of the startup phase.
#[derive(Debug, Clone, PartialEq)]
pub enum StartupPacket {
    /// SSLRequest: answered 'N' (no TLS in insecure mode).
    SslRequest,
    /// GSSENCRequest: answered 'N'.
    GssEncRequest,
    /// CancelRequest for backend `pid` with `secret`.
    Cancel { pid: i32, secret: i32 },
    /// StartupMessage.
    Startup {
        major: u16,
        minor: u16,
        params: BTreeMap<String, String>,
    },
}

/// Decodes the startup-phase packet at the front of `buf`, if complete.
pub fn decode_startup(buf: &mut BytesMut) -> Result<Option<StartupPacket>, ProtocolError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if !(8..=MAX_STARTUP_PACKET).contains(&len) {
        return Err(ProtocolError(format!(
            "invalid length of startup packet: {len}"
        )));
    }
    if buf.len() < len {
        buf.reserve(len - buf.len());
        return Ok(None);
    }
    let mut frame = buf.split_to(len);
    frame.advance(4);
    let code = frame.get_u32();
    match code {
        SSL_REQUEST_CODE => Ok(Some(StartupPacket::SslRequest)),
        GSSENC_REQUEST_CODE => Ok(Some(StartupPacket::GssEncRequest)),
        CANCEL_REQUEST_CODE => {
            if frame.remaining() < 8 {
                return Err(ProtocolError("invalid cancel request packet".into()));
            }
            let pid = frame.get_i32();
            let secret = frame.get_i32();
            Ok(Some(StartupPacket::Cancel { pid, secret }))
        }
        version => {
            let major = (version >> 16) as u16;
            let minor = (version & 0xffff) as u16;
            if major != 3 {
                return Err(ProtocolError(format!(
                    "unsupported frontend protocol {major}.{minor}: server supports 3.0 to 3.0"
                )));
            }
            let params = parse_startup_params(&frame)?;
            Ok(Some(StartupPacket::Startup {
                major,
                minor,
                params,
            }))
        }
    }
}

/// `name\0value\0 ... \0`.
fn parse_startup_params(body: &[u8]) -> Result<BTreeMap<String, String>, ProtocolError> {
    let mut params = BTreeMap::new();
    let mut parts = body.split(|b| *b == 0);
    loop {
        let Some(name) = parts.next() else {
            return Err(ProtocolError(
                "invalid startup packet layout: expected terminator".into(),
            ));
        };
        if name.is_empty() {
            return Ok(params);
        }
        let Some(value) = parts.next() else {
            return Err(ProtocolError(
                "invalid startup packet layout: missing value".into(),
            ));
        };
        let name = String::from_utf8(name.to_vec())
            .map_err(|_| ProtocolError("invalid UTF-8 in startup packet".into()))?;
        let value = String::from_utf8(value.to_vec())
            .map_err(|_| ProtocolError("invalid UTF-8 in startup packet".into()))?;
        params.insert(name, value);
    }
}

/// Decodes the regular message at the front of `buf`, if complete.
pub fn decode_message(
    buf: &mut BytesMut,
    max_bytes: usize,
) -> Result<Option<PgWireFrontendMessage>, ProtocolError> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let ty = buf[0];
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if len < 4 {
        return Err(ProtocolError(format!("invalid message length {len}")));
    }
    if len > max_bytes {
        return Err(ProtocolError(format!(
            "message of {len} bytes exceeds the maximum message size of {max_bytes} bytes"
        )));
    }
    if !matches!(
        ty,
        b'Q' | b'P'
            | b'B'
            | b'D'
            | b'E'
            | b'C'
            | b'H'
            | b'S'
            | b'X'
            | b'd'
            | b'c'
            | b'f'
            | b'p'
            | b'F'
    ) {
        return Err(ProtocolError(format!("invalid frontend message type {ty}")));
    }
    if buf.len() < len + 1 {
        buf.reserve(len + 1 - buf.len());
        return Ok(None);
    }
    let mut frame = buf.split_to(len + 1);
    if ty == b'F' {
        return Err(ProtocolError(
            "fastpath function calls are not supported".into(),
        ));
    }
    let mut ctx = DecodeContext::new(ProtocolVersion::PROTOCOL3_0);
    ctx.awaiting_frontend_ssl = false;
    ctx.awaiting_frontend_startup = false;
    // Pad with zero bytes so a decoder reading one field too far sees zeros of this message,
    // never the next message (the padding is discarded with the frame).
    frame.put_bytes(0, 16);
    let decoded = catch_unwind(AssertUnwindSafe(|| {
        PgWireFrontendMessage::decode(&mut frame, &ctx)
    }));
    match decoded {
        Ok(Ok(Some(msg))) => Ok(Some(msg)),
        Ok(Ok(None)) => Err(ProtocolError("truncated message".into())),
        Ok(Err(e)) => Err(ProtocolError(format!("invalid message: {e}"))),
        Err(_) => Err(ProtocolError("malformed message".into())),
    }
}

/// Appends a backend message to `out`.
pub fn encode(msg: PgWireBackendMessage, out: &mut BytesMut) -> std::io::Result<()> {
    msg.encode(out).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_packets() {
        let mut b = BytesMut::new();
        b.put_u32(8);
        b.put_u32(SSL_REQUEST_CODE);
        assert_eq!(
            decode_startup(&mut b).unwrap(),
            Some(StartupPacket::SslRequest)
        );
        let mut b = BytesMut::new();
        let body = b"user\0root\0database\0db\0\0";
        b.put_u32(8 + body.len() as u32);
        b.put_u32(196608);
        b.put_slice(body);
        match decode_startup(&mut b).unwrap() {
            Some(StartupPacket::Startup {
                major: 3,
                minor: 0,
                params,
            }) => {
                assert_eq!(params.get("user").map(String::as_str), Some("root"));
                assert_eq!(params.get("database").map(String::as_str), Some("db"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut b = BytesMut::from(&b"GET / HTTP/1.1\r\n\r\n"[..]);
        assert!(decode_startup(&mut b).is_err());
        let mut b = BytesMut::new();
        b.put_u32(12);
        b.put_u32(196608);
        b.put_slice(b"user");
        assert!(decode_startup(&mut b).is_err());
        // A Bind whose counts lie about its contents.
        let mut b = BytesMut::new();
        b.put_u8(b'B');
        b.put_u32(10);
        b.put_slice(&[0, 0, 0xff, 0xff, 0, 0]);
        let _ = decode_message(&mut b, DEFAULT_MAX_MESSAGE_BYTES);
        // Oversized and undersized lengths.
        let mut b = BytesMut::new();
        b.put_u8(b'Q');
        b.put_u32(u32::MAX);
        assert!(decode_message(&mut b, DEFAULT_MAX_MESSAGE_BYTES).is_err());
        let mut b = BytesMut::new();
        b.put_u8(b'Q');
        b.put_u32(2);
        assert!(decode_message(&mut b, DEFAULT_MAX_MESSAGE_BYTES).is_err());
    }

    #[test]
    fn query_message() {
        let mut b = BytesMut::new();
        b.put_u8(b'Q');
        b.put_u32(4 + 9);
        b.put_slice(b"SELECT 1\0");
        b.put_u8(b'S');
        match decode_message(&mut b, DEFAULT_MAX_MESSAGE_BYTES).unwrap() {
            Some(PgWireFrontendMessage::Query(q)) => assert_eq!(q.query, "SELECT 1"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(&b[..], b"S");
    }
}
