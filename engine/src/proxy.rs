//! `proxy` and `proxy_steerable`: libzmq's built-in device (zmq_proxy, zmq_proxy_steerable).
//!
//! Whole messages are shuttled both ways between a frontend and a backend socket, frame by
//! frame with MORE preserved, so ROUTER envelopes and XPUB/XSUB subscriptions pass through
//! untouched. A direction exists only if its source can receive (a PUSH or PUB frontend gives
//! a one-way proxy).
//!
//! Flow control differs from libzmq in one way: libzmq checks POLLOUT once per burst and then
//! blocks in send when the destination fills up mid-burst, which also stops the other
//! direction and the control socket. Here the first frame of each message is offered with
//! DONTWAIT; if the destination is full, that one message is held back and the proxy waits for
//! POLLOUT on the destination instead of POLLIN on the source, so backpressure still reaches the
//! sender while the other direction and the control socket keep being served.

#![forbid(unsafe_code)]

use crate::error::{Error, Result};
use crate::protocol::SocketType;
use crate::socket::{
    poll, Flags, PollEvents, PollItem, Socket, DONTWAIT, POLLIN, POLLOUT, SNDMORE,
};

/// Messages moved from one source per wake-up before the other direction and the control
/// socket get a turn (libzmq's `proxy_burst_size`).
const BURST: usize = 1000;

/// Frames and bytes through one socket in one direction. Frames are counted singly, as
/// libzmq's STATISTICS does.
#[derive(Debug, Default, Clone, Copy)]
struct Counter {
    frames: u64,
    bytes: u64,
}

impl Counter {
    fn add(&mut self, frame: &[u8]) {
        self.frames += 1;
        self.bytes += frame.len() as u64;
    }
}

#[derive(Debug, Default)]
struct Stats {
    front_in: Counter,
    front_out: Counter,
    back_in: Counter,
    back_out: Counter,
}

impl Stats {
    /// The STATISTICS reply, in libzmq's order: (frontend, backend) x (received, sent) x
    /// (frames, bytes).
    fn values(&self) -> [u64; 8] {
        let [a, b, c, d] = [self.front_in, self.front_out, self.back_in, self.back_out];
        [
            a.frames, a.bytes, b.frames, b.bytes, c.frames, c.bytes, d.frames, d.bytes,
        ]
    }
}

/// Forward messages between `frontend` and `backend` until an error, like `zmq_proxy`: it
/// returns only with an error, `Error::Terminated` once the context is shut down. Each
/// message is also sent, frame by frame, to `capture` if given (with blocking sends, as libzmq
/// does: a capture socket that cannot keep up slows the proxy down).
///
/// Fails at once with `Error::NotSupported` if neither socket can receive, or if a socket
/// that receives faces one that cannot send (PULL to PULL, say).
pub fn proxy(
    frontend: &mut Socket,
    backend: &mut Socket,
    capture: Option<&mut Socket>,
) -> Result<()> {
    run(frontend, backend, capture, None)
}

/// [`proxy`] steered through `control`, like `zmq_proxy_steerable`. A command is a one-frame
/// message on `control` (any socket type that receives: PAIR, SUB, REP, PULL, ...):
///
/// * `PAUSE`: stop forwarding (messages wait in the sockets' queues); `RESUME`: go on.
/// * `TERMINATE`: return `Ok(())`. A message held back because its destination was full is
///   offered once more without blocking and is dropped if it still does not fit.
/// * `STATISTICS`: reply with 8 frames of native-endian `u64` (libzmq's layout): frames and
///   bytes received by the frontend, sent by the frontend, received by the backend and sent
///   by the backend. `control` must be able to send.
///
/// A REP control socket answers every other command with an empty message, so a REQ can
/// steer in lock-step. Unknown commands are ignored, as libzmq does.
pub fn proxy_steerable(
    frontend: &mut Socket,
    backend: &mut Socket,
    capture: Option<&mut Socket>,
    control: &mut Socket,
) -> Result<()> {
    run(frontend, backend, capture, Some(control))
}

