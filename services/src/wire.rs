//! The service messages on the wire (zlink-spec §5.0–5.1), sans-IO: frames in, typed message
//! out, and back.
//!
//! Layouts are zlink's, including its integers: each is one frame of exactly its size, in
//! little-endian byte order (zlink copies host integers, which is little-endian on every
//! platform it runs on). Strings are raw bytes without a terminator; ringlink requires UTF-8
//! for service names and endpoints and treats anything else as malformed.
//!
//! A peer's counts are never trusted for allocation: a SERVICE_LIST is decoded by walking the
//! frames that actually arrived, and a count that claims more than they hold is an error.

#![forbid(unsafe_code)]

use std::fmt;

/// Message ids (the first frame, `u16`).
pub mod id {
    /// Receiver → registry: register a provider.
    pub const REGISTER: u16 = 0x0001;
    /// Registry → receiver: the answer to REGISTER and UPDATE_WEIGHT.
    pub const REGISTER_ACK: u16 = 0x0002;
    /// Receiver → registry: remove a provider (no answer).
    pub const UNREGISTER: u16 = 0x0003;
    /// Receiver → registry: the provider is alive (no answer).
    pub const HEARTBEAT: u16 = 0x0004;
    /// Registry → discoveries and peer registries: the full list.
    pub const SERVICE_LIST: u16 = 0x0005;
    /// Registry ↔ registry: accepted like SERVICE_LIST, never sent (zlink's behaviour).
    pub const REGISTRY_SYNC: u16 = 0x0006;
    /// Receiver → registry: change a provider's weight.
    pub const UPDATE_WEIGHT: u16 = 0x0007;
}

/// What kind of service a provider offers (zlink's `ZLINK_SERVICE_TYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceType {
    /// Request handlers behind a gateway (receivers).
    Gateway,
    /// SPOT topic-mesh nodes.
    Spot,
}

impl ServiceType {
    /// The wire value.
    pub fn code(self) -> u16 {
        match self {
            ServiceType::Gateway => 1,
            ServiceType::Spot => 2,
        }
    }

    /// The type with this wire value, if any.
    pub fn from_code(code: u16) -> Option<ServiceType> {
        match code {
            1 => Some(ServiceType::Gateway),
            2 => Some(ServiceType::Spot),
            _ => None,
        }
    }
}

/// REGISTER_ACK status codes.
pub mod status {
    /// Accepted.
    pub const OK: u8 = 0x00;
    /// UPDATE_WEIGHT: no such provider, or another registry owns it.
    pub const NOT_FOUND: u8 = 0x01;
    /// Empty service name or endpoint.
    pub const EMPTY: u8 = 0x02;
    /// The registry holds as many providers as it accepts (a ringlink extension: zlink's
    /// receivers treat any non-zero status as a refusal).
    pub const FULL: u8 = 0x03;
    /// Too few frames, a bad integer frame or an unknown service type.
    pub const MALFORMED: u8 = 0xFF;
}

/// One provider of a service: where to connect and the routing id to connect with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// The endpoint it advertised (`tcp://host:port`, ...).
    pub endpoint: String,
    /// Its ROUTER's routing id (a gateway connects with it as CONNECT_ROUTING_ID).
    pub routing_id: Vec<u8>,
    /// Its share in weighted selection (≥ 1).
    pub weight: u32,
}

/// One service of a SERVICE_LIST with its providers (ordered by endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    /// The service type.
    pub service_type: ServiceType,
    /// The service name.
    pub name: String,
    /// Its providers.
    pub providers: Vec<Provider>,
}

/// A registry's full view, as published (services ordered by type, then name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceList {
    /// The publishing registry.
    pub registry_id: u32,
    /// Grows with every change of that registry's view.
    pub list_seq: u64,
    /// The services.
    pub services: Vec<ServiceEntry>,
}

