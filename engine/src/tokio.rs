//! tokio integration (feature `tokio`): [`AsyncSocket`], a socket whose sends and receives
//! are futures, woken through the socket's readiness fd ([`Socket::fd`], libzmq's `ZMQ_FD`)
//! registered with tokio's reactor (`AsyncFd`).
//!
//! ```no_run
//! # async fn demo() -> ringlink::Result<()> {
//! use ringlink::{tokio::AsyncSocket, Context, SocketType};
//! let ctx = Context::new()?;
//! let mut server = AsyncSocket::new(ctx.socket(SocketType::Pair)?)?;
//! server.get_mut().bind("tcp://127.0.0.1:*")?;
//! let mut client = AsyncSocket::new(ctx.socket(SocketType::Pair)?)?;
//! client.get_mut().connect(&server.get_ref().last_endpoint().unwrap())?;
//! client.send(b"hello").await?;
//! assert_eq!(server.recv().await?, b"hello");
//! # Ok(()) }
//! ```
//!
//! How it waits: every operation is first tried without blocking; on `Again` the future
//! waits for the fd, then reads [`Socket::events`] (which re-arms the fd) and tries again
//! only if the socket became ready for it. Nothing is taken from or given to the socket
//! while a future waits, so every future here is cancellation-safe: dropping it (a
//! `select!` branch that lost, a `timeout`) loses no message and sends none.
//!
//! Socket timeouts (RCVTIMEO/SNDTIMEO) do not apply: wrap a call in `tokio::time::timeout`.
//! The context needs reactor threads (`io_threads` >= 1, the default): an inline context
//! does its I/O only inside calls on its sockets, so nothing would ever wake a waiting
//! future; [`AsyncSocket::new`] refuses such a socket.

use ::tokio::io::unix::AsyncFd;
use ::tokio::io::Interest;

use crate::{Error, PollEvents, Result, Socket, DONTWAIT, POLLIN, POLLOUT};

/// A [`Socket`] with awaitable sends and receives, for a tokio runtime (see the module
/// docs). One task uses it at a time (`&mut self`), as a plain socket.
#[derive(Debug)]
pub struct AsyncSocket {
    /// Registered through `Socket`'s `AsRawFd`: its readiness fd.
    inner: AsyncFd<Socket>,
}

