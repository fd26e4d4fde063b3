//! Typed send/receive flags and poll events. Plain integers (the C ABI's and libzmq's
//! values) convert into them, so `send(data, 0)` and `send(data, DONTWAIT | SNDMORE)` both
//! read naturally.

#![forbid(unsafe_code)]

bitflags::bitflags! {
    /// Flags of the send and receive calls (libzmq's `ZMQ_DONTWAIT`, `ZMQ_SNDMORE`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Flags: i32 {
        /// Do not block: fail with [`Error::Again`](crate::Error::Again) instead.
        const DONTWAIT = 1;
        /// More frames of this message follow (sends only).
        const SNDMORE = 2;
    }
}

/// Integers keep libzmq's bit values; unknown bits are kept (and ignored).
impl From<i32> for Flags {
    fn from(bits: i32) -> Flags {
        Flags::from_bits_retain(bits)
    }
}

bitflags::bitflags! {
    /// Readiness asked for and reported by [`poll`](crate::poll) and
    /// [`Socket::events`](crate::Socket::events) (libzmq's `ZMQ_POLLIN`, ...).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct PollEvents: i16 {
        /// A message can be received (or a raw fd is readable).
        const POLLIN = 1;
        /// A message can be sent (or a raw fd is writable).
        const POLLOUT = 2;
        /// Error condition (raw file descriptors only).
        const POLLERR = 4;
    }
}

/// Integers keep poll(2)'s / libzmq's bit values; unknown bits are kept.
impl From<i16> for PollEvents {
    fn from(bits: i16) -> PollEvents {
        PollEvents::from_bits_retain(bits)
    }
}

/// Do not block (send/recv fail with [`Error::Again`](crate::Error::Again) instead).
pub const DONTWAIT: Flags = Flags::DONTWAIT;
/// More frames of this message follow.
pub const SNDMORE: Flags = Flags::SNDMORE;
/// A message can be received.
pub const POLLIN: PollEvents = PollEvents::POLLIN;
/// A message can be sent.
pub const POLLOUT: PollEvents = PollEvents::POLLOUT;
/// Error condition (raw file descriptors only).
pub const POLLERR: PollEvents = PollEvents::POLLERR;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_convert_with_libzmq_values() {
        assert_eq!(Flags::from(0), Flags::empty());
        assert_eq!(Flags::from(1), DONTWAIT);
        assert_eq!(Flags::from(3), DONTWAIT | SNDMORE);
        assert_eq!(Flags::from(0x40).bits(), 0x40, "unknown bits are kept");
        assert_eq!(PollEvents::from(3), POLLIN | POLLOUT);
        assert_eq!(POLLERR.bits(), 4);
    }
}
