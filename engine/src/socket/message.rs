//! `Message`: one received frame the application owns, and `Socket::recv_msg`, which
//! hands a large frame over from the socket's queue without copying it.

#![forbid(unsafe_code)]

use super::{fq, Flags, Socket, DONTWAIT_BIT};
use crate::error::Result;
use crate::pipe::OwnedFrame;

/// One received frame, owned: it derefs to its bytes and says whether more frames of the
/// same message follow.
///
/// A frame over 256 KiB arriving on its own (the usual case: the reactor gives such a frame
/// memory of its own as it arrives) is handed over in the memory it was received into, so
/// receiving it costs no copy and no allocation; smaller frames are copied, as by
/// [`Socket::recv_bytes`].
pub struct Message {
    data: Data,
    more: bool,
}

enum Data {
    Owned(Vec<u8>),
    /// The memory the frame was received into.
    Taken(OwnedFrame),
}

impl Message {
    /// The frame's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.data {
            Data::Owned(v) => v,
            Data::Taken(t) => t.body(),
        }
    }

    /// More frames of the same message follow this one.
    pub fn more(&self) -> bool {
        self.more
    }

    /// Whether the frame was handed over without a copy (for tests and diagnostics).
    pub fn is_zero_copy(&self) -> bool {
        matches!(self.data, Data::Taken(_))
    }

    /// The bytes as a vector: free for a copied frame, one copy for one handed over.
    pub fn into_vec(self) -> Vec<u8> {
        match self.data {
            Data::Owned(v) => v,
            Data::Taken(t) => t.body().to_vec(),
        }
    }
}

impl std::ops::Deref for Message {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Message {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq<[u8]> for Message {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("len", &self.len())
            .field("more", &self.more)
            .field("zero_copy", &self.is_zero_copy())
            .finish()
    }
}

impl Socket {
    /// Receive one frame as a [`Message`] the caller owns. A frame over 256 KiB that arrived
    /// on its own is handed over without a copy (see [`Message`]); others are copied.
    ///
    /// # Errors
    /// As [`Socket::recv`].
    ///
    /// # Examples
    /// ```
    /// use ringlink::{Context, SocketType};
    /// let ctx = Context::new()?;
    /// let mut pull = ctx.socket(SocketType::Pull)?;
    /// pull.bind("inproc://recv-msg-doc")?;
    /// let mut push = ctx.socket(SocketType::Push)?;
    /// push.connect("inproc://recv-msg-doc")?;
    /// push.send(&vec![7u8; 1 << 20], 0)?;
    /// let msg = pull.recv_msg(0)?;
    /// assert_eq!(msg.len(), 1 << 20);
    /// assert!(!msg.more());
    /// // 1 MiB: the memory it arrived in, not a copy.
    /// assert!(msg.is_zero_copy());
    /// # Ok::<(), ringlink::Error>(())
    /// ```
    pub fn recv_msg(&mut self, flags: impl Into<Flags>) -> Result<Message> {
        let flags = flags.into().bits();
        fq::clear_taken();
        self.core.take = true;
        let got = self.recv_frame(flags, |body, more| {
            // A frame handed over lives in `Core::taken`: no copy.
            let copy = (!fq::taken_body(body)).then(|| body.to_vec());
            (copy, more)
        });
        self.core.take = false;
        fq::clear_taken();
        let taken = self.core.taken.take();
        let (copy, more) = got?;
        let data = match copy {
            Some(v) => Data::Owned(v),
            None => Data::Taken(taken.expect("a frame handed over is kept in Core::taken")),
        };
        Ok(Message { data, more })
    }

    /// Receive all frames of the next message as [`Message`]s (large frames without a copy,
    /// as [`Socket::recv_msg`]).
    ///
    /// # Errors
    /// As [`Socket::recv`] (only for the first frame: the rest of a message is queued with it).
    pub fn recv_multipart_msgs(&mut self, flags: impl Into<Flags>) -> Result<Vec<Message>> {
        let flags = flags.into().bits();
        let mut parts = vec![self.recv_msg(flags)?];
        while self.core.rcvmore {
            parts.push(self.recv_msg(flags & !DONTWAIT_BIT)?);
        }
        Ok(parts)
    }
}
