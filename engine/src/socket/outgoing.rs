//! What a batch send hands to a pipe as one message: one frame (`&[u8]`) or several
//! (`[&[u8]; N]`, [`Parts`]). The batch paths are generic over it, so a batch of one-frame
//! messages compiles to the same code as before and a batch of multipart messages (a topic
//! frame and a payload) is written with the same single pass and commit.

#![forbid(unsafe_code)]

use crate::pipe::Writer;
use crate::protocol::frame;

/// One message of a batch.
pub(super) trait Outgoing {
    /// Its first frame (what PUB matches subscriptions against).
    fn head(&self) -> &[u8];
    /// Append its frames to `out` (the last without MORE); the caller commits. Returns the
    /// body bytes written.
    fn write(&self, out: &mut Writer) -> usize;
}

#[inline]
fn write_frame(out: &mut Writer, data: &[u8], more: bool) -> usize {
    let mut hdr = [0u8; frame::MAX_HEADER];
    let hl = frame::encode_header(&mut hdr, more, false, data.len() as u64);
    out.write_frame(&hdr[..hl], data);
    data.len()
}

impl Outgoing for &[u8] {
    #[inline]
    fn head(&self) -> &[u8] {
        self
    }
    #[inline]
    fn write(&self, out: &mut Writer) -> usize {
        write_frame(out, self, false)
    }
}

impl<const N: usize> Outgoing for [&[u8]; N] {
    #[inline]
    fn head(&self) -> &[u8] {
        self.first().copied().unwrap_or_default()
    }
    #[inline]
    fn write(&self, out: &mut Writer) -> usize {
        let mut bytes = 0;
        for (i, f) in self.iter().enumerate() {
            bytes += write_frame(out, f, i + 1 < N);
        }
        bytes
    }
}

/// The parts of a caller's multipart message (never empty: the API checks).
pub(super) struct Parts<'a, P>(pub(super) &'a [P]);

impl<P: AsRef<[u8]>> Outgoing for Parts<'_, P> {
    #[inline]
    fn head(&self) -> &[u8] {
        self.0.first().map(AsRef::as_ref).unwrap_or_default()
    }
    #[inline]
    fn write(&self, out: &mut Writer) -> usize {
        let n = self.0.len();
        let mut bytes = 0;
        for (i, f) in self.0.iter().enumerate() {
            bytes += write_frame(out, f.as_ref(), i + 1 < n);
        }
        bytes
    }
}
