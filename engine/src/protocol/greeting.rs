//! The 64-byte ZMTP 3.x greeting: signature, version, mechanism, as-server.
//!
//! We always send ZMTP 3.1 with the NULL mechanism, laid out byte-for-byte as
//! libzmq 4.3 does (including the `0x01` in byte 8, which a ZMTP 1.0 peer reads
//! as an empty identity). Parsing is as lenient as libzmq: padding bytes 1..=8
//! are ignored and only the low bit of byte 9 is checked.

use super::ProtocolError;

/// Length of a complete greeting.
pub const GREETING_LEN: usize = 64;
/// Length of the signature prefix (bytes 0..10).
pub const SIGNATURE_LEN: usize = 10;
/// Offset of the major version byte.
pub const MAJOR_OFFSET: usize = 10;
/// Offset of the minor version byte.
pub const MINOR_OFFSET: usize = 11;
/// Offset of the 20-byte, NUL-padded mechanism name.
pub const MECHANISM_OFFSET: usize = 12;
/// Length of the mechanism field.
pub const MECHANISM_LEN: usize = 20;
/// Offset of the as-server flag.
pub const AS_SERVER_OFFSET: usize = 32;

/// The mechanism field for NULL: the name padded with NULs to 20 bytes.
const NULL_MECHANISM: [u8; MECHANISM_LEN] = {
    let mut m = [0u8; MECHANISM_LEN];
    m[0] = b'N';
    m[1] = b'U';
    m[2] = b'L';
    m[3] = b'L';
    m
};

/// Our greeting: NULL mechanism, ZMTP 3.1, as-server = 0.
pub fn greeting() -> [u8; GREETING_LEN] {
    let mut g = [0u8; GREETING_LEN];
    g[0] = 0xFF;
    g[8] = 0x01;
    g[9] = 0x7F;
    g[MAJOR_OFFSET] = 3;
    g[MINOR_OFFSET] = 1;
    g[MECHANISM_OFFSET..MECHANISM_OFFSET + MECHANISM_LEN].copy_from_slice(&NULL_MECHANISM);
    g[AS_SERVER_OFFSET] = 0;
    g
}

/// What we learned from the peer's greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerGreeting {
    /// Major version (>= 3 once validated).
    pub major: u8,
    /// Minor version (0 = ZMTP 3.0, 1 = ZMTP 3.1).
    pub minor: u8,
}

impl PeerGreeting {
    /// The peer speaks ZMTP 3.1 or later (subscription and heartbeat commands).
    pub fn is_v31(&self) -> bool {
        self.major > 3 || self.minor >= 1
    }
}

/// Validate the first 10 (signature) bytes early, so garbage is rejected
/// before 64 bytes arrive. `prefix` may hold any number of bytes; only the
/// signature part that is present is checked.
pub fn check_signature(prefix: &[u8]) -> Result<(), ProtocolError> {
    if prefix.first().is_some_and(|&b| b != 0xFF) {
        return Err(ProtocolError::BadSignature);
    }
    if prefix.get(SIGNATURE_LEN - 1).is_some_and(|&b| b & 1 == 0) {
        return Err(ProtocolError::BadSignature);
    }
    Ok(())
}

/// Validate the major version if `prefix` already reaches it, so pre-3.0
/// peers are rejected without waiting for a full greeting they may never send.
pub fn check_version(prefix: &[u8]) -> Result<(), ProtocolError> {
    match prefix.get(MAJOR_OFFSET) {
        Some(&major) if major < 3 => Err(ProtocolError::UnsupportedVersion(major)),
        _ => Ok(()),
    }
}

/// Validate a complete 64-byte greeting.
pub fn parse_greeting(buf: &[u8; GREETING_LEN]) -> Result<PeerGreeting, ProtocolError> {
    check_signature(&buf[..SIGNATURE_LEN])?;
    check_version(buf)?;
    if buf[MECHANISM_OFFSET..MECHANISM_OFFSET + MECHANISM_LEN] != NULL_MECHANISM {
        return Err(ProtocolError::MechanismMismatch);
    }
    Ok(PeerGreeting {
        major: buf[MAJOR_OFFSET],
        minor: buf[MINOR_OFFSET],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_bytes_exact() {
        let mut expected = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x7F, 0x03, 0x01];
        expected.extend_from_slice(b"NULL");
        expected.extend_from_slice(&[0; 16]);
        expected.push(0); // as-server
        expected.extend_from_slice(&[0; 31]);
        assert_eq!(expected.len(), GREETING_LEN);
        assert_eq!(greeting().as_slice(), expected.as_slice());
    }

    #[test]
    fn own_greeting_parses() {
        let g = parse_greeting(&greeting()).unwrap();
        assert_eq!(g, PeerGreeting { major: 3, minor: 1 });
        assert!(g.is_v31());
    }

    #[test]
    fn lenient_padding_and_zmtp30() {
        let mut g = greeting();
        g[1..9].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        g[9] = 0x01;
        g[MINOR_OFFSET] = 0;
        g[AS_SERVER_OFFSET] = 1;
        g[40] = 0xEE; // filler is ignored
        let p = parse_greeting(&g).unwrap();
        assert_eq!(p, PeerGreeting { major: 3, minor: 0 });
        assert!(!p.is_v31());
        assert!(PeerGreeting { major: 4, minor: 0 }.is_v31());
    }

    #[test]
    fn bad_signature() {
        let mut g = greeting();
        g[0] = 0xFE;
        assert_eq!(parse_greeting(&g), Err(ProtocolError::BadSignature));
        assert_eq!(check_signature(&g[..1]), Err(ProtocolError::BadSignature));
        let mut g = greeting();
        g[9] = 0x7E;
        assert_eq!(parse_greeting(&g), Err(ProtocolError::BadSignature));
        assert_eq!(check_signature(&g[..9]), Ok(()));
        assert_eq!(check_signature(&g[..10]), Err(ProtocolError::BadSignature));
        assert_eq!(check_signature(&[]), Ok(()));
    }

    #[test]
    fn old_versions_rejected() {
        for major in [0u8, 1, 2] {
            let mut g = greeting();
            g[MAJOR_OFFSET] = major;
            assert_eq!(
                parse_greeting(&g),
                Err(ProtocolError::UnsupportedVersion(major))
            );
            assert_eq!(
                check_version(&g[..11]),
                Err(ProtocolError::UnsupportedVersion(major))
            );
            assert_eq!(check_version(&g[..10]), Ok(()));
        }
    }

    #[test]
    fn other_mechanisms_rejected() {
        for mech in [&b"PLAIN"[..], b"CURVE", b"NUL", b"NULLX", b"null"] {
            let mut g = greeting();
            g[MECHANISM_OFFSET..MECHANISM_OFFSET + MECHANISM_LEN].fill(0);
            g[MECHANISM_OFFSET..MECHANISM_OFFSET + mech.len()].copy_from_slice(mech);
            assert_eq!(parse_greeting(&g), Err(ProtocolError::MechanismMismatch));
        }
        // Garbage after the NUL padding also counts as a different mechanism.
        let mut g = greeting();
        g[MECHANISM_OFFSET + 19] = b'X';
        assert_eq!(parse_greeting(&g), Err(ProtocolError::MechanismMismatch));
    }
}