/// A service message (the sender's routing id, which a ROUTER sees first, is not part of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Register (or re-register) a provider; weight 0 or absent means 1.
    Register {
        /// The service type.
        service_type: ServiceType,
        /// The service name.
        name: String,
        /// The endpoint gateways connect to.
        endpoint: String,
        /// The weight (≥ 1 after decoding).
        weight: u32,
    },
    /// The registry's answer to REGISTER and UPDATE_WEIGHT.
    RegisterAck {
        /// One of [`status`].
        status: u8,
        /// The endpoint the request named.
        endpoint: String,
        /// Why it was refused (empty when accepted).
        error: String,
    },
    /// Remove a provider.
    Unregister {
        /// The service type.
        service_type: ServiceType,
        /// The service name.
        name: String,
        /// The provider's endpoint.
        endpoint: String,
    },
    /// The provider is alive.
    Heartbeat {
        /// The service type.
        service_type: ServiceType,
        /// The service name.
        name: String,
        /// The provider's endpoint.
        endpoint: String,
    },
    /// Change a provider's weight.
    UpdateWeight {
        /// The service type.
        service_type: ServiceType,
        /// The service name.
        name: String,
        /// The provider's endpoint.
        endpoint: String,
        /// The new weight (≥ 1 after decoding).
        weight: u32,
    },
    /// A registry's full list (SERVICE_LIST, or REGISTRY_SYNC from a peer).
    ServiceList(ServiceList),
}

/// Why frames are not a valid service message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// No frames, or fewer than the message needs.
    TooFewFrames,
    /// More frames than the message has.
    TrailingFrames,
    /// An integer frame of the wrong size.
    BadInteger,
    /// An unknown service type.
    BadServiceType(u16),
    /// A name or endpoint that is not UTF-8.
    NotUtf8,
    /// A message id this codec does not know.
    UnknownId(u16),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooFewFrames => f.write_str("too few frames"),
            DecodeError::TrailingFrames => f.write_str("frames after the end of the message"),
            DecodeError::BadInteger => f.write_str("an integer frame of the wrong size"),
            DecodeError::BadServiceType(t) => write!(f, "unknown service type {t}"),
            DecodeError::NotUtf8 => f.write_str("a name or endpoint that is not UTF-8"),
            DecodeError::UnknownId(id) => write!(f, "unknown message id {id:#06x}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Reads frames in order.
struct Frames<'a, T> {
    frames: &'a [T],
    at: usize,
}

impl<'a, T: AsRef<[u8]>> Frames<'a, T> {
    fn next(&mut self) -> Result<&'a [u8], DecodeError> {
        let f = self.frames.get(self.at).ok_or(DecodeError::TooFewFrames)?;
        self.at += 1;
        Ok(f.as_ref())
    }

    fn remaining(&self) -> usize {
        self.frames.len() - self.at
    }

    fn int<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        self.next()?.try_into().map_err(|_| DecodeError::BadInteger)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.int::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.int()?))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.int()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.int()?))
    }

    fn text(&mut self) -> Result<String, DecodeError> {
        String::from_utf8(self.next()?.to_vec()).map_err(|_| DecodeError::NotUtf8)
    }

    fn service_type(&mut self) -> Result<ServiceType, DecodeError> {
        let t = self.u16()?;
        ServiceType::from_code(t).ok_or(DecodeError::BadServiceType(t))
    }

    fn end(&self) -> Result<(), DecodeError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(DecodeError::TrailingFrames)
        }
    }
}

/// A weight frame: 0 means 1 (zlink's rule).
fn weight(w: u32) -> u32 {
    w.max(1)
}

impl Message {
    /// Decode a message from its frames (without the ROUTER's routing-id frame).
    pub fn decode<T: AsRef<[u8]>>(frames: &[T]) -> Result<Message, DecodeError> {
        let mut r = Frames { frames, at: 0 };
        let msg = match r.u16()? {
            id::REGISTER => {
                let (service_type, name, endpoint) = (r.service_type()?, r.text()?, r.text()?);
                // The weight is optional.
                let w = if r.remaining() > 0 { r.u32()? } else { 1 };
                Message::Register {
                    service_type,
                    name,
                    endpoint,
                    weight: weight(w),
                }
            }
            id::REGISTER_ACK => Message::RegisterAck {
                status: r.u8()?,
                endpoint: r.text()?,
                error: r.text()?,
            },
            id::UNREGISTER => Message::Unregister {
                service_type: r.service_type()?,
                name: r.text()?,
                endpoint: r.text()?,
            },
            id::HEARTBEAT => Message::Heartbeat {
                service_type: r.service_type()?,
                name: r.text()?,
                endpoint: r.text()?,
            },
            id::UPDATE_WEIGHT => Message::UpdateWeight {
                service_type: r.service_type()?,
                name: r.text()?,
                endpoint: r.text()?,
                weight: weight(r.u32()?),
            },
            id::SERVICE_LIST | id::REGISTRY_SYNC => Message::ServiceList(decode_list(&mut r)?),
            other => return Err(DecodeError::UnknownId(other)),
        };
        r.end()?;
        Ok(msg)
    }

