//! Bytes <-> text for the command line: `0x` hex arguments, splitting input lines into
//! frames, and printing messages (escaped text or hex, routing ids always as `0x` hex so
//! they can be pasted back as input).

#![forbid(unsafe_code)]

use std::fmt::Write as _;

/// `0x` followed by hex digits is those bytes; anything else is taken literally.
pub fn parse_bytes(s: &[u8]) -> Result<Vec<u8>, String> {
    let Some(hex) = s.strip_prefix(b"0x").or_else(|| s.strip_prefix(b"0X")) else {
        return Ok(s.to_vec());
    };
    let bad = || format!("bad hex value {:?}", String::from_utf8_lossy(s));
    if hex.is_empty() || hex.len() % 2 != 0 {
        return Err(bad());
    }
    hex.chunks(2)
        .map(|pair| {
            let digits = std::str::from_utf8(pair).map_err(|_| bad())?;
            u8::from_str_radix(digits, 16).map_err(|_| bad())
        })
        .collect()
}

/// Split `line` into frames at each occurrence of `sep` (no separator: one frame).
pub fn split_frames(line: &[u8], sep: Option<&[u8]>) -> Vec<Vec<u8>> {
    let Some(sep) = sep.filter(|s| !s.is_empty()) else {
        return vec![line.to_vec()];
    };
    let mut frames = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.windows(sep.len()).position(|w| w == sep) {
        frames.push(rest[..at].to_vec());
        rest = &rest[at + sep.len()..];
    }
    frames.push(rest.to_vec());
    frames
}

/// Lower-case hex digits of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// `bytes` as text: valid UTF-8 prints as is, except backslash and control characters
/// (`\\`, `\n`, `\r`, `\t`, `\xNN`, `\u{..}`); invalid bytes print as `\xNN`. So one
/// message stays one line and the separator (a tab by default) stays unambiguous.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                '\t' => s.push_str("\\t"),
                c if c.is_control() && (c as u32) < 0x80 => {
                    let _ = write!(s, "\\x{:02x}", c as u32);
                }
                c if c.is_control() => {
                    let _ = write!(s, "\\u{{{:x}}}", c as u32);
                }
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s
}

/// How received messages are printed.
#[derive(Debug, Clone)]
pub struct Printer {
    /// The first frame is a routing id (ROUTER, STREAM): printed as `0x` hex.
    pub routed: bool,
    /// Every frame as hex instead of escaped text.
    pub hex: bool,
    /// Between frames.
    pub separator: String,
}

impl Printer {
    /// One message as one line (with the trailing newline).
    pub fn line(&self, parts: &[Vec<u8>]) -> String {
        let mut out = String::new();
        for (i, frame) in parts.iter().enumerate() {
            if i > 0 {
                out.push_str(&self.separator);
            }
            if i == 0 && self.routed {
                out.push_str("0x");
                out.push_str(&hex(frame));
            } else if self.hex {
                out.push_str(&hex(frame));
            } else {
                out.push_str(&escape(frame));
            }
        }
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_arguments_and_literals() {
        assert_eq!(parse_bytes(b"0x00ff10").unwrap(), vec![0, 0xff, 0x10]);
        assert_eq!(parse_bytes(b"0XAb").unwrap(), vec![0xab]);
        assert_eq!(parse_bytes(b"client-1").unwrap(), b"client-1");
        assert_eq!(parse_bytes(b"").unwrap(), b"");
        for bad in [&b"0x"[..], b"0x123", b"0xzz", b"0x\xff\xff"] {
            assert!(parse_bytes(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn frames_split_at_every_separator() {
        assert_eq!(
            split_frames(b"a|b||c", Some(b"|")),
            [&b"a"[..], b"b", b"", b"c"]
        );
        assert_eq!(split_frames(b"a::b:c", Some(b"::")), [&b"a"[..], b"b:c"]);
        assert_eq!(split_frames(b"|", Some(b"|")), [&b""[..], b""]);
        assert_eq!(split_frames(b"a|b", None), [&b"a|b"[..]]);
    }

    #[test]
    fn escaping_keeps_text_and_marks_the_rest() {
        assert_eq!(escape(b"plain text"), "plain text");
        assert_eq!(escape("né ✓".as_bytes()), "né ✓");
        assert_eq!(escape(b"a\tb\nc\r\\"), "a\\tb\\nc\\r\\\\");
        assert_eq!(escape(b"\x00\x1b\x7f"), "\\x00\\x1b\\x7f");
        assert_eq!(escape(b"ok\xff\xfe"), "ok\\xff\\xfe");
        assert_eq!(escape("\u{85}".as_bytes()), "\\u{85}");
    }

    #[test]
    fn lines_show_routing_ids_in_hex() {
        let mut p = Printer {
            routed: true,
            hex: false,
            separator: "\t".into(),
        };
        let msg = vec![vec![0, 0x80, 0, 0, 1], b"hi\n".to_vec(), Vec::new()];
        assert_eq!(p.line(&msg), "0x0080000001\thi\\n\t\n");
        p.hex = true;
        p.separator = "|".into();
        assert_eq!(p.line(&msg), "0x0080000001|68690a|\n");
        p.routed = false;
        assert_eq!(p.line(&[b"A".to_vec()]), "41\n");
    }
}
