//! The message API: send and receive, single frames, multipart and batches, each
//! dispatched to the pattern by one exhaustive match (a jump, no dynamic dispatch).

#![forbid(unsafe_code)]

use super::outgoing::{Outgoing, Parts};
use super::pattern::Pattern;
use super::{lb, router, Flags, Socket, DONTWAIT_BIT, SNDMORE_BIT};
use crate::error::{Error, Result};

impl Socket {
    /// Read one frame with `f(body, more)`, blocking per flags/RCVTIMEO.
    #[inline]
    pub(super) fn recv_frame<R>(
        &mut self,
        flags: i32,
        f: impl FnMut(&[u8], bool) -> R,
    ) -> Result<R> {
        let core = &mut self.core;
        match &mut self.pattern {
            Pattern::Pair(p) => core.recv_frame(p, flags, f),
            Pattern::Dealer(p) => core.recv_frame(p, flags, f),
            Pattern::Pull(p) => core.recv_frame(p, flags, f),
            Pattern::Sub(p) | Pattern::XSub(p) => core.recv_frame(&mut **p, flags, f),
            Pattern::Router(r) => r.recv_frame(core, flags, f),
            Pattern::Stream(s) => s.recv_frame(core, flags, f),
            Pattern::XPub(p) => p.recv_frame(core, flags, f),
            Pattern::Req(r) => r.recv_frame(core, flags, f),
            Pattern::Rep(r) => r.recv_frame(core, flags, f),
            Pattern::Pub(_) | Pattern::Push(_) => Err(Error::NotSupported),
        }
    }

    /// Receive one frame into `buf`; returns the frame's full size (the copy is truncated to
    /// `buf.len()`, as zmq_recv does).
    ///
    /// # Errors
    /// `Again` with `DONTWAIT` (or when RCVTIMEO passes) and nothing queued; `NotSupported`
    /// on send-only types (PUB, PUSH); `State` where the pattern forbids it now (REQ before
    /// a request, REP before the reply); `Interrupted` when a signal ends the wait;
    /// `Terminated` once the context is shut down.
    pub fn recv(&mut self, buf: &mut [u8], flags: impl Into<Flags>) -> Result<usize> {
        let flags = flags.into().bits();
        self.recv_frame(flags, |body, _| {
            let n = body.len().min(buf.len());
            buf[..n].copy_from_slice(&body[..n]);
            body.len()
        })
    }

    /// Receive one frame and hand it to `f` in place, without copying it out of the
    /// socket's queue: `f(body, more)`; returns what `f` returns. The borrow ends with `f`,
    /// after which the frame is consumed.
    pub fn recv_with<R>(
        &mut self,
        flags: impl Into<Flags>,
        f: impl FnOnce(&[u8], bool) -> R,
    ) -> Result<R> {
        let flags = flags.into().bits();
        let mut f = Some(f);
        self.recv_frame(flags, |body, more| {
            let f = f.take().expect("recv_frame calls its callback once");
            f(body, more)
        })
    }

    /// Receive one frame as a new vector.
    ///
    /// # Errors
    /// As [`Socket::recv`].
    ///
    /// # Examples
    /// ```
    /// use ringlink::{Context, SocketType, DONTWAIT};
    /// let ctx = Context::new()?;
    /// let mut pull = ctx.socket(SocketType::Pull)?;
    /// pull.bind("inproc://recv-bytes-doc")?;
    /// let mut push = ctx.socket(SocketType::Push)?;
    /// push.connect("inproc://recv-bytes-doc")?;
    /// push.send(b"job 1", 0)?;
    /// assert_eq!(pull.recv_bytes(0)?, b"job 1");
    /// // Nothing left: a non-blocking receive says so instead of waiting.
    /// assert!(matches!(pull.recv_bytes(DONTWAIT), Err(ringlink::Error::Again)));
    /// # Ok::<(), ringlink::Error>(())
    /// ```
    pub fn recv_bytes(&mut self, flags: impl Into<Flags>) -> Result<Vec<u8>> {
        let flags = flags.into().bits();
        self.recv_frame(flags, |body, _| body.to_vec())
    }

