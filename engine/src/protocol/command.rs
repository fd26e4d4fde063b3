//! ZMTP command bodies: `[name-len][name][data]`, and READY's property list.
//!
//! Encoding writes straight into the caller's output buffer (header included)
//! so sending a command never needs an intermediate allocation. Parsing is
//! strict about lengths, because a truncated command means the stream is out
//! of sync, but tolerant of unknown command names (libzmq ignores them once
//! the connection is established).

use super::frame::{encode_header, write_frame, MAX_HEADER};
use super::{ProtocolError, SocketType};

/// Command names as they appear on the wire (case-sensitive, like libzmq).
pub const READY: &[u8] = b"READY";
/// See [`READY`].
pub const ERROR: &[u8] = b"ERROR";
/// See [`READY`].
pub const SUBSCRIBE: &[u8] = b"SUBSCRIBE";
/// See [`READY`].
pub const CANCEL: &[u8] = b"CANCEL";
/// See [`READY`].
pub const PING: &[u8] = b"PING";
/// See [`READY`].
pub const PONG: &[u8] = b"PONG";

/// Property carrying the sender's socket type.
pub const PROP_SOCKET_TYPE: &str = "Socket-Type";
/// Property carrying the sender's routing id.
pub const PROP_IDENTITY: &str = "Identity";
/// Longest PING context the RFC allows; longer ones are cut when PONGed.
pub const MAX_PING_CONTEXT: usize = 16;

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// NULL handshake: the sender's properties.
    Ready(Metadata),
    /// The sender rejects the connection, with a reason (at most 255 bytes).
    Error(Vec<u8>),
    /// ZMTP 3.1 subscription to a topic prefix.
    Subscribe(Vec<u8>),
    /// ZMTP 3.1 cancellation of a topic prefix.
    Cancel(Vec<u8>),
    /// Heartbeat request: TTL in deciseconds and an opaque context.
    Ping {
        /// How long the sender waits for traffic before giving up (0 = none).
        ttl_ds: u16,
        /// Echoed back in the PONG.
        context: Vec<u8>,
    },
    /// Heartbeat reply with the PING's context.
    Pong(Vec<u8>),
    /// A command we do not know; its data is dropped.
    Unknown {
        /// The command name.
        name: Vec<u8>,
    },
}

impl Command {
    /// Parse a command frame body (name-length, name, data).
    pub fn parse(body: &[u8]) -> Result<Command, ProtocolError> {
        let Some((&name_len, rest)) = body.split_first() else {
            return Err(ProtocolError::MalformedCommand("empty command"));
        };
        let name_len = usize::from(name_len);
        if name_len == 0 {
            return Err(ProtocolError::MalformedCommand("empty command name"));
        }
        if rest.len() < name_len {
            return Err(ProtocolError::MalformedCommand("truncated command name"));
        }
        let (name, data) = rest.split_at(name_len);
        Ok(match name {
            READY => Command::Ready(Metadata::parse(data)?),
            ERROR => {
                let Some((&len, reason)) = data.split_first() else {
                    return Err(ProtocolError::MalformedCommand("error without reason"));
                };
                let Some(reason) = reason.get(..usize::from(len)) else {
                    return Err(ProtocolError::MalformedCommand("truncated error reason"));
                };
                Command::Error(reason.to_vec())
            }
            SUBSCRIBE => Command::Subscribe(data.to_vec()),
            CANCEL => Command::Cancel(data.to_vec()),
            PING => {
                if data.len() < 2 {
                    return Err(ProtocolError::MalformedCommand("truncated ping"));
                }
                Command::Ping {
                    ttl_ds: u16::from_be_bytes([data[0], data[1]]),
                    context: data[2..].to_vec(),
                }
            }
            PONG => Command::Pong(data.to_vec()),
            _ => Command::Unknown {
                name: name.to_vec(),
            },
        })
    }

    /// The wire name of this command.
    pub fn name(&self) -> &[u8] {
        match self {
            Command::Ready(_) => READY,
            Command::Error(_) => ERROR,
            Command::Subscribe(_) => SUBSCRIBE,
            Command::Cancel(_) => CANCEL,
            Command::Ping { .. } => PING,
            Command::Pong(_) => PONG,
            Command::Unknown { name } => name,
        }
    }

