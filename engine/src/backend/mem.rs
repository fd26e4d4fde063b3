//! An in-memory driver: the reactor's I/O without syscalls, for the fuzzing harness
//! (`crate::fuzzing`) and tests. Compiled only with the `fuzzing` feature (or in tests).
//!
//! A [`MemNet`] shared with the harness scripts the outside world: descriptors waiting to be
//! accepted, bytes "the peer sent" per connection, a peer-side end of file, and how many bytes
//! the peer is willing to read (a send window, so partial and stalled sends can be exercised).
//! The driver keeps the same contract as the real ones (`backend/mod.rs`): at most one send in
//! flight per key, whose iovecs it reads only until it reports `Sent`; received bytes are
//! borrowed for the callback only; `Closed` once per `Close`, with nothing left in flight. It
//! never blocks: a poll with nothing to report returns at once, whatever the timeout.

use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Driver, Event, Key, Req};
use crate::pipe::SendLease;

/// One connection as the in-memory peer sees it.
#[derive(Default)]
struct MemConn {
    recv_on: bool,
    /// Bytes from the peer not yet delivered.
    inbound: VecDeque<u8>,
    /// The peer closed its sending side (delivered after `inbound` drains).
    eof: bool,
    eof_reported: bool,
    /// Everything the engine sent on this connection.
    sent: Vec<u8>,
    /// The send in flight.
    pending: Option<SendLease>,
}

/// The scripted outside world of a [`MemDriver`], shared with whoever drives the test.
pub(crate) struct MemNet {
    /// Descriptors to hand out as accepted connections (on the first listener).
    pub(crate) accept_queue: VecDeque<OwnedFd>,
    listeners: Vec<Key>,
    /// Open connections by key, in the order they appeared (a handful at most: a linear
    /// search beats hashing here).
    conns: Vec<(u64, MemConn)>,
    /// Keys of every connection seen, oldest first.
    order: Vec<u64>,
    /// Completions produced while applying requests, reported in order.
    done: VecDeque<Event<'static>>,
    /// Largest `Received` piece (a receive buffer's size); at least 1.
    pub(crate) recv_chunk: usize,
    /// Bytes the peer will still read (`usize::MAX` = unlimited); sends beyond it stall.
    pub(crate) window: usize,
    /// Requests applied plus events reported so far: lets the harness see a quiet turn.
    pub(crate) activity: u64,
    /// What closed connections sent that the test has not taken yet (a peer reads what
    /// arrived before the close).
    sent_before_close: Vec<(u64, Vec<u8>)>,
}

impl Default for MemNet {
    fn default() -> Self {
        MemNet {
            accept_queue: VecDeque::new(),
            listeners: Vec::new(),
            conns: Vec::new(),
            order: Vec::new(),
            done: VecDeque::new(),
            recv_chunk: 64 * 1024,
            window: usize::MAX,
            activity: 0,
            sent_before_close: Vec::new(),
        }
    }
}

impl MemNet {
    /// Keys of the connections the driver knows (open or closed), oldest first.
    #[cfg_attr(not(feature = "fuzzing"), allow(dead_code))]
    pub(crate) fn conn_keys(&self) -> Vec<u64> {
        self.order.clone()
    }

    fn get(&self, key: u64) -> Option<&MemConn> {
        self.conns.iter().find(|(k, _)| *k == key).map(|(_, c)| c)
    }

    fn get_mut(&mut self, key: u64) -> Option<&mut MemConn> {
        self.conns
            .iter_mut()
            .find(|(k, _)| *k == key)
            .map(|(_, c)| c)
    }

    /// Whether connection `key` is still open (not closed by the engine).
    #[cfg_attr(not(feature = "fuzzing"), allow(dead_code))]
    pub(crate) fn is_open(&self, key: u64) -> bool {
        self.get(key).is_some()
    }

    /// Connections and listeners not closed yet, plus completions not reported yet.
    pub(crate) fn open_endpoints(&self) -> usize {
        self.conns.len() + self.listeners.len() + self.done.len()
    }

    /// Queue bytes from the peer on connection `key`; false if it is closed.
    pub(crate) fn push_inbound(&mut self, key: u64, bytes: &[u8]) -> bool {
        match self.get_mut(key) {
            Some(c) if !c.eof => {
                c.inbound.extend(bytes);
                true
            }
            _ => false,
        }
    }

