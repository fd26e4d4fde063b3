//! Per-connection protocol state that does no I/O, in the style of quinn-proto: the reactor
//! feeds received bytes and the time in (`handle_*`), asks what to send or when to wake
//! (`poll_*`), and does every syscall, lock and timer itself. `ZmtpSession` speaks ZMTP,
//! `StreamSession` the STREAM framings; `CloseReason` carries what ended a connection from
//! where the fault is detected to the monitor event the application sees.

#![forbid(unsafe_code)]

mod close;
mod stream;
mod zmtp;

pub(crate) use close::CloseReason;
pub(crate) use stream::StreamSession;
pub(crate) use zmtp::{HeartbeatConfig, ZmtpSession};
