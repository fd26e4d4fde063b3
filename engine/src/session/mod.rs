//! Per-connection protocol state that does no I/O: what ends a connection (`CloseReason`),
//! from where the fault is detected to the monitor event the application sees.

#![forbid(unsafe_code)]

mod close;
mod stream;
mod zmtp;

pub(crate) use close::CloseReason;
pub(crate) use stream::StreamSession;
pub(crate) use zmtp::{HeartbeatConfig, ZmtpSession};