    /// Receive one frame as a string: `Ok(Ok(text))`, or `Ok(Err(bytes))` when the frame is
    /// not UTF-8 (the frame is consumed either way, so nothing is lost; the `zmq` crate's
    /// shape).
    ///
    /// # Errors
    /// As [`Socket::recv_bytes`].
    pub fn recv_string(
        &mut self,
        flags: impl Into<Flags>,
    ) -> Result<std::result::Result<String, Vec<u8>>> {
        let flags = flags.into().bits();
        let bytes = self.recv_bytes(flags)?;
        Ok(String::from_utf8(bytes).map_err(|e| e.into_bytes()))
    }

    /// SUB/XSUB: receive messages whose first frame starts with `topic` (empty: everything).
    /// Counted, as libzmq's: each `subscribe` needs its own [`Socket::unsubscribe`].
    /// Shorthand for `set_option(SocketOption::Subscribe(..))`.
    ///
    /// # Errors
    /// `Error::InvalidArgument` on other socket types (XPUB: only with `XpubManual`).
    pub fn subscribe(&mut self, topic: impl AsRef<[u8]>) -> Result<()> {
        self.set_option(crate::options::SocketOption::Subscribe(
            topic.as_ref().to_vec(),
        ))
    }

    /// SUB/XSUB: drop one subscription made with [`Socket::subscribe`].
    ///
    /// # Errors
    /// As [`Socket::subscribe`].
    pub fn unsubscribe(&mut self, topic: impl AsRef<[u8]>) -> Result<()> {
        self.set_option(crate::options::SocketOption::Unsubscribe(
            topic.as_ref().to_vec(),
        ))
    }

    /// Receive all frames of the next message.
    ///
    /// # Errors
    /// As [`Socket::recv`] (only for the first frame: the rest of a message is queued with it).
    ///
    /// # Examples
    /// ```
    /// use ringlink::{Context, SocketType};
    /// let ctx = Context::new()?;
    /// let mut a = ctx.socket(SocketType::Pair)?;
    /// a.bind("inproc://multipart-doc")?;
    /// let mut b = ctx.socket(SocketType::Pair)?;
    /// b.connect("inproc://multipart-doc")?;
    /// b.send_multipart(&["header", "body"], 0)?;
    /// assert_eq!(a.recv_multipart(0)?, [b"header".to_vec(), b"body".to_vec()]);
    /// # Ok::<(), ringlink::Error>(())
    /// ```
    pub fn recv_multipart(&mut self, flags: impl Into<Flags>) -> Result<Vec<Vec<u8>>> {
        let flags = flags.into().bits();
        let mut parts = vec![self.recv_bytes(flags)?];
        while self.core.rcvmore {
            // The rest of the message is already queued (messages are committed whole).
            parts.push(self.recv_bytes(flags & !DONTWAIT_BIT)?);
        }
        Ok(parts)
    }