fn receives(ty: SocketType) -> bool {
    !matches!(ty, SocketType::Push | SocketType::Pub)
}

fn sends(ty: SocketType) -> bool {
    !matches!(ty, SocketType::Pull | SocketType::Sub)
}

fn more_flag(more: bool) -> Flags {
    if more {
        SNDMORE
    } else {
        Flags::empty()
    }
}

enum Command {
    Pause,
    Resume,
    Terminate,
}

fn run(
    frontend: &mut Socket,
    backend: &mut Socket,
    mut capture: Option<&mut Socket>,
    mut control: Option<&mut Socket>,
) -> Result<()> {
    let (ft, bt) = (frontend.socket_type(), backend.socket_type());
    let forth = receives(ft);
    let back = receives(bt);
    if !(forth || back) || (forth && !sends(bt)) || (back && !sends(ft)) {
        return Err(Error::NotSupported);
    }
    let mut stats = Stats::default();
    // A message whose destination was full, per direction (frontend->backend, back).
    let (mut held_fb, mut held_bf) = (Vec::new(), Vec::new());
    let mut paused = false;
    loop {
        // Wait for input on a source, or for room on a destination whose message is held.
        let (mut want_f, mut want_b) = (PollEvents::empty(), PollEvents::empty());
        if !paused {
            if forth {
                if held_fb.is_empty() {
                    want_f |= POLLIN;
                } else {
                    want_b |= POLLOUT;
                }
            }
            if back {
                if held_bf.is_empty() {
                    want_b |= POLLIN;
                } else {
                    want_f |= POLLOUT;
                }
            }
        }
        let (got_f, got_b, got_c) = {
            let mut items = Vec::with_capacity(3);
            // Polled even with no interest (while paused) so a shutdown is still noticed.
            items.push(PollItem::socket(frontend, want_f));
            items.push(PollItem::socket(backend, want_b));
            if let Some(c) = control.as_deref_mut() {
                items.push(PollItem::socket(c, POLLIN));
            }
            poll(&mut items, None)?;
            let c = items.get(2).map_or(PollEvents::empty(), |it| it.revents);
            (items[0].revents, items[1].revents, c)
        };
        if got_c.contains(POLLIN) {
            let c = control.as_deref_mut().expect("polled only if present");
            match command(c, &stats)? {
                Some(Command::Pause) => paused = true,
                Some(Command::Resume) => paused = false,
                Some(Command::Terminate) => {
                    for (held, to, tx) in [
                        (&mut held_fb, &mut *backend, &mut stats.back_out),
                        (&mut held_bf, &mut *frontend, &mut stats.front_out),
                    ] {
                        if !held.is_empty() {
                            send_held(to, &mut capture, held, tx)?;
                        }
                    }
                    return Ok(());
                }
                None => {}
            }
        }
        if paused {
            continue;
        }
        if forth && (got_f.contains(POLLIN) || got_b.contains(POLLOUT)) {
            forward(
                frontend,
                backend,
                &mut capture,
                &mut held_fb,
                &mut stats.front_in,
                &mut stats.back_out,
            )?;
        }
        if back && (got_b.contains(POLLIN) || got_f.contains(POLLOUT)) {
            forward(
                backend,
                frontend,
                &mut capture,
                &mut held_bf,
                &mut stats.back_in,
                &mut stats.front_out,
            )?;
        }
    }
}

/// Read and act on one control message (None: nothing to do).
fn command(control: &mut Socket, stats: &Stats) -> Result<Option<Command>> {
    let msg = match control.recv_multipart(DONTWAIT) {
        Ok(m) => m,
        Err(Error::Again) => return Ok(None),
        Err(e) => return Err(e),
    };
    let cmd: &[u8] = match msg.as_slice() {
        [one] => one,
        _ => b"",
    };
    if cmd == b"STATISTICS" {
        let v = stats.values();
        for (i, n) in v.iter().enumerate() {
            control.send(&n.to_ne_bytes(), more_flag(i + 1 < v.len()))?;
        }
        return Ok(None);
    }
    let out = match cmd {
        b"PAUSE" => Some(Command::Pause),
        b"RESUME" => Some(Command::Resume),
        b"TERMINATE" => Some(Command::Terminate),
        _ => None,
    };
    if control.socket_type() == SocketType::Rep {
        control.send(b"", 0)?;
    }
    Ok(out)
}