    /// The message's frames.
    pub fn encode(&self) -> Vec<Vec<u8>> {
        let le16 = |v: u16| v.to_le_bytes().to_vec();
        let le32 = |v: u32| v.to_le_bytes().to_vec();
        let text = |s: &str| s.as_bytes().to_vec();
        match self {
            Message::Register {
                service_type,
                name,
                endpoint,
                weight,
            } => vec![
                le16(id::REGISTER),
                le16(service_type.code()),
                text(name),
                text(endpoint),
                le32(*weight),
            ],
            Message::RegisterAck {
                status,
                endpoint,
                error,
            } => vec![
                le16(id::REGISTER_ACK),
                vec![*status],
                text(endpoint),
                text(error),
            ],
            Message::Unregister {
                service_type,
                name,
                endpoint,
            } => vec![
                le16(id::UNREGISTER),
                le16(service_type.code()),
                text(name),
                text(endpoint),
            ],
            Message::Heartbeat {
                service_type,
                name,
                endpoint,
            } => vec![
                le16(id::HEARTBEAT),
                le16(service_type.code()),
                text(name),
                text(endpoint),
            ],
            Message::UpdateWeight {
                service_type,
                name,
                endpoint,
                weight,
            } => vec![
                le16(id::UPDATE_WEIGHT),
                le16(service_type.code()),
                text(name),
                text(endpoint),
                le32(*weight),
            ],
            Message::ServiceList(list) => encode_list(list),
        }
    }
}

fn decode_list<T: AsRef<[u8]>>(r: &mut Frames<'_, T>) -> Result<ServiceList, DecodeError> {
    let registry_id = r.u32()?;
    let list_seq = r.u64()?;
    let count = r.u32()?;
    // Each service takes at least 3 frames: a count beyond what arrived is a lie.
    if u64::from(count) * 3 > r.remaining() as u64 {
        return Err(DecodeError::TooFewFrames);
    }
    let mut services = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let service_type = r.service_type()?;
        let name = r.text()?;
        let n = r.u32()?;
        if u64::from(n) * 3 > r.remaining() as u64 {
            return Err(DecodeError::TooFewFrames);
        }
        let mut providers = Vec::with_capacity(n as usize);
        for _ in 0..n {
            providers.push(Provider {
                endpoint: r.text()?,
                routing_id: r.next()?.to_vec(),
                weight: weight(r.u32()?),
            });
        }
        services.push(ServiceEntry {
            service_type,
            name,
            providers,
        });
    }
    Ok(ServiceList {
        registry_id,
        list_seq,
        services,
    })
}

