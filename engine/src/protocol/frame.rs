//! ZMTP frame headers: one flags byte followed by a 1-byte (short) or 8-byte
//! big-endian (long) body size.
//!
//! The encoder picks the short form for bodies of up to 255 bytes, exactly as
//! libzmq does, so our byte streams are identical to libzmq's. The parser
//! accepts either form for any size (a long header for a small body is legal).

use super::ProtocolError;

/// Another frame of the same message follows.
pub const MORE: u8 = 0x01;
/// The size field is 8 bytes instead of 1.
pub const LONG: u8 = 0x02;
/// The frame is a command, not message data.
pub const COMMAND: u8 = 0x04;
/// Bits that must be zero in ZMTP 3.x.
pub const RESERVED: u8 = !(MORE | LONG | COMMAND);
/// Longest possible header (flags + 8-byte size).
pub const MAX_HEADER: usize = 9;
/// Largest body that uses the short (1-byte size) header.
pub const MAX_SHORT_BODY: usize = 255;
/// Largest body size the wire allows: libzmq rejects sizes with the top bit
/// set because it stores them signed.
pub const MAX_BODY: u64 = i64::MAX as u64;

/// Size of the header for a body of `len` bytes (2 or 9).
#[inline]
pub fn header_len(len: usize) -> usize {
    if len <= MAX_SHORT_BODY {
        2
    } else {
        MAX_HEADER
    }
}

/// Write the header of a data frame (`more` flag) or command frame into
/// `out`, return its length. A command never carries MORE.
#[inline]
pub fn encode_header(
    out: &mut [u8; MAX_HEADER],
    more: bool,
    command: bool,
    body_len: u64,
) -> usize {
    debug_assert!(!(more && command), "command frames cannot have MORE");
    let mut flags = 0;
    if more {
        flags |= MORE;
    }
    if command {
        flags |= COMMAND;
    }
    if body_len <= MAX_SHORT_BODY as u64 {
        out[0] = flags;
        out[1] = body_len as u8;
        2
    } else {
        out[0] = flags | LONG;
        out[1..].copy_from_slice(&body_len.to_be_bytes());
        MAX_HEADER
    }
}

/// Append a whole frame (header + body) to `out`.
pub fn write_frame(out: &mut Vec<u8>, more: bool, command: bool, body: &[u8]) {
    let mut hdr = [0u8; MAX_HEADER];
    let n = encode_header(&mut hdr, more, command, body.len() as u64);
    out.reserve(n + body.len());
    out.extend_from_slice(&hdr[..n]);
    out.extend_from_slice(body);
}

/// A parsed, validated frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The raw flags byte (reserved bits known to be zero).
    pub flags: u8,
    /// Bytes the header occupies on the wire (2 or 9).
    pub header_len: usize,
    /// Body size announced by the header.
    pub body_len: u64,
}

impl FrameHeader {
    /// Another frame of the same message follows.
    #[inline]
    pub fn more(&self) -> bool {
        self.flags & MORE != 0
    }

    /// This is a command frame.
    #[inline]
    pub fn is_command(&self) -> bool {
        self.flags & COMMAND != 0
    }

    /// Total wire size: header plus body.
    #[inline]
    pub fn frame_len(&self) -> u64 {
        self.header_len as u64 + self.body_len
    }
}

/// Validate a flags byte on its own, so garbage is rejected as soon as the
/// first byte of a frame arrives.
#[inline]
pub fn check_flags(flags: u8) -> Result<(), ProtocolError> {
    if flags & RESERVED != 0 {
        Err(ProtocolError::ReservedFlags(flags))
    } else if flags & (COMMAND | MORE) == COMMAND | MORE {
        Err(ProtocolError::CommandWithMore)
    } else {
        Ok(())
    }
}

/// Parse a frame header at the start of `buf`: `Ok(None)` if `buf` is too
/// short to hold the whole header. Errors are reported as soon as the bytes
/// that prove them are present.
#[inline]
pub fn parse_header(buf: &[u8]) -> Result<Option<FrameHeader>, ProtocolError> {
    let Some(&flags) = buf.first() else {
        return Ok(None);
    };
    check_flags(flags)?;
    if flags & LONG == 0 {
        Ok(buf.get(1).map(|&n| FrameHeader {
            flags,
            header_len: 2,
            body_len: u64::from(n),
        }))
    } else {
        let Some(size) = buf.get(1..MAX_HEADER) else {
            return Ok(None);
        };
        let body_len = read_u64(size);
        if body_len > MAX_BODY {
            return Err(ProtocolError::FrameTooLarge {
                size: body_len,
                max: MAX_BODY,
            });
        }
        Ok(Some(FrameHeader {
            flags,
            header_len: MAX_HEADER,
            body_len,
        }))
    }
}

