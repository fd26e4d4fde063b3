//! `poll` over sockets and raw file descriptors (`zmq_poll`).

#![forbid(unsafe_code)]

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use super::{PollEvents, Socket, POLLERR, POLLIN, POLLOUT};
use crate::error::Result;
use crate::runtime::hub::Hub;
use crate::runtime::shared::{Parker, SocketShared};

/// One entry of [`poll`]: a ringlink socket or a raw file descriptor, the events asked for,
/// and (after the call) the events that are ready.
pub struct PollItem<'a> {
    socket: Option<&'a mut Socket>,
    fd: RawFd,
    /// `POLLIN` | `POLLOUT` (| `POLLERR` for raw fds).
    pub events: PollEvents,
    /// Filled by `poll`.
    pub revents: PollEvents,
}

impl<'a> PollItem<'a> {
    /// Poll a ringlink socket.
    pub fn socket(s: &'a mut Socket, events: impl Into<PollEvents>) -> PollItem<'a> {
        PollItem {
            socket: Some(s),
            fd: -1,
            events: events.into(),
            revents: PollEvents::empty(),
        }
    }

    /// Poll a raw file descriptor (POLLIN/POLLOUT/POLLERR as in poll(2)).
    pub fn fd(fd: RawFd, events: impl Into<PollEvents>) -> PollItem<'a> {
        PollItem {
            socket: None,
            fd,
            events: events.into(),
            revents: PollEvents::empty(),
        }
    }
}

/// Wait until at least one item is ready or `timeout` passes (None = forever; zero = just
/// check), like `zmq_poll`. Returns the number of ready items (0 on timeout). Sockets of
/// inline contexts are driven while waiting (the raw fds are watched by the reactor's own
/// wait then). A signal ends the wait with `Error::Interrupted`.
///
/// # Errors
/// `Interrupted` (above); `Terminated` when a polled socket's context is shut down; `Io`
/// from poll(2) on the raw fds.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringlink::{poll, Context, PollItem, SocketType, POLLIN};
/// let ctx = Context::new()?;
/// let mut a = ctx.socket(SocketType::Pair)?;
/// a.bind("inproc://poll-doc")?;
/// let mut b = ctx.socket(SocketType::Pair)?;
/// b.connect("inproc://poll-doc")?;
/// b.send(b"ready", 0)?;
/// let mut items = [PollItem::socket(&mut a, POLLIN)];
/// assert_eq!(poll(&mut items, Some(Duration::from_secs(10)))?, 1);
/// assert!(items[0].revents.contains(POLLIN));
/// assert_eq!(a.recv_bytes(0)?, b"ready");
/// # Ok::<(), ringlink::Error>(())
/// ```
pub fn poll(items: &mut [PollItem<'_>], timeout: Option<Duration>) -> Result<usize> {
    let deadline = timeout.map(|t| Instant::now() + t);
    // Allocates only when raw fds are polled: a poll that finds a socket ready costs no
    // allocation (it runs once per message in poll-driven loops).
    let mut raw: Vec<libc::pollfd> = Vec::new();
    loop {
        let mut ready = 0;
        let mut inline_ctx: Option<Hub> = None;
        raw.clear();
        for it in items.iter_mut() {
            it.revents = PollEvents::empty();
            if let Some(s) = it.socket.as_deref_mut() {
                s.core.shared.parker.watch();
                it.revents = s.events()? & it.events;
                if s.core.inline && inline_ctx.is_none() {
                    inline_ctx = Some(s.core.hub.clone());
                }
                if !it.revents.is_empty() {
                    ready += 1;
                }
            }
        }
        // The raw fds, checked now (zero wait) or waited for below.
        for it in items.iter().filter(|it| it.socket.is_none()) {
            raw.push(libc::pollfd {
                fd: it.fd,
                events: (it.events & (POLLIN | POLLOUT)).bits(),
                revents: 0,
            });
        }
        let expired = deadline.is_some_and(|d| Instant::now() >= d);
        if ready > 0 || expired {
            if !raw.is_empty() {
                crate::backend::sys::poll_fds_ms(&mut raw, 0)?;
            }
            return Ok(ready + take_raw_revents(items, &raw));
        }
        match inline_ctx.as_ref().and_then(|c| c.inline()) {
            Some(inline) => {
                // Lead the reactor (or follow its leader) until a socket has news or a raw
                // fd is ready.
                let parkers: Vec<&Parker> = items
                    .iter()
                    .filter_map(|it| it.socket.as_deref().map(|s| &s.core.shared.parker))
                    .collect();
                let shareds: Vec<&SocketShared> = items
                    .iter()
                    .filter_map(|it| it.socket.as_deref().map(|s| &*s.core.shared))
                    .collect();
                let mut news = || shareds.iter().any(|s| s.has_pending());
                inline.wait(&parkers, &mut raw, deadline, &mut news)?;
            }
            None => {
                // Each socket's parker eventfd, then the raw fds.
                let mut all: Vec<libc::pollfd> = items
                    .iter()
                    .filter_map(|it| it.socket.as_deref())
                    .map(|s| libc::pollfd {
                        fd: s.core.shared.parker.fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    })
                    .collect();
                let sockets = all.len();
                all.extend_from_slice(&raw);
                let ms = crate::backend::sys::timeout_ms(
                    deadline.map(|d| d.saturating_duration_since(Instant::now())),
                );
                crate::backend::sys::poll_fds_ms(&mut all, ms)?;
                raw.copy_from_slice(&all[sockets..]);
            }
        }
        let n = take_raw_revents(items, &raw);
        if n > 0 {
            // Sockets may have become ready too: report them in the same call.
            for it in items.iter_mut() {
                if let Some(s) = it.socket.as_deref_mut() {
                    it.revents = s.events()? & it.events;
                }
            }
            return Ok(items.iter().filter(|it| !it.revents.is_empty()).count());
        }
    }
}

/// Copy the raw fds' `poll(2)` results into their items (in item order; `raw` holds the raw
/// items only); returns how many are ready.
fn take_raw_revents(items: &mut [PollItem<'_>], raw: &[libc::pollfd]) -> usize {
    let mut n = 0;
    for (it, p) in items.iter_mut().filter(|it| it.socket.is_none()).zip(raw) {
        let mut r = PollEvents::from(p.revents & (libc::POLLIN | libc::POLLOUT)) & it.events;
        if p.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
            r |= POLLERR;
        }
        it.revents = r;
        if !r.is_empty() {
            n += 1;
        }
    }
    n
}