    /// The peer closes its side of connection `key` (after the queued bytes).
    pub(crate) fn peer_close(&mut self, key: u64) {
        if let Some(c) = self.get_mut(key) {
            c.eof = true;
        }
    }

    /// Take what the engine sent on `key` so far.
    pub(crate) fn take_sent(&mut self, key: u64) -> Vec<u8> {
        if let Some(i) = self.sent_before_close.iter().position(|(k, _)| *k == key) {
            return self.sent_before_close.swap_remove(i).1;
        }
        self.get_mut(key)
            .map(|c| std::mem::take(&mut c.sent))
            .unwrap_or_default()
    }

    /// Undelivered peer bytes on `key`.
    #[cfg_attr(not(feature = "fuzzing"), allow(dead_code))]
    pub(crate) fn inbound_len(&self, key: u64) -> usize {
        self.get(key).map_or(0, |c| c.inbound.len())
    }

    fn conn(&mut self, key: Key) -> &mut MemConn {
        let i = match self.conns.iter().position(|(k, _)| *k == key.0) {
            Some(i) => i,
            None => {
                self.order.push(key.0);
                self.conns.push((key.0, MemConn::default()));
                self.conns.len() - 1
            }
        };
        &mut self.conns[i].1
    }

    fn apply(&mut self, req: Req) {
        self.activity += 1;
        match req {
            Req::Listen { key, .. } => self.listeners.push(key),
            // This driver's accepts never fail.
            Req::ResumeAccept { .. } => {}
            Req::Connect { key, .. } => {
                // Nobody listens in here.
                let err = io::Error::from_raw_os_error(libc::ECONNREFUSED);
                self.done.push_back(Event::Connected {
                    key,
                    result: Err(err),
                });
            }
            Req::StartRecv { key, .. } => self.conn(key).recv_on = true,
            Req::StopRecv { key } => {
                if let Some(c) = self.get_mut(key.0) {
                    c.recv_on = false;
                }
            }
            Req::Send { key, lease, .. } => {
                let c = self.conn(key);
                assert!(c.pending.is_none(), "two sends in flight on one key");
                c.pending = Some(lease);
            }
            Req::Close { key, fd } => {
                drop(fd);
                // A send still in flight is cancelled, as the real drivers do.
                if let Some(i) = self.conns.iter().position(|(k, _)| *k == key.0) {
                    let (k, c) = self.conns.remove(i);
                    if !c.sent.is_empty() {
                        self.sent_before_close.push((k, c.sent));
                    }
                }
                self.listeners.retain(|&k| k != key);
                self.done.push_back(Event::Closed { key });
            }
        }
    }

    /// Move up to the window's worth of the pending send of `key` into `sent` and complete it
    /// (a short send when the window cuts it); None while the peer reads nothing.
    fn progress_send(&mut self, key: u64) -> Option<Event<'static>> {
        let window = self.window;
        let c = self.get_mut(key)?;
        let lease = c.pending.as_ref()?;
        let iov = lease.iov();
        let total = lease.len();
        let mut want = total.min(window);
        if want == 0 && total > 0 {
            // The peer reads nothing now: the send stays in flight (a full socket buffer).
            return None;
        }
        let mut n = 0;
        for v in iov {
            if want == 0 {
                break;
            }
            let k = v.iov_len.min(want);
            // SAFETY: the lease (held in `pending` until `Sent` below) keeps
            // `iov_base..iov_base + iov_len` alive and unchanged, and `k <= iov_len`.
            let bytes = unsafe { std::slice::from_raw_parts(v.iov_base as *const u8, k) };
            c.sent.extend_from_slice(bytes);
            want -= k;
            n += k;
        }
        let lease = c.pending.take()?;
        if window != usize::MAX {
            self.window -= n;
        }
        Some(Event::Sent {
            key: Key(key),
            result: Ok(n),
            lease,
        })
    }
}

/// The driver half: owns nothing but a handle on the shared [`MemNet`].
pub(crate) struct MemDriver {
    net: Arc<Mutex<MemNet>>,
    buf: Vec<u8>,
}

impl MemDriver {
    pub(crate) fn new(net: Arc<Mutex<MemNet>>) -> MemDriver {
        MemDriver {
            net,
            buf: Vec::new(),
        }
    }
}

