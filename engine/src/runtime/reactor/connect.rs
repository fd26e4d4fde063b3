//! Connection set-up: accepted descriptors, name resolution, connect attempts, the
//! handshake start and the wiring to the socket once it completes.

use super::*;

impl State {
    pub(super) fn adopt(
        &mut self,
        sock: Arc<SocketShared>,
        opts: Arc<SockOpts>,
        fd: OwnedFd,
        endpoint: String,
        reqs: &mut Vec<Req>,
    ) {
        let family = sys::local_addr(fd.as_raw_fd())
            .map(|a| a.family())
            .unwrap_or(libc::AF_INET);
        if let Err(e) = sys::tune_stream(fd.as_raw_fd(), family, opts.sndbuf, opts.rcvbuf) {
            log::warn!("tuning accepted socket failed: {e}");
        }
        let slot = self.add_conn(sock, opts, endpoint, Some(fd), 0, None, None);
        self.start_handshake(slot, reqs);
    }

    /// Start a connection attempt: resolve the host name first (on a thread of its own, so a
    /// slow DNS answer stalls no other connection), then connect.
    pub(super) fn start_connect(&mut self, slot: usize, reqs: &mut Vec<Req>) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        let gen = c.gen;
        let Some(ci) = c.connect.as_mut() else { return };
        match &ci.target {
            crate::transport::Target::Addr(a) => {
                ci.addr = Some(a.clone());
                self.connect_addr(slot, reqs);
            }
            crate::transport::Target::Host { .. } => {
                if ci.resolving {
                    return;
                }
                ci.resolving = true;
                let target = ci.target.clone();
                let handle = self.peers.handles[self.index].clone();
                let spawned = sys::with_signals_blocked(|| {
                    std::thread::Builder::new()
                        .name("ringlink-resolve".into())
                        .spawn(move || {
                            let result = target.resolve().map_err(|e| e.to_string());
                            handle.send(Cmd::Resolved { slot, gen, result });
                        })
                });
                if let Err(e) = spawned {
                    ci.resolving = false;
                    log::warn!("cannot start a resolver thread: {e}");
                    self.retry_connect(slot);
                }
            }
        }
    }

    /// A resolver thread answered for connection `slot`.
    pub(super) fn resolved(
        &mut self,
        slot: usize,
        gen: u32,
        result: std::result::Result<SockAddr, String>,
        reqs: &mut Vec<Req>,
    ) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        if c.gen != gen || c.closing {
            return;
        }
        let Some(ci) = c.connect.as_mut() else { return };
        ci.resolving = false;
        if ci.stopped {
            return;
        }
        match result {
            Ok(addr) => {
                ci.addr = Some(addr);
                self.connect_addr(slot, reqs);
            }
            Err(e) => {
                log::warn!("{}: {e}", c.endpoint);
                self.retry_connect(slot);
            }
        }
    }

    /// Schedule the next attempt of a connection that never got a descriptor (its name did
    /// not resolve), as after a refused connection.
    pub(super) fn retry_connect(&mut self, slot: usize) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        let gen = c.gen;
        let Some(ci) = c.connect.as_mut() else { return };
        let base = c.opts.reconnect_ivl.unwrap_or(Duration::from_millis(100));
        let wait = ci.next_ivl + jitter(base);
        if let Some(max) = c.opts.reconnect_ivl_max {
            ci.next_ivl = (ci.next_ivl * 2).min(max.max(base));
        }
        c.sock
            .event(MonitorEventKind::ConnectRetried(wait), &c.endpoint, None);
        self.timer(Instant::now() + wait, slot, gen, TimerKind::Reconnect);
    }

    /// Open a socket and connect it to the attempt's address.
    pub(super) fn connect_addr(&mut self, slot: usize, reqs: &mut Vec<Req>) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        let Some(ci) = c.connect.as_ref() else { return };
        let Some(addr) = ci.addr.clone() else { return };
        let key = Key::new(slot, c.gen);
        match sys::stream_socket(addr.family()) {
            Ok(fd) => {
                if let Err(e) =
                    sys::tune_stream(fd.as_raw_fd(), addr.family(), c.opts.sndbuf, c.opts.rcvbuf)
                        .and_then(|()| sys::cap_segment(fd.as_raw_fd(), addr.family()))
                {
                    log::warn!("tuning socket failed: {e}");
                }
                c.raw = fd.as_raw_fd();
                c.fd = Some(fd);
                c.phase = Phase::Connecting;
                c.sock
                    .event(MonitorEventKind::ConnectDelayed, &c.endpoint, None);
                reqs.push(Req::Connect {
                    key,
                    fd: c.raw,
                    addr,
                });
            }
            Err(e) => {
                log::warn!("socket() failed: {e}");
                let gen = c.gen;
                let at = Instant::now() + ci.next_ivl;
                self.timer(at, slot, gen, TimerKind::Reconnect);
            }
        }
    }

    pub(super) fn start_handshake(&mut self, slot: usize, reqs: &mut Vec<Req>) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        c.wire = self
            .peers
            .wire_transform(c.connect.is_some())
            .map(|t| Box::new(wire::WireConn::new(t)));
        if c.sock.ty == SocketType::Stream {
            // Raw TCP: no greeting, the connection is usable at once.
            c.stream = Some(StreamSession::new(
                c.opts.stream_framing,
                c.opts.max_msg_size,
                sys::physical_memory(),
            ));
            reqs.push(Req::StartRecv {
                key: Key::new(slot, c.gen),
                fd: c.raw,
            });
            let info = PeerInfo {
                socket_type: SocketType::Stream,
                identity: Vec::new(),
                metadata: Default::default(),
                v31: true,
            };
            self.established(slot, info, reqs);
            return;
        }
        c.zmtp.start_handshake(HandshakeConfig {
            socket_type: c.sock.ty,
            identity: c.opts.routing_id.clone(),
        });
        c.phase = Phase::Handshake;
        let key = Key::new(slot, c.gen);
        reqs.push(Req::StartRecv { key, fd: c.raw });
        if let Some(ivl) = c.opts.handshake_ivl {
            let gen = c.gen;
            self.timer(Instant::now() + ivl, slot, gen, TimerKind::Handshake);
        }
        self.flush(slot, reqs);
    }

    /// The handshake completed: wire the connection to its socket.
    pub(super) fn established(&mut self, slot: usize, info: PeerInfo, reqs: &mut Vec<Req>) {
        let reactor = self.index;
        let peers = self.peers.clone();
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        c.phase = Phase::Active;
        if matches!(c.sock.ty, SocketType::Sub | SocketType::XSub) {
            // Every (re)connection starts with the whole subscription set.
            let subs = c.sock.subs.lock().unwrap();
            for topic in subs.topics.keys() {
                c.zmtp.queue_subscription(true, topic);
            }
            c.subs_seq = subs.seq;
        }
        if let Some(ci) = c.connect.as_mut() {
            ci.next_ivl = c.opts.reconnect_ivl.unwrap_or(Duration::from_millis(100));
        }
        if c.stream.is_none() && (c.opts.heartbeat_ivl.is_some() || c.opts.heartbeat_ttl.is_some())
        {
            let cfg = HeartbeatConfig {
                ivl: c.opts.heartbeat_ivl,
                ttl: c.opts.heartbeat_ttl,
                timeout: c.opts.heartbeat_timeout,
            };
            c.zmtp.start_heartbeat(&cfg, Instant::now());
            if let Some(at) = c.zmtp.poll_timeout() {
                c.hb_timer = Some(at);
                let gen = c.gen;
                self.timers
                    .push(Reverse((at, slot, gen, TimerKind::Heartbeat)));
            }
        }
        let persistent = c.connect.as_ref().is_some_and(|ci| ci.persistent);
        if !persistent {
            let id = peers.peer_id();
            let (out_w, out_r) = pipe::pipe(c.opts.sndhwm);
            let (in_w, in_r) = pipe::pipe(c.opts.rcvhwm);
            c.peer_id = id;
            c.out = Some(out_r);
            c.inn = Some(in_w);
            let alias = c.connect.as_ref().and_then(|ci| ci.alias.clone());
            let remote = match sys::peer_addr(c.raw).ok().and_then(|a| a.to_inet()) {
                Some(a) => crate::transport::endpoint_string(&sys::SockAddr::from_inet(a), None),
                None => c.endpoint.clone(),
            };
            c.sock.attach(NewPeer {
                remote,
                id,
                out: out_w,
                inn: in_r,
                identity: info.identity.clone(),
                alias,
                link: crate::runtime::shared::Link::Reactor(reactor),
            });
            self.by_peer.insert(id, slot);
        }
        let peer_id = c
            .connect
            .as_ref()
            .and_then(|ci| ci.alias.clone())
            .unwrap_or_else(|| info.identity.clone());
        c.sock.event(
            MonitorEventKind::HandshakeSucceeded,
            &c.endpoint,
            Some(&peer_id),
        );
        self.flush(slot, reqs);
    }
}

/// Random extra wait (up to `base`) so many clients do not reconnect in lockstep.
pub(super) fn jitter(base: Duration) -> Duration {
    let ms = base.as_millis() as u64;
    if ms == 0 {
        return Duration::ZERO;
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let x = (seed ^ ((std::process::id() as u64) << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    Duration::from_millis((x >> 33) % ms)
}