fn encode_list(list: &ServiceList) -> Vec<Vec<u8>> {
    let mut f = vec![
        id::SERVICE_LIST.to_le_bytes().to_vec(),
        list.registry_id.to_le_bytes().to_vec(),
        list.list_seq.to_le_bytes().to_vec(),
        u32::try_from(list.services.len())
            .expect("service count fits u32")
            .to_le_bytes()
            .to_vec(),
    ];
    for s in &list.services {
        f.push(s.service_type.code().to_le_bytes().to_vec());
        f.push(s.name.as_bytes().to_vec());
        f.push(
            u32::try_from(s.providers.len())
                .expect("provider count fits u32")
                .to_le_bytes()
                .to_vec(),
        );
        for p in &s.providers {
            f.push(p.endpoint.as_bytes().to_vec());
            f.push(p.routing_id.clone());
            f.push(p.weight.to_le_bytes().to_vec());
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_list() -> ServiceList {
        ServiceList {
            registry_id: 7,
            list_seq: 42,
            services: vec![ServiceEntry {
                service_type: ServiceType::Gateway,
                name: "echo".into(),
                providers: vec![
                    Provider {
                        endpoint: "tcp://127.0.0.1:5555".into(),
                        routing_id: b"svc-1".to_vec(),
                        weight: 1,
                    },
                    Provider {
                        endpoint: "tcp://127.0.0.1:5556".into(),
                        routing_id: vec![0, 1, 2, 3, 4],
                        weight: 3,
                    },
                ],
            }],
        }
    }

    #[test]
    fn every_message_round_trips() {
        let msgs = [
            Message::Register {
                service_type: ServiceType::Spot,
                name: "spot-node".into(),
                endpoint: "tcp://h:1".into(),
                weight: 2,
            },
            Message::RegisterAck {
                status: status::EMPTY,
                endpoint: "tcp://h:1".into(),
                error: "empty name".into(),
            },
            Message::Unregister {
                service_type: ServiceType::Gateway,
                name: "a".into(),
                endpoint: "e".into(),
            },
            Message::Heartbeat {
                service_type: ServiceType::Gateway,
                name: "a".into(),
                endpoint: "e".into(),
            },
            Message::UpdateWeight {
                service_type: ServiceType::Gateway,
                name: "a".into(),
                endpoint: "e".into(),
                weight: 9,
            },
            Message::ServiceList(sample_list()),
            Message::ServiceList(ServiceList {
                registry_id: 1,
                list_seq: 0,
                services: vec![],
            }),
        ];
        for m in msgs {
            assert_eq!(Message::decode(&m.encode()), Ok(m.clone()), "{m:?}");
        }
    }

    #[test]
    fn layout_is_zlinks_little_endian_frames() {
        let f = Message::Register {
            service_type: ServiceType::Gateway,
            name: "svc".into(),
            endpoint: "tcp://127.0.0.1:5555".into(),
            weight: 1,
        }
        .encode();
        assert_eq!(f[0], [0x01, 0x00]);
        assert_eq!(f[1], [0x01, 0x00]);
        assert_eq!(f[2], b"svc");
        assert_eq!(f[4], [1, 0, 0, 0]);
        let l = Message::ServiceList(sample_list()).encode();
        assert_eq!(l[0], [0x05, 0x00]);
        assert_eq!(l[1], [7, 0, 0, 0]);
        assert_eq!(l[2], [42, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(l[3], [1, 0, 0, 0]);
        assert_eq!(l.len(), 4 + 3 + 2 * 3);
    }

    #[test]
    fn register_weight_is_optional_and_zero_means_one() {
        let mut f = Message::Register {
            service_type: ServiceType::Gateway,
            name: "s".into(),
            endpoint: "e".into(),
            weight: 5,
        }
        .encode();
        f[4] = 0u32.to_le_bytes().to_vec();
        assert!(matches!(
            Message::decode(&f),
            Ok(Message::Register { weight: 1, .. })
        ));
        f.pop();
        assert!(matches!(
            Message::decode(&f),
            Ok(Message::Register { weight: 1, .. })
        ));
    }

    #[test]
    fn hostile_frames_are_rejected_without_allocating_from_counts() {
        let empty: [&[u8]; 0] = [];
        assert_eq!(Message::decode(&empty), Err(DecodeError::TooFewFrames));
        assert_eq!(
            Message::decode(&[&[1u8][..]]),
            Err(DecodeError::BadInteger),
            "a one-byte id"
        );
        assert_eq!(
            Message::decode(&[&[9u8, 0][..]]),
            Err(DecodeError::UnknownId(9))
        );
        let bad_type: [&[u8]; 4] = [&[4, 0], &[3, 0], b"n", b"e"];
        assert_eq!(
            Message::decode(&bad_type),
            Err(DecodeError::BadServiceType(3))
        );
        let not_utf8: [&[u8]; 4] = [&[4, 0], &[1, 0], &[0xff], b"e"];
        assert_eq!(Message::decode(&not_utf8), Err(DecodeError::NotUtf8));
        // A list claiming 4 billion services in four frames.
        let mut l = Message::ServiceList(sample_list()).encode();
        l[3] = u32::MAX.to_le_bytes().to_vec();
        assert_eq!(Message::decode(&l), Err(DecodeError::TooFewFrames));
        // ... or a service claiming more providers than frames.
        let mut l = Message::ServiceList(sample_list()).encode();
        l[6] = 1_000_000u32.to_le_bytes().to_vec();
        assert_eq!(Message::decode(&l), Err(DecodeError::TooFewFrames));
        let mut l = Message::ServiceList(sample_list()).encode();
        l.push(b"extra".to_vec());
        assert_eq!(Message::decode(&l), Err(DecodeError::TrailingFrames));
        // Every truncation of a valid list fails cleanly.
        let l = Message::ServiceList(sample_list()).encode();
        for n in 0..l.len() {
            assert!(Message::decode(&l[..n]).is_err(), "{n} frames");
        }
    }
}