    /// Append this command as a complete frame (header + body) to `out`.
    /// Fields longer than the wire allows (ERROR reason, unknown name: 255
    /// bytes) are truncated.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let name = self.name();
        let name = &name[..name.len().min(255)];
        let data_len = match self {
            Command::Ready(m) => m.encoded_len(),
            Command::Error(reason) => 1 + reason.len().min(255),
            Command::Subscribe(t) | Command::Cancel(t) | Command::Pong(t) => t.len(),
            Command::Ping { context, .. } => 2 + context.len(),
            Command::Unknown { .. } => 0,
        };
        let body_len = 1 + name.len() + data_len;
        let mut hdr = [0u8; MAX_HEADER];
        let n = encode_header(&mut hdr, false, true, body_len as u64);
        out.reserve(n + body_len);
        out.extend_from_slice(&hdr[..n]);
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        match self {
            Command::Ready(m) => m.encode(out),
            Command::Error(reason) => {
                let reason = &reason[..reason.len().min(255)];
                out.push(reason.len() as u8);
                out.extend_from_slice(reason);
            }
            Command::Subscribe(t) | Command::Cancel(t) | Command::Pong(t) => {
                out.extend_from_slice(t)
            }
            Command::Ping { ttl_ds, context } => {
                out.extend_from_slice(&ttl_ds.to_be_bytes());
                out.extend_from_slice(context);
            }
            Command::Unknown { .. } => {}
        }
    }

    /// This command as a standalone frame.
    pub fn to_frame(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// READY properties in wire order; lookups are case-insensitive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// `(name, value)` pairs as received or to be sent.
    pub props: Vec<(String, Vec<u8>)>,
}

impl Metadata {
    /// First value of property `name` (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.props
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The `Socket-Type` property.
    pub fn socket_type(&self) -> Option<&[u8]> {
        self.get(PROP_SOCKET_TYPE)
    }

    /// The `Identity` property (the peer's routing id).
    pub fn identity(&self) -> Option<&[u8]> {
        self.get(PROP_IDENTITY)
    }

    /// Parse a property list: `[u8 name_len][name][u32 BE len][value]...`.
    /// Names that are not UTF-8 are kept lossily (libzmq does not validate
    /// them either, and we only look up ASCII names).
    pub fn parse(data: &[u8]) -> Result<Metadata, ProtocolError> {
        let mut props = Vec::new();
        let mut rest = data;
        while let Some((&name_len, tail)) = rest.split_first() {
            let name_len = usize::from(name_len);
            if name_len == 0 || tail.len() < name_len + 4 {
                return Err(ProtocolError::MalformedMetadata);
            }
            let (name, tail) = tail.split_at(name_len);
            let (len, tail) = tail.split_at(4);
            let value_len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]);
            let value_len =
                usize::try_from(value_len).map_err(|_| ProtocolError::MalformedMetadata)?;
            if tail.len() < value_len {
                return Err(ProtocolError::MalformedMetadata);
            }
            let (value, tail) = tail.split_at(value_len);
            props.push((String::from_utf8_lossy(name).into_owned(), value.to_vec()));
            rest = tail;
        }
        Ok(Metadata { props })
    }

    /// Bytes [`Metadata::encode`] will append.
    pub fn encoded_len(&self) -> usize {
        self.props
            .iter()
            .map(|(n, v)| 1 + n.len().min(255) + 4 + v.len())
            .sum()
    }

    /// Append the property list. Names must be 1..=255 bytes (longer ones
    /// are truncated); values must fit in a u32.
    pub fn encode(&self, out: &mut Vec<u8>) {
        for (name, value) in &self.props {
            debug_assert!(!name.is_empty() && name.len() <= 255, "bad property name");
            let name = &name.as_bytes()[..name.len().min(255)];
            out.push(name.len() as u8);
            out.extend_from_slice(name);
            out.extend_from_slice(&(value.len() as u32).to_be_bytes());
            out.extend_from_slice(value);
        }
    }
}

/// The READY command a socket of type `ty` with routing id `identity` sends
/// (`Identity` only if `ty.sends_identity()`, as libzmq does).
pub fn ready_for(ty: SocketType, identity: &[u8]) -> Command {
    let mut props = vec![(
        PROP_SOCKET_TYPE.to_string(),
        ty.as_str().as_bytes().to_vec(),
    )];
    if ty.sends_identity() {
        props.push((PROP_IDENTITY.to_string(), identity.to_vec()));
    }
    Command::Ready(Metadata { props })
}

/// Append a subscription change in the form the peer understands: a
/// SUBSCRIBE/CANCEL command for ZMTP 3.1 peers, or the ZMTP 3.0 single-frame
/// data message `[0x01 | 0x00][topic]`.
pub fn encode_subscription(out: &mut Vec<u8>, subscribe: bool, topic: &[u8], peer_v31: bool) {
    if peer_v31 {
        let cmd = if subscribe {
            Command::Subscribe(topic.to_vec())
        } else {
            Command::Cancel(topic.to_vec())
        };
        cmd.encode(out);
    } else {
        let mut body = Vec::with_capacity(1 + topic.len());
        body.push(u8::from(subscribe));
        body.extend_from_slice(topic);
        write_frame(out, false, false, &body);
    }
}