/// Copy one frame to the capture socket, if any.
fn copy(capture: &mut Option<&mut Socket>, frame: &[u8], more: bool) -> Result<()> {
    match capture.as_deref_mut() {
        Some(c) => c.send(frame, more_flag(more)),
        None => Ok(()),
    }
}

/// Move up to [`BURST`] whole messages from `from` to `to`, copying each to `capture`.
/// Stops early when `from` has nothing more, or when `to` is full: that message is then
/// kept in `held` and goes first next time. `rx`/`tx` count what `from` received and `to`
/// sent.
fn forward(
    from: &mut Socket,
    to: &mut Socket,
    capture: &mut Option<&mut Socket>,
    held: &mut Vec<Vec<u8>>,
    rx: &mut Counter,
    tx: &mut Counter,
) -> Result<()> {
    if !held.is_empty() && !send_held(to, capture, held, tx)? {
        return Ok(());
    }
    for _ in 0..BURST {
        // The first frame goes straight from one socket's queue to the other's when `to`
        // takes it without blocking; only a held message is copied out.
        let first = from.recv_with(DONTWAIT, |frame, more| -> Result<bool> {
            rx.add(frame);
            match to.send(frame, more_flag(more) | DONTWAIT) {
                Ok(()) => {
                    tx.add(frame);
                    copy(capture, frame, more)?;
                    Ok(true)
                }
                Err(Error::Again) => {
                    held.push(frame.to_vec());
                    Ok(false)
                }
                Err(e) => Err(e),
            }
        });
        let passed = match first {
            Ok(r) => r?,
            Err(Error::Again) => return Ok(()),
            Err(e) => return Err(e),
        };
        // The rest of the message is queued already (messages arrive whole), and a message
        // under way on `to` is never refused for room.
        while from.rcvmore() {
            from.recv_with(0, |frame, more| -> Result<()> {
                rx.add(frame);
                if passed {
                    to.send(frame, more_flag(more))?;
                    tx.add(frame);
                    copy(capture, frame, more)
                } else {
                    held.push(frame.to_vec());
                    Ok(())
                }
            })??;
        }
        if !passed {
            return Ok(());
        }
    }
    Ok(())
}

/// Offer the held message to `to` without blocking: false if it is still full.
fn send_held(
    to: &mut Socket,
    capture: &mut Option<&mut Socket>,
    held: &mut Vec<Vec<u8>>,
    tx: &mut Counter,
) -> Result<bool> {
    let n = held.len();
    match to.send(&held[0], more_flag(n > 1) | DONTWAIT) {
        Err(Error::Again) => return Ok(false),
        r => r?,
    }
    for (i, frame) in held.iter().enumerate() {
        let more = i + 1 < n;
        if i > 0 {
            to.send(frame, more_flag(more))?;
        }
        tx.add(frame);
        copy(capture, frame, more)?;
    }
    held.clear();
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_order_is_libzmqs() {
        let mut s = Stats::default();
        s.front_in.add(b"abc");
        s.front_out.add(b"de");
        s.front_out.add(b"");
        s.back_in.add(b"f");
        s.back_out.add(b"ghij");
        assert_eq!(s.values(), [1, 3, 2, 2, 1, 1, 1, 4]);
    }

    #[test]
    fn directions_follow_what_sockets_can_do() {
        assert!(!receives(SocketType::Push) && !receives(SocketType::Pub));
        assert!(receives(SocketType::XPub) && receives(SocketType::XSub));
        assert!(!sends(SocketType::Pull) && !sends(SocketType::Sub));
        assert!(sends(SocketType::XSub) && sends(SocketType::Router));
    }
}
