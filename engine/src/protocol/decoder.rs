//! Streaming frame decoder for an established connection.
//!
//! Built for the receive hot path: complete data frames are not copied or
//! split apart but handed back as verbatim runs (headers included) so the
//! caller can move many small messages with one memcpy. Only what cannot be
//! returned as a borrowed slice is buffered here: a frame header split across
//! reads (at most 9 bytes) and command bodies (small, and needed whole to be
//! parsed). Large data-frame bodies that straddle reads are streamed out
//! piecewise as [`Decoded::FrameStart`] + [`Decoded::Body`] items.

use super::command::Command;
use super::frame::{
    parse_header, read_u64, FrameHeader, COMMAND, LONG, MAX_BODY, MAX_HEADER, MORE, RESERVED,
};
use super::ProtocolError;

/// Commands are buffered whole, so their size is capped even without
/// MAXMSGSIZE.
pub const MAX_COMMAND: u64 = 64 << 20;

/// Don't pre-allocate more than this for a command whose body has not arrived
/// yet: a lying header must not cost us its announced size up front.
const COMMAND_PREALLOC: usize = 64 << 10;

/// One decoded item; see [`Decoder::decode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// One or more complete data frames, verbatim (headers + bodies), ending
    /// at a frame boundary.
    Data {
        /// The frames exactly as received.
        bytes: &'a [u8],
        /// Frames in the run without MORE (= messages completed by the run).
        messages: usize,
        /// The last frame in the run has no MORE.
        ends_message: bool,
        /// Length of the prefix of `bytes` that ends at the last message
        /// boundary (== `bytes.len()` when `ends_message`): what a receiver may
        /// publish while keeping multipart messages atomic.
        complete: usize,
    },
    /// A data frame whose body does not fit in the input, announced with its
    /// header exactly as received. Always followed by [`Decoded::Body`] items,
    /// the last one with `last = true` (a single empty one for an empty body).
    FrameStart {
        /// The received header bytes (`header[..header_len]`).
        header: [u8; MAX_HEADER],
        /// 2 or 9.
        header_len: usize,
        /// The MORE flag.
        more: bool,
        /// Full body length.
        body_len: u64,
    },
    /// Part of the body of the frame announced by `FrameStart`.
    Body {
        /// The next body bytes.
        bytes: &'a [u8],
        /// These bytes complete the body.
        last: bool,
    },
    /// A complete command (possibly buffered across inputs).
    Command(Command),
}

/// Where the decoder is within the stream.
#[derive(Debug)]
enum State {
    /// Between frames (a partial header may sit in `Decoder::hdr`).
    Idle,
    /// Streaming the body of a data frame announced by `FrameStart`.
    Body { remaining: u64 },
    /// Collecting a command body of `len` bytes.
    Command { buf: Vec<u8>, len: usize },
}

/// Streaming decoder for the data phase (after the handshake).
#[derive(Debug)]
pub struct Decoder {
    /// MAXMSGSIZE, if set.
    max_msg_size: Option<u64>,
    /// Largest acceptable data-frame body (MAXMSGSIZE capped by the wire limit).
    max_data: u64,
    state: State,
    /// Partially received header bytes, `hdr[..hdr_len]`.
    hdr: [u8; MAX_HEADER],
    hdr_len: usize,
    /// The last data frame seen had MORE: a multipart message is in progress.
    in_message: bool,
}

impl Decoder {
    /// `max_msg_size`: MAXMSGSIZE (None = unlimited), enforced per data-frame
    /// body like libzmq does.
    pub fn new(max_msg_size: Option<u64>) -> Decoder {
        Decoder {
            max_msg_size,
            max_data: max_msg_size.map_or(MAX_BODY, |m| m.min(MAX_BODY)),
            state: State::Idle,
            hdr: [0; MAX_HEADER],
            hdr_len: 0,
            in_message: false,
        }
    }

    /// True when nothing is partially received: no multipart message, frame,
    /// header or command in progress.
    pub fn at_message_boundary(&self) -> bool {
        matches!(self.state, State::Idle) && self.hdr_len == 0 && !self.in_message
    }