/// Interpret a single-frame data message as a ZMTP 3.0 subscription
/// (`0x01` + topic = subscribe, `0x00` + topic = cancel). `None` if it is not
/// one (XPUB then passes it through as an ordinary message).
pub fn parse_legacy_subscription(body: &[u8]) -> Option<Command> {
    match body.split_first() {
        Some((1, topic)) => Some(Command::Subscribe(topic.to_vec())),
        Some((0, topic)) => Some(Command::Cancel(topic.to_vec())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame::parse_header;
    use super::*;

    /// Split an encoded command frame into its body, checking the header.
    fn body_of(frame: &[u8]) -> &[u8] {
        let h = parse_header(frame).unwrap().unwrap();
        assert!(h.is_command());
        assert!(!h.more());
        assert_eq!(h.frame_len(), frame.len() as u64);
        &frame[h.header_len..]
    }

    #[test]
    fn dealer_ready_exact_bytes() {
        let frame = ready_for(SocketType::Dealer, b"").to_frame();
        let mut expected = vec![0x04, 0x29, 0x05];
        expected.extend_from_slice(b"READY");
        expected.push(0x0B);
        expected.extend_from_slice(b"Socket-Type");
        expected.extend_from_slice(&[0, 0, 0, 6]);
        expected.extend_from_slice(b"DEALER");
        expected.push(0x08);
        expected.extend_from_slice(b"Identity");
        expected.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(frame, expected);
        assert_eq!(body_of(&frame).len(), 41);
    }

    #[test]
    fn ready_identity_only_for_routing_types() {
        let pub_ready = ready_for(SocketType::Pub, b"ignored");
        let Command::Ready(m) = &pub_ready else {
            panic!()
        };
        assert_eq!(m.props.len(), 1);
        assert_eq!(m.socket_type(), Some(&b"PUB"[..]));
        assert_eq!(m.identity(), None);
        let mut expected = vec![0x04, 0x19, 0x05];
        expected.extend_from_slice(b"READY\x0bSocket-Type\0\0\0\x03PUB");
        assert_eq!(pub_ready.to_frame(), expected);

        let Command::Ready(m) = ready_for(SocketType::Router, b"abc") else {
            panic!()
        };
        assert_eq!(m.identity(), Some(&b"abc"[..]));
        assert_eq!(m.socket_type(), Some(&b"ROUTER"[..]));
    }

    #[test]
    fn round_trip_every_variant() {
        let long_topic = vec![b't'; 300];
        let cmds = [
            ready_for(SocketType::Req, b"id"),
            Command::Ready(Metadata::default()),
            Command::Ready(Metadata {
                props: vec![
                    ("Socket-Type".into(), b"SUB".to_vec()),
                    ("X-Custom".into(), vec![0u8; 1000]),
                ],
            }),
            Command::Error(b"invalid socket type".to_vec()),
            Command::Error(Vec::new()),
            Command::Subscribe(b"topic".to_vec()),
            Command::Subscribe(Vec::new()),
            Command::Subscribe(long_topic.clone()),
            Command::Cancel(b"topic".to_vec()),
            Command::Cancel(long_topic),
            Command::Ping {
                ttl_ds: 0,
                context: Vec::new(),
            },
            Command::Ping {
                ttl_ds: 0xBEEF,
                context: b"0123456789abcdef".to_vec(),
            },
            Command::Pong(Vec::new()),
            Command::Pong(b"ctx".to_vec()),
            Command::Unknown {
                name: b"HELLO".to_vec(),
            },
        ];
        for cmd in cmds {
            let mut out = vec![0xEE];
            cmd.encode(&mut out);
            assert_eq!(out[0], 0xEE, "encode must append");
            let body = body_of(&out[1..]);
            assert_eq!(Command::parse(body).unwrap(), cmd);
        }
    }

    #[test]
    fn ping_wire_format() {
        let frame = Command::Ping {
            ttl_ds: 0x0102,
            context: b"xy".to_vec(),
        }
        .to_frame();
        assert_eq!(frame, b"\x04\x09\x04PING\x01\x02xy");
        assert_eq!(
            Command::Pong(b"xy".to_vec()).to_frame(),
            b"\x04\x07\x04PONGxy"
        );
        assert_eq!(
            Command::Error(b"bye".to_vec()).to_frame(),
            b"\x04\x0A\x05ERROR\x03bye"
        );
        assert_eq!(
            Command::Subscribe(b"ab".to_vec()).to_frame(),
            b"\x04\x0C\x09SUBSCRIBEab"
        );
    }

    #[test]
    fn unknown_commands_keep_name_drop_data() {
        assert_eq!(
            Command::parse(b"\x05HELLOdata").unwrap(),
            Command::Unknown {
                name: b"HELLO".to_vec()
            }
        );
        // Names are case-sensitive.
        assert_eq!(
            Command::parse(b"\x05ready").unwrap(),
            Command::Unknown {
                name: b"ready".to_vec()
            }
        );
    }

    #[test]
    fn malformed_commands() {
        let bad: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x05REA",
            b"\x05ERROR",
            b"\x05ERROR\x05abc",
            b"\x04PING",
            b"\x04PING\x01",
            b"\x05READY\x00",
        ];
        for body in bad {
            assert!(Command::parse(body).is_err(), "{body:?}");
        }
        assert_eq!(
            Command::parse(b"\x05READY\x00"),
            Err(ProtocolError::MalformedMetadata)
        );
    }

    #[test]
    fn metadata_parse_and_lookup() {
        let mut data = Vec::new();
        Metadata {
            props: vec![
                ("socket-TYPE".into(), b"PUSH".to_vec()),
                ("Identity".into(), Vec::new()),
                ("Socket-Type".into(), b"PULL".to_vec()),
            ],
        }
        .encode(&mut data);
        let m = Metadata::parse(&data).unwrap();
        assert_eq!(m.props.len(), 3);
        assert_eq!(m.socket_type(), Some(&b"PUSH"[..]));
        assert_eq!(m.identity(), Some(&b""[..]));
        assert_eq!(m.get("IDENTITY"), Some(&b""[..]));
        assert_eq!(m.get("missing"), None);
        assert_eq!(m.encoded_len(), data.len());
        assert_eq!(Metadata::parse(&[]).unwrap(), Metadata::default());
    }

    #[test]
    fn metadata_malformed() {
        let mut good = Vec::new();
        Metadata {
            props: vec![("Socket-Type".into(), b"PAIR".to_vec())],
        }
        .encode(&mut good);
        // Every truncation of a valid list is malformed.
        for cut in 1..good.len() {
            assert_eq!(
                Metadata::parse(&good[..cut]),
                Err(ProtocolError::MalformedMetadata),
                "cut {cut}"
            );
        }
        // Zero-length name.
        assert_eq!(
            Metadata::parse(b"\x00\x00\x00\x00\x00"),
            Err(ProtocolError::MalformedMetadata)
        );
        // Value length beyond the data.
        assert_eq!(
            Metadata::parse(b"\x01a\xff\xff\xff\xffxyz"),
            Err(ProtocolError::MalformedMetadata)
        );
        // Trailing garbage after a valid property.
        let mut trailing = good.clone();
        trailing.push(3);
        assert_eq!(
            Metadata::parse(&trailing),
            Err(ProtocolError::MalformedMetadata)
        );
    }

    #[test]
    fn subscriptions_both_forms() {
        let mut out = Vec::new();
        encode_subscription(&mut out, true, b"abc", true);
        assert_eq!(out, Command::Subscribe(b"abc".to_vec()).to_frame());
        let mut out = Vec::new();
        encode_subscription(&mut out, false, b"abc", true);
        assert_eq!(out, Command::Cancel(b"abc".to_vec()).to_frame());
        let mut out = Vec::new();
        encode_subscription(&mut out, true, b"abc", false);
        assert_eq!(out, b"\x00\x04\x01abc");
        let mut out = Vec::new();
        encode_subscription(&mut out, false, b"", false);
        assert_eq!(out, b"\x00\x01\x00");

        assert_eq!(
            parse_legacy_subscription(b"\x01abc"),
            Some(Command::Subscribe(b"abc".to_vec()))
        );
        assert_eq!(
            parse_legacy_subscription(b"\x00"),
            Some(Command::Cancel(Vec::new()))
        );
        assert_eq!(parse_legacy_subscription(b"\x02abc"), None);
        assert_eq!(parse_legacy_subscription(b""), None);
    }

    #[test]
    fn overlong_fields_truncated_on_encode() {
        let reason = vec![b'r'; 300];
        let frame = Command::Error(reason.clone()).to_frame();
        assert_eq!(
            Command::parse(body_of(&frame)).unwrap(),
            Command::Error(reason[..255].to_vec())
        );
    }
}