    /// Receive many messages into one buffer: frames are packed back to back, `lens[i]` is the
    /// length of frame i. Blocks (per flags/RCVTIMEO) until at least one message is ready,
    /// then takes whole messages while they fit. ROUTER messages start with the routing id
    /// frame. Returns the number of frames written; a message too big for the whole buffer
    /// fails with `MessageTooLarge(needed)` and stays queued.
    ///
    /// # Errors
    /// As [`Socket::recv`]; `MessageTooLarge` (above); `InvalidArgument` when `lens` cannot
    /// hold one message's frames; `NotSupported` on PUB, XPUB, PUSH, REQ and REP.
    ///
    /// # Examples
    /// ```
    /// use ringlink::{Context, SocketType};
    /// let ctx = Context::new()?;
    /// let mut pull = ctx.socket(SocketType::Pull)?;
    /// pull.bind("inproc://batch-doc")?;
    /// let mut push = ctx.socket(SocketType::Push)?;
    /// push.connect("inproc://batch-doc")?;
    /// assert_eq!(push.send_batch(&["a", "bb", "ccc"], 0)?, 3);
    /// let (mut buf, mut lens) = ([0u8; 4096], [0usize; 64]);
    /// let mut got = Vec::new();
    /// while got.len() < 3 {
    ///     let n = pull.recv_batch(&mut buf, &mut lens, 0)?;
    ///     let mut off = 0;
    ///     for &len in &lens[..n] {
    ///         got.push(buf[off..off + len].to_vec());
    ///         off += len;
    ///     }
    /// }
    /// assert_eq!(got, [b"a".to_vec(), b"bb".to_vec(), b"ccc".to_vec()]);
    /// # Ok::<(), ringlink::Error>(())
    /// ```
    pub fn recv_batch(
        &mut self,
        buf: &mut [u8],
        lens: &mut [usize],
        flags: impl Into<Flags>,
    ) -> Result<usize> {
        let flags = flags.into().bits();
        self.recv_batch_inner(buf, lens, None, flags)
    }

    /// Like `recv_batch`, also reporting for each frame whether more frames of the same
    /// message follow.
    pub fn recv_batch_parts(
        &mut self,
        buf: &mut [u8],
        lens: &mut [usize],
        more: &mut [bool],
        flags: impl Into<Flags>,
    ) -> Result<usize> {
        let flags = flags.into().bits();
        self.recv_batch_inner(buf, lens, Some(more), flags)
    }

    /// Non-blocking `recv_batch`: `Ok(0)` when nothing is queued.
    ///
    /// # Errors
    /// As [`Socket::recv_batch`], without `Again`.
    pub fn drain(&mut self, buf: &mut [u8], lens: &mut [usize]) -> Result<usize> {
        match self.recv_batch_inner(buf, lens, None, DONTWAIT_BIT) {
            Err(Error::Again) => Ok(0),
            r => r,
        }
    }

    fn recv_batch_inner(
        &mut self,
        buf: &mut [u8],
        lens: &mut [usize],
        more: Option<&mut [bool]>,
        flags: i32,
    ) -> Result<usize> {
        let core = &mut self.core;
        let out = |core: &super::core::Core| core.batch_out(buf, lens, more);
        match &mut self.pattern {
            Pattern::Pair(p) => {
                let mut out = out(core)?;
                core.recv_batch(p, &mut out, flags, false)
            }
            Pattern::Dealer(p) => {
                let mut out = out(core)?;
                core.recv_batch(p, &mut out, flags, false)
            }
            Pattern::Pull(p) => {
                let mut out = out(core)?;
                core.recv_batch(p, &mut out, flags, false)
            }
            Pattern::Sub(p) | Pattern::XSub(p) => {
                let mut out = out(core)?;
                core.recv_batch(&mut **p, &mut out, flags, false)
            }
            Pattern::Router(p) => {
                let mut out = out(core)?;
                core.recv_batch(p, &mut out, flags, true)
            }
            Pattern::Stream(s) => {
                let mut out = out(core)?;
                s.recv_batch(core, &mut out, flags)
            }
            Pattern::Pub(_)
            | Pattern::XPub(_)
            | Pattern::Push(_)
            | Pattern::Req(_)
            | Pattern::Rep(_) => Err(Error::NotSupported),
        }
    }