    /// Decode from `input`. Returns how many bytes of `input` were consumed
    /// and at most one item.
    ///
    /// The caller loops, passing the unconsumed rest, while `consumed > 0` or
    /// an item was returned; `(0, None)` means more input is needed. After an
    /// error the stream is unusable.
    pub fn decode<'a>(
        &mut self,
        input: &'a [u8],
    ) -> Result<(usize, Option<Decoded<'a>>), ProtocolError> {
        match &mut self.state {
            State::Idle if self.hdr_len == 0 => self.decode_frames(input),
            State::Idle => self.continue_header(input),
            State::Body { remaining } => {
                if *remaining == 0 {
                    // Empty body announced by FrameStart: close it explicitly.
                    self.state = State::Idle;
                    return Ok((
                        0,
                        Some(Decoded::Body {
                            bytes: &[],
                            last: true,
                        }),
                    ));
                }
                if input.is_empty() {
                    return Ok((0, None));
                }
                let n = (*remaining).min(input.len() as u64) as usize;
                *remaining -= n as u64;
                let last = *remaining == 0;
                if last {
                    self.state = State::Idle;
                }
                Ok((
                    n,
                    Some(Decoded::Body {
                        bytes: &input[..n],
                        last,
                    }),
                ))
            }
            State::Command { buf, len } => {
                let n = (*len - buf.len()).min(input.len());
                if buf.capacity() - buf.len() < n {
                    // Double what arrived, but never past the declared length: the buffer
                    // follows the bytes received and does not overshoot the command.
                    let want = (buf.len() + n).max(2 * buf.capacity()).min(*len);
                    buf.try_reserve_exact(want - buf.len())
                        .map_err(|_| ProtocolError::OutOfMemory(want as u64))?;
                }
                buf.extend_from_slice(&input[..n]);
                if buf.len() < *len {
                    return Ok((n, None));
                }
                let cmd = Command::parse(buf);
                self.state = State::Idle;
                Ok((n, Some(Decoded::Command(cmd?))))
            }
        }
    }

    /// Fast path at a frame boundary: gather the longest run of complete data
    /// frames; fall back to the slow path for whatever stops it.
    #[inline]
    fn decode_frames<'a>(
        &mut self,
        input: &'a [u8],
    ) -> Result<(usize, Option<Decoded<'a>>), ProtocolError> {
        let max = self.max_data;
        let mut pos = 0usize;
        let mut messages = 0usize;
        let mut more = false;
        let mut complete = 0usize;
        while let Some(&flags) = input.get(pos) {
            if flags & (RESERVED | COMMAND) != 0 {
                break;
            }
            let (hl, len) = if flags & LONG == 0 {
                match input.get(pos + 1) {
                    Some(&n) => (2, u64::from(n)),
                    None => break,
                }
            } else {
                match input.get(pos + 1..pos + MAX_HEADER) {
                    Some(b) => (MAX_HEADER, read_u64(b)),
                    None => break,
                }
            };
            // `len <= avail` also keeps the `as usize` below lossless.
            let avail = (input.len() - pos - hl) as u64;
            if len > max || len > avail {
                break;
            }
            pos += hl + len as usize;
            more = flags & MORE != 0;
            messages += usize::from(!more);
            if !more {
                complete = pos;
            }
        }
        if pos > 0 {
            // Frames after the run (even invalid ones) are handled next call,
            // so valid messages before a protocol error are still delivered.
            self.in_message = more;
            return Ok((
                pos,
                Some(Decoded::Data {
                    bytes: &input[..pos],
                    messages,
                    ends_message: !more,
                    complete,
                }),
            ));
        }
        let Some(h) = parse_header(input)? else {
            // Incomplete header (shorter than MAX_HEADER by construction).
            self.hdr[..input.len()].copy_from_slice(input);
            self.hdr_len = input.len();
            return Ok((input.len(), None));
        };
        let hl = h.header_len;
        if h.is_command() && h.body_len <= (input.len() - hl) as u64 {
            self.check_command_size(h.body_len)?;
            let end = hl + h.body_len as usize;
            let cmd = Command::parse(&input[hl..end])?;
            return Ok((end, Some(Decoded::Command(cmd))));
        }
        let mut header = [0u8; MAX_HEADER];
        header[..hl].copy_from_slice(&input[..hl]);
        self.start_frame(h, header, hl)
    }

    /// Add bytes to a header that was split across inputs.
    fn continue_header<'a>(
        &mut self,
        input: &'a [u8],
    ) -> Result<(usize, Option<Decoded<'a>>), ProtocolError> {
        let need = if self.hdr[0] & LONG != 0 {
            MAX_HEADER
        } else {
            2
        };
        let n = (need - self.hdr_len).min(input.len());
        self.hdr[self.hdr_len..self.hdr_len + n].copy_from_slice(&input[..n]);
        self.hdr_len += n;
        if self.hdr_len < need {
            return Ok((n, None));
        }
        let header = self.hdr;
        self.hdr_len = 0;
        match parse_header(&header[..need])? {
            Some(h) => self.start_frame(h, header, n),
            None => Ok((n, None)),
        }
    }

    /// Enter the body of a frame whose header is complete but whose body is
    /// (possibly) not; `consumed` input bytes are reported.
    fn start_frame<'a>(
        &mut self,
        h: FrameHeader,
        header: [u8; MAX_HEADER],
        consumed: usize,
    ) -> Result<(usize, Option<Decoded<'a>>), ProtocolError> {
        if h.is_command() {
            self.check_command_size(h.body_len)?;
            let len = h.body_len as usize;
            if len == 0 {
                return Command::parse(&[]).map(|c| (consumed, Some(Decoded::Command(c))));
            }
            self.state = State::Command {
                buf: Vec::with_capacity(len.min(COMMAND_PREALLOC)),
                len,
            };
            return Ok((consumed, None));
        }
        if h.body_len > self.max_data {
            return Err(ProtocolError::FrameTooLarge {
                size: h.body_len,
                max: self.max_data,
            });
        }
        self.in_message = h.more();
        self.state = State::Body {
            remaining: h.body_len,
        };
        Ok((
            consumed,
            Some(Decoded::FrameStart {
                header,
                header_len: h.header_len,
                more: h.more(),
                body_len: h.body_len,
            }),
        ))
    }

    fn check_command_size(&self, size: u64) -> Result<(), ProtocolError> {
        let max = self
            .max_msg_size
            .map_or(MAX_COMMAND, |m| m.min(MAX_COMMAND));
        if size > max {
            return Err(ProtocolError::FrameTooLarge { size, max });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