/// Big-endian u64 from exactly 8 bytes.
#[inline]
pub(crate) fn read_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    u64::from_be_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(more: bool, command: bool, len: u64) -> Vec<u8> {
        let mut h = [0u8; MAX_HEADER];
        let n = encode_header(&mut h, more, command, len);
        h[..n].to_vec()
    }

    #[test]
    fn short_and_long_headers() {
        assert_eq!(encoded(false, false, 0), [0x00, 0x00]);
        assert_eq!(encoded(true, false, 5), [0x01, 0x05]);
        assert_eq!(encoded(false, true, 41), [0x04, 0x29]);
        assert_eq!(encoded(false, false, 255), [0x00, 0xFF]);
        assert_eq!(encoded(false, false, 256), [0x02, 0, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(
            encoded(true, false, 0x0102_0304_0506_0708),
            [0x03, 1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(encoded(false, true, 300), [0x06, 0, 0, 0, 0, 0, 0, 1, 44]);
    }

    #[test]
    fn header_len_boundary() {
        assert_eq!(header_len(0), 2);
        assert_eq!(header_len(255), 2);
        assert_eq!(header_len(256), 9);
        assert_eq!(header_len(1 << 20), 9);
    }

    #[test]
    fn write_frame_appends() {
        let mut out = vec![0xAA];
        write_frame(&mut out, true, false, b"hi");
        assert_eq!(out, [0xAA, 0x01, 0x02, b'h', b'i']);
        let body = vec![7u8; 256];
        let mut out = Vec::new();
        write_frame(&mut out, false, false, &body);
        assert_eq!(out.len(), 9 + 256);
        assert_eq!(&out[..9], &[0x02, 0, 0, 0, 0, 0, 0, 1, 0]);
    }

    #[test]
    fn parse_round_trip_at_boundaries() {
        for len in [0u64, 1, 254, 255, 256, 65_536, MAX_BODY] {
            for (more, command) in [(false, false), (true, false), (false, true)] {
                let bytes = encoded(more, command, len);
                let h = parse_header(&bytes).unwrap().unwrap();
                assert_eq!(h.body_len, len);
                assert_eq!(h.header_len, bytes.len());
                assert_eq!(h.more(), more);
                assert_eq!(h.is_command(), command);
                assert_eq!(h.frame_len(), bytes.len() as u64 + len);
                // Any strict prefix is incomplete, not an error.
                for cut in 0..bytes.len() {
                    assert_eq!(parse_header(&bytes[..cut]), Ok(None));
                }
            }
        }
    }

    #[test]
    fn long_form_small_body_is_accepted() {
        let h = parse_header(&[0x02, 0, 0, 0, 0, 0, 0, 0, 3])
            .unwrap()
            .unwrap();
        assert_eq!(h.body_len, 3);
        assert_eq!(h.header_len, 9);
    }

    #[test]
    fn reserved_flags_rejected_from_first_byte() {
        for bit in 3..8 {
            let flags = 1u8 << bit;
            assert_eq!(
                parse_header(&[flags]),
                Err(ProtocolError::ReservedFlags(flags))
            );
            assert_eq!(
                parse_header(&[flags | MORE, 0]),
                Err(ProtocolError::ReservedFlags(flags | MORE))
            );
        }
    }

    #[test]
    fn command_with_more_rejected() {
        assert_eq!(
            parse_header(&[COMMAND | MORE]),
            Err(ProtocolError::CommandWithMore)
        );
        assert_eq!(
            parse_header(&[COMMAND | MORE | LONG, 0, 0, 0, 0, 0, 0, 0, 1]),
            Err(ProtocolError::CommandWithMore)
        );
    }

    #[test]
    fn oversized_long_frame_rejected() {
        let mut bytes = [0u8; 9];
        bytes[0] = LONG;
        bytes[1..].copy_from_slice(&(MAX_BODY + 1).to_be_bytes());
        assert_eq!(
            parse_header(&bytes),
            Err(ProtocolError::FrameTooLarge {
                size: MAX_BODY + 1,
                max: MAX_BODY
            })
        );
        bytes[1..].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(parse_header(&bytes).is_err());
    }
}