    /// Send one frame; `SNDMORE` in flags means more frames of this message follow.
    ///
    /// # Errors
    /// `Again` with `DONTWAIT` (or when SNDTIMEO passes) while every eligible peer is at its
    /// high-water mark (PAIR, DEALER and PUSH also before any peer is connected);
    /// `HostUnreachable` for an unknown routing id on ROUTER with ROUTER_MANDATORY and on
    /// STREAM; `NotSupported` on receive-only types (SUB, PULL); `State` where the pattern
    /// forbids it now (REQ awaiting a reply, REP before a request); `Interrupted` when a
    /// signal ends the wait; `Terminated` once the context is shut down.
    ///
    /// # Examples
    /// ```
    /// use ringlink::{Context, SocketType, SNDMORE};
    /// let ctx = Context::new()?;
    /// let mut router = ctx.socket(SocketType::Router)?;
    /// router.bind("inproc://send-doc")?;
    /// let mut dealer = ctx.socket(SocketType::Dealer)?;
    /// dealer.connect("inproc://send-doc")?;
    /// dealer.send(b"hello", 0)?;
    /// let id = router.recv_bytes(0)?; // ROUTER: the sender's routing id comes first
    /// assert_eq!(router.recv_bytes(0)?, b"hello");
    /// router.send(&id, SNDMORE)?;
    /// router.send(b"world", 0)?;
    /// assert_eq!(dealer.recv_bytes(0)?, b"world");
    /// # Ok::<(), ringlink::Error>(())
    /// ```
    #[inline]
    pub fn send(&mut self, data: &[u8], flags: impl Into<Flags>) -> Result<()> {
        let flags = flags.into().bits();
        self.core.check_term()?;
        let core = &mut self.core;
        let r = match &mut self.pattern {
            Pattern::Pair(p) => lb::send(p, core, data, flags),
            Pattern::Dealer(p) => lb::send(p, core, data, flags),
            Pattern::Push(p) => lb::send(p, core, data, flags),
            Pattern::Router(r) => r.send(core, data, flags),
            Pattern::Stream(s) => s.send(core, data, flags),
            Pattern::Pub(p) | Pattern::XPub(p) => p.send(core, data, flags),
            Pattern::XSub(s) => s.send(core, data, flags),
            Pattern::Req(r) => r.send(core, data, flags),
            Pattern::Rep(r) => r.send(core, data, flags),
            Pattern::Sub(_) | Pattern::Pull(_) => Err(Error::NotSupported),
        };
        if let Err(Error::Again) = r {
            self.send_blocked();
        }
        r
    }

    /// Send one frame whose body the caller already holds in shared memory, without copying
    /// it: connections over tcp/ipc send it straight from `body` (the reference is released
    /// once the kernel took the bytes); inproc peers, which read frames in place, get a copy.
    /// Bodies under 8 KiB are copied anyway (cheaper than the reference counting and the
    /// extra iovec). PUB/XPUB share one body among all subscribers. Flags, routing and errors
    /// as [`Socket::send`] (ROUTER: the routing id frame goes first with `send`).
    ///
    /// # Errors
    /// As [`Socket::send`].
    pub fn send_shared(
        &mut self,
        body: &std::sync::Arc<[u8]>,
        flags: impl Into<Flags>,
    ) -> Result<()> {
        let flags = flags.into().bits();
        if body.len() < super::dist::SHARE_MIN {
            return self.send(body, flags);
        }
        self.core.share = Some(body.clone());
        let r = self.send(body, flags);
        self.core.share = None;
        r
    }

    /// A send stopped at the high-water mark. If an event loop watches [`Socket::fd`], ask
    /// the full peers to report free space now, so the fd fires when room appears (as
    /// libzmq's does after `EAGAIN`) without the loop having to read [`Socket::events`] first.
    #[cold]
    fn send_blocked(&mut self) {
        if self.core.shared.parker.is_watched() {
            self.can_send();
        }
    }