impl Driver for MemDriver {
    fn poll<F>(
        &mut self,
        reqs: &mut Vec<Req>,
        _timeout: Option<Duration>,
        // Nothing here blocks, so watched descriptors never end a wait: left not ready.
        _watch: &mut [libc::pollfd],
        mut on_event: F,
    ) -> io::Result<()>
    where
        F: FnMut(Event<'_>, &mut Vec<Req>),
    {
        let net = self.net.clone();
        let mut net = net.lock().unwrap_or_else(|e| e.into_inner());
        for req in reqs.drain(..) {
            net.apply(req);
        }
        while let Some(ev) = net.done.pop_front() {
            net.activity += 1;
            on_event(ev, reqs);
        }
        if let Some(&key) = net.listeners.first() {
            while let Some(fd) = net.accept_queue.pop_front() {
                net.activity += 1;
                on_event(Event::Accepted { key, fd }, reqs);
            }
        }
        // One piece per connection per turn, so requests made in reaction (StopRecv, Close)
        // apply before the next piece, as with a real receive buffer.
        for i in 0..net.conns.len() {
            let key = net.conns[i].0;
            if let Some(ev) = net.progress_send(key) {
                net.activity += 1;
                on_event(ev, reqs);
            }
            let chunk = net.recv_chunk.max(1);
            let Some(c) = net.get_mut(key) else {
                continue;
            };
            if !c.recv_on {
                continue;
            }
            if !c.inbound.is_empty() {
                let n = chunk.min(c.inbound.len());
                self.buf.clear();
                self.buf.extend(c.inbound.drain(..n));
                net.activity += 1;
                on_event(
                    Event::Received {
                        key: Key(key),
                        data: &self.buf,
                    },
                    reqs,
                );
            } else if c.eof && !c.eof_reported {
                c.eof_reported = true;
                net.activity += 1;
                on_event(
                    Event::RecvClosed {
                        key: Key(key),
                        err: None,
                    },
                    reqs,
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(d: &mut MemDriver, reqs: &mut Vec<Req>) -> Vec<String> {
        let mut seen = Vec::new();
        d.poll(reqs, None, &mut [], |ev, _| {
            seen.push(match ev {
                Event::Received { data, .. } => format!("recv {data:?}"),
                Event::RecvClosed { .. } => "eof".into(),
                Event::Sent { result, .. } => format!("sent {}", result.unwrap()),
                Event::Closed { .. } => "closed".into(),
                _ => "other".into(),
            })
        })
        .unwrap();
        seen
    }

    /// Pieces of at most `recv_chunk`, end of file after the data, sends cut by the window
    /// and stalled while it is zero, `Closed` after `Close`.
    #[test]
    fn scripted_peer() {
        let net = Arc::new(Mutex::new(MemNet::default()));
        let mut d = MemDriver::new(net.clone());
        let key = Key::new(1, 1);
        let mut reqs = vec![Req::StartRecv { key, fd: -1 }];
        assert!(collect(&mut d, &mut reqs).is_empty());
        {
            let mut n = net.lock().unwrap();
            n.recv_chunk = 2;
            n.window = 3;
            assert!(n.push_inbound(key.0, b"abc"));
            n.peer_close(key.0);
        }
        let lease = || SendLease::new(Default::default(), b"hello".to_vec(), 0);
        reqs.push(Req::Send {
            key,
            fd: -1,
            lease: lease(),
        });
        assert_eq!(collect(&mut d, &mut reqs), ["sent 3", "recv [97, 98]"]);
        reqs.push(Req::Send {
            key,
            fd: -1,
            lease: lease(),
        });
        // The window is used up: the send waits.
        assert_eq!(collect(&mut d, &mut reqs), ["recv [99]"]);
        assert_eq!(collect(&mut d, &mut reqs), ["eof"]);
        net.lock().unwrap().window = usize::MAX;
        assert_eq!(collect(&mut d, &mut reqs), ["sent 5"]);
        assert_eq!(net.lock().unwrap().take_sent(key.0), b"helhello");
        let (fd, _) = std::os::unix::net::UnixStream::pair().unwrap();
        reqs.push(Req::Close { key, fd: fd.into() });
        assert_eq!(collect(&mut d, &mut reqs), ["closed"]);
        assert_eq!(net.lock().unwrap().open_endpoints(), 0);
    }
}
