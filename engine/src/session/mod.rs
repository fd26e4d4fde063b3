//! Per-connection protocol state that does no I/O: what ends a connection (`CloseReason`),
//! from where the fault is detected to the monitor event the application sees.

#![forbid(unsafe_code)]

mod close;
mod stream;

pub(crate) use close::CloseReason;
pub(crate) use stream::StreamSession;