    /// Send all parts of one message.
    ///
    /// # Errors
    /// As [`Socket::send`].
    pub fn send_multipart<T: AsRef<[u8]>>(
        &mut self,
        parts: &[T],
        flags: impl Into<Flags>,
    ) -> Result<()> {
        let flags = flags.into().bits();
        if let Pattern::Pub(p) | Pattern::XPub(p) = &mut self.pattern {
            if p.whole(&self.core, parts) {
                // One match and one commit per peer for the whole message.
                self.core.check_term()?;
                let r = p.send_parts(&mut self.core, parts, flags);
                if let Err(Error::Again) = r {
                    self.send_blocked();
                }
                return r;
            }
        }
        let n = parts.len();
        for (i, p) in parts.iter().enumerate() {
            let more = if i + 1 < n { SNDMORE_BIT } else { 0 };
            self.send(p.as_ref(), (flags & !SNDMORE_BIT) | more)?;
        }
        Ok(())
    }

    /// ROUTER and STREAM: send the message `parts` to the peer named `routing_id`. The same
    /// as `send(routing_id, SNDMORE)` followed by `send_multipart(parts)`, in one call that
    /// routes once (what a broker or gateway replying message by message pays per send).
    /// `SNDMORE` in `flags` is ignored: the message ends with its last part.
    ///
    /// # Errors
    /// As [`Socket::send`]; `InvalidArgument` without parts; `State` while a message begun
    /// with `send(.., SNDMORE)` is unfinished; `NotSupported` on other socket types.
    ///
    /// # Examples
    /// ```
    /// # fn main() -> ringlink::Result<()> {
    /// use ringlink::{Context, SocketOption, SocketType};
    /// let ctx = Context::new()?;
    /// let mut router = ctx.socket(SocketType::Router)?;
    /// router.bind("inproc://send-routed-doc")?;
    /// let mut dealer = ctx.socket(SocketType::Dealer)?;
    /// dealer.set_option(SocketOption::RoutingId(b"worker-1".to_vec()))?;
    /// dealer.connect("inproc://send-routed-doc")?;
    /// dealer.send(b"ready", 0)?;
    /// let _hello = router.recv_multipart(0)?;
    /// router.send_routed(b"worker-1", &[&b"job"[..], b"42"], 0)?;
    /// assert_eq!(dealer.recv_multipart(0)?, vec![b"job".to_vec(), b"42".to_vec()]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn send_routed<T: AsRef<[u8]>>(
        &mut self,
        routing_id: &[u8],
        parts: &[T],
        flags: impl Into<Flags>,
    ) -> Result<()> {
        let flags = flags.into().bits() & !SNDMORE_BIT;
        if parts.is_empty() {
            return Err(Error::invalid("a routed message needs a frame"));
        }
        self.core.check_term()?;
        let r = match &mut self.pattern {
            Pattern::Router(r) => r.send_parts(&mut self.core, routing_id, parts, flags),
            Pattern::Stream(_) => {
                // STREAM's id frame also opens and closes connections: its own `send` path.
                return self
                    .send(routing_id, flags | SNDMORE_BIT)
                    .and_then(|()| self.send_multipart(parts, flags));
            }
            Pattern::Pair(_)
            | Pattern::Dealer(_)
            | Pattern::Pub(_)
            | Pattern::XPub(_)
            | Pattern::Sub(_)
            | Pattern::XSub(_)
            | Pattern::Push(_)
            | Pattern::Pull(_)
            | Pattern::Req(_)
            | Pattern::Rep(_) => Err(Error::NotSupported),
        };
        if let Err(Error::Again) = r {
            self.send_blocked();
        }
        r
    }

    /// Send each item as a single-frame message with one hand-off per peer for the whole
    /// batch. Returns how many were sent (fewer only with DONTWAIT or SNDTIMEO).
    ///
    /// # Errors
    /// As [`Socket::send`], returned only when not even the first message could go;
    /// `NotSupported` on types without a batch path (ROUTER and STREAM use
    /// [`Socket::send_routed_batch`]).
    pub fn send_batch<T: AsRef<[u8]>>(
        &mut self,
        msgs: &[T],
        flags: impl Into<Flags>,
    ) -> Result<usize> {
        let flags = flags.into().bits();
        self.send_many(msgs.len(), flags, |i| msgs[i].as_ref())
    }

    /// Send `payload` `count` times (single-frame messages), batched like `send_batch`.
    ///
    /// # Errors
    /// As [`Socket::send_batch`].
    pub fn send_repeat(
        &mut self,
        payload: &[u8],
        count: usize,
        flags: impl Into<Flags>,
    ) -> Result<usize> {
        let flags = flags.into().bits();
        self.send_many(count, flags, |_| payload)
    }

    /// Send each of `msgs` (each a list of frames) as one multipart message, batched like
    /// `send_batch`: one pass and one hand-off per peer for the whole batch, where
    /// `send_multipart` per message publishes each (PUB: a topic frame and a payload).
    /// Returns how many were sent (fewer only with DONTWAIT or SNDTIMEO).
    ///
    /// # Errors
    /// As [`Socket::send_batch`]; `InvalidArgument` if a message has no frames.
    ///
    /// # Examples
    /// ```
    /// use ringlink::{Context, SocketType};
    /// let ctx = Context::new()?;
    /// let mut pull = ctx.socket(SocketType::Pull)?;
    /// pull.bind("inproc://batch-parts-doc")?;
    /// let mut push = ctx.socket(SocketType::Push)?;
    /// push.connect("inproc://batch-parts-doc")?;
    /// let msgs = [[&b"t"[..], b"1"], [b"t", b"2"]];
    /// assert_eq!(push.send_batch_parts(&msgs, 0)?, 2);
    /// assert_eq!(pull.recv_multipart(0)?, [b"t".to_vec(), b"1".to_vec()]);
    /// assert_eq!(pull.recv_multipart(0)?, [b"t".to_vec(), b"2".to_vec()]);
    /// # Ok::<(), ringlink::Error>(())
    /// ```
    pub fn send_batch_parts<M: AsRef<[P]>, P: AsRef<[u8]>>(
        &mut self,
        msgs: &[M],
        flags: impl Into<Flags>,
    ) -> Result<usize> {
        let flags = flags.into().bits();
        if msgs.iter().any(|m| m.as_ref().is_empty()) {
            return Err(Error::invalid("a message needs a frame"));
        }
        self.send_many(msgs.len(), flags, |i| Parts(msgs[i].as_ref()))
    }

    fn send_many<M: Outgoing>(
        &mut self,
        count: usize,
        flags: i32,
        item: impl Fn(usize) -> M,
    ) -> Result<usize> {
        self.core.check_term()?;
        let core = &mut self.core;
        let r = match &mut self.pattern {
            Pattern::Pub(p) | Pattern::XPub(p) => p.send_many(core, count, flags, item),
            Pattern::Pair(p) => lb::send_many(p, core, count, flags, item),
            Pattern::Dealer(p) => lb::send_many(p, core, count, flags, item),
            Pattern::Push(p) => lb::send_many(p, core, count, flags, item),
            Pattern::Router(_)
            | Pattern::Stream(_)
            | Pattern::Sub(_)
            | Pattern::XSub(_)
            | Pattern::Pull(_)
            | Pattern::Req(_)
            | Pattern::Rep(_) => Err(Error::NotSupported),
        };
        if matches!(r, Err(Error::Again)) || matches!(r, Ok(n) if n < count) {
            self.send_blocked();
        }
        r
    }

    /// ROUTER (and STREAM, always mandatory, an empty payload closing the peer as in `send`):
    /// send each `(routing id, payload)` as a one-frame message to that peer, with
    /// one hand-off per peer for the whole batch. Routing follows `send`: an unknown id or a
    /// full peer drops the message (still counted) unless ROUTER_MANDATORY, where an unknown
    /// id ends the batch with `HostUnreachable` and a full peer blocks (or ends it with
    /// `Again` under DONTWAIT/SNDTIMEO). Returns how many were handled; an error is returned
    /// only if it hits the first message.
    pub fn send_routed_batch<R: AsRef<[u8]>, P: AsRef<[u8]>>(
        &mut self,
        msgs: &[(R, P)],
        flags: impl Into<Flags>,
    ) -> Result<usize> {
        self.send_routed_batch_of(msgs, flags.into().bits())
    }

    /// ROUTER and STREAM: send each of `payloads` as a one-frame message to the peer
    /// `routing_id`, as [`Socket::send_routed_batch`] with that id on every message but
    /// without an id per message to build or compare (a gateway's run for one provider).
    ///
    /// # Errors
    /// As [`Socket::send_routed_batch`].
    ///
    /// # Examples
    /// ```
    /// use ringlink::{Context, SocketOption, SocketType};
    /// let ctx = Context::new()?;
    /// let mut router = ctx.socket(SocketType::Router)?;
    /// router.set_option(SocketOption::RouterMandatory(true))?;
    /// router.bind("inproc://routed-many-doc")?;
    /// let mut dealer = ctx.socket(SocketType::Dealer)?;
    /// dealer.set_option(SocketOption::RoutingId(b"w1".to_vec()))?;
    /// dealer.connect("inproc://routed-many-doc")?;
    /// dealer.send(b"ready", 0)?;
    /// router.recv_multipart(0)?; // the peer is known from here on
    /// assert_eq!(router.send_routed_many(b"w1", &["a", "b"], 0)?, 2);
    /// assert_eq!(router.send_routed_repeat(b"w1", b"c", 2, 0)?, 2);
    /// for want in ["a", "b", "c", "c"] {
    ///     assert_eq!(dealer.recv_multipart(0)?, [want.as_bytes().to_vec()]);
    /// }
    /// # Ok::<(), ringlink::Error>(())
    /// ```
    pub fn send_routed_many<P: AsRef<[u8]>>(
        &mut self,
        routing_id: &[u8],
        payloads: &[P],
        flags: impl Into<Flags>,
    ) -> Result<usize> {
        let one = router::OnePeer {
            rid: routing_id,
            count: payloads.len(),
            payload: |i: usize| payloads[i].as_ref(),
        };
        self.send_routed_batch_of(&one, flags.into().bits())
    }

    /// ROUTER and STREAM: send `payload` `count` times to the peer `routing_id`, as
    /// [`Socket::send_routed_many`].
    ///
    /// # Errors
    /// As [`Socket::send_routed_batch`].
    pub fn send_routed_repeat(
        &mut self,
        routing_id: &[u8],
        payload: &[u8],
        count: usize,
        flags: impl Into<Flags>,
    ) -> Result<usize> {
        let one = router::OnePeer {
            rid: routing_id,
            count,
            payload: |_| payload,
        };
        self.send_routed_batch_of(&one, flags.into().bits())
    }

    fn send_routed_batch_of<B: router::RoutedBatch + ?Sized>(
        &mut self,
        msgs: &B,
        flags: i32,
    ) -> Result<usize> {
        self.core.check_term()?;
        let core = &mut self.core;
        let r = match &mut self.pattern {
            Pattern::Router(r) => {
                let mandatory = core.opts.router_mandatory;
                router::send_batch(
                    r,
                    core,
                    msgs,
                    flags,
                    mandatory,
                    true,
                    |_, core, s, data, t, n| {
                        core.batch_write(s, &data, t, n);
                        Ok(())
                    },
                )
            }
            Pattern::Stream(s) => s.send_batch(core, msgs, flags),
            Pattern::Pair(_)
            | Pattern::Dealer(_)
            | Pattern::Pub(_)
            | Pattern::XPub(_)
            | Pattern::Sub(_)
            | Pattern::XSub(_)
            | Pattern::Push(_)
            | Pattern::Pull(_)
            | Pattern::Req(_)
            | Pattern::Rep(_) => Err(Error::NotSupported),
        };
        if matches!(r, Err(Error::Again)) || matches!(r, Ok(n) if n < msgs.len()) {
            self.send_blocked();
        }
        r
    }
}