impl AsyncSocket {
    /// Register `socket`'s readiness fd with the current tokio runtime.
    ///
    /// # Errors
    /// `Error::NotSupported` if the socket's context is inline (no reactor threads);
    /// `Error::Io` if tokio cannot register the fd.
    ///
    /// # Panics
    /// Outside a tokio runtime (as tokio's own I/O types).
    pub fn new(socket: Socket) -> Result<AsyncSocket> {
        if socket.is_inline() {
            return Err(Error::NotSupported);
        }
        // SAFETY: `Socket::as_raw_fd` is the eventfd its parker owns; the socket keeps that
        // parker (and so the fd, open and unchanged) alive as long as it exists, and the
        // `AsyncFd` owns the socket until it is dropped or `into_inner` returns it.
        let inner = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }
            .map_err(|e| Error::Io(e.into_parts().1))?;
        Ok(AsyncSocket { inner })
    }

    /// The socket, for options, bind/connect and introspection.
    pub fn get_ref(&self) -> &Socket {
        self.inner.get_ref()
    }

    /// The socket, mutably (options, bind/connect, non-blocking calls).
    pub fn get_mut(&mut self) -> &mut Socket {
        self.inner.get_mut()
    }

    /// Deregister from tokio and give the socket back.
    pub fn into_inner(self) -> Socket {
        self.inner.into_inner()
    }

    /// Run `op` (a non-blocking call) until it does not fail with `Again`, waiting for the
    /// socket to report `want` (`POLLIN` / `POLLOUT`) in between.
    async fn io<R>(
        &mut self,
        want: PollEvents,
        mut op: impl FnMut(&mut Socket) -> Result<R>,
    ) -> Result<R> {
        loop {
            match op(self.inner.get_mut()) {
                Err(Error::Again) => {}
                r => return r,
            }
            let mut guard = self.inner.readable_mut().await.map_err(Error::Io)?;
            // Reading the events resets the fd before the state is checked, so a change
            // after this point signals it again.
            if !guard.get_inner_mut().events()?.intersects(want) {
                guard.clear_ready();
            }
        }
    }

    /// Wait until the socket reports any of `events` (`POLLIN` / `POLLOUT`); returns the
    /// events it reports then.
    ///
    /// # Errors
    /// `Error::Terminated` once the context is shut down; `Error::Io` from tokio.
    pub async fn poll(&mut self, events: impl Into<PollEvents>) -> Result<PollEvents> {
        let events = events.into();
        self.io(events, |s| match s.events()? & events {
            ev if ev.is_empty() => Err(Error::Again),
            ev => Ok(ev),
        })
        .await
    }

    /// Send a single-frame message.
    ///
    /// # Errors
    /// As [`Socket::send`] without `Again`.
    pub async fn send(&mut self, data: &[u8]) -> Result<()> {
        self.io(POLLOUT, |s| s.send(data, DONTWAIT)).await
    }

    /// Send a multipart message (all frames, or none if the future is dropped first).
    ///
    /// # Errors
    /// As [`Socket::send_multipart`] without `Again`.
    pub async fn send_multipart<T: AsRef<[u8]>>(&mut self, parts: &[T]) -> Result<()> {
        self.io(POLLOUT, |s| s.send_multipart(parts, DONTWAIT))
            .await
    }

    /// Send many single-frame messages with one hand-off per peer; returns how many went
    /// (at least one; call again with the rest).
    ///
    /// # Errors
    /// As [`Socket::send_batch`] without `Again`.
    pub async fn send_batch<T: AsRef<[u8]>>(&mut self, msgs: &[T]) -> Result<usize> {
        if msgs.is_empty() {
            return Ok(0);
        }
        self.io(POLLOUT, |s| s.send_batch(msgs, DONTWAIT)).await
    }

    /// Receive one frame ([`Socket::rcvmore`] tells whether more of the message follows).
    ///
    /// # Errors
    /// As [`Socket::recv_bytes`] without `Again`.
    pub async fn recv(&mut self) -> Result<Vec<u8>> {
        self.io(POLLIN, |s| s.recv_bytes(DONTWAIT)).await
    }

    /// Receive one frame and hand it to `f` in place (no copy by ringlink).
    ///
    /// # Errors
    /// As [`Socket::recv_with`] without `Again`.
    pub async fn recv_with<R>(&mut self, f: impl FnOnce(&[u8], bool) -> R) -> Result<R> {
        let mut f = Some(f);
        self.io(POLLIN, |s| {
            s.recv_with(DONTWAIT, |body, more| {
                (f.take().expect("called once per message"))(body, more)
            })
        })
        .await
    }

    /// Receive a whole multipart message.
    ///
    /// # Errors
    /// As [`Socket::recv_multipart`] without `Again`.
    pub async fn recv_multipart(&mut self) -> Result<Vec<Vec<u8>>> {
        self.io(POLLIN, |s| s.recv_multipart(DONTWAIT)).await
    }

    /// Wait for at least one message, then take every ready message that fits, packed into
    /// `buf` with their lengths in `lens` (see [`Socket::recv_batch`]); returns the number of
    /// frames.
    ///
    /// # Errors
    /// As [`Socket::recv_batch`] without `Again` (`MessageTooLarge` leaves the message
    /// queued).
    pub async fn recv_batch(&mut self, buf: &mut [u8], lens: &mut [usize]) -> Result<usize> {
        self.io(POLLIN, |s| s.recv_batch(buf, lens, DONTWAIT)).await
    }
}
