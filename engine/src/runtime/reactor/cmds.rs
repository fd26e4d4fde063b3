//! Commands from sockets and events from the driver, dispatched to the connection code.

use super::*;

impl State {
    pub(super) fn on_cmd(&mut self, cmd: Cmd, reqs: &mut Vec<Req>) {
        match cmd {
            Cmd::Listen {
                sock,
                opts,
                fd,
                endpoint,
                ipc_path,
            } => self.listen(sock, opts, fd, endpoint, ipc_path, reqs),
            Cmd::Connect {
                sock,
                opts,
                target,
                endpoint,
                alias,
                pipes,
            } => {
                let persistent = pipes.is_some();
                let (peer_id, out, inn) = match pipes {
                    Some((id, r, w)) => (id, Some(r), Some(w)),
                    None => (0, None, None),
                };
                let ivl = opts.reconnect_ivl.unwrap_or(Duration::from_millis(100));
                let slot = self.add_conn(sock, opts, endpoint, None, peer_id, out, inn);
                if let Some(Ep::Conn(c)) = self.eps.get_mut(slot) {
                    c.connect = Some(ConnectInfo {
                        target,
                        addr: None,
                        resolving: false,
                        alias,
                        persistent,
                        next_ivl: ivl,
                        stopped: false,
                    });
                }
                self.start_connect(slot, reqs);
            }
            Cmd::Adopt {
                sock,
                opts,
                fd,
                endpoint,
            } => {
                self.adopt(sock, opts, fd, endpoint, reqs);
            }
            Cmd::Resolved { slot, gen, result } => self.resolved(slot, gen, result, reqs),
            Cmd::Flush(peer) => {
                if let Some(&slot) = self.by_peer.get(&peer) {
                    self.flush(slot, reqs);
                }
            }
            Cmd::Resume(peer) => {
                if let Some(&slot) = self.by_peer.get(&peer) {
                    self.resume(slot, reqs);
                }
            }
            Cmd::Reject(peer) => {
                if let Some(&slot) = self.by_peer.get(&peer) {
                    if let Some(Ep::Conn(c)) = self.eps.get_mut(slot) {
                        if let Some(ci) = c.connect.as_mut() {
                            ci.stopped = true;
                        }
                    }
                    self.disconnect(slot, CloseReason::Rejected, reqs);
                }
            }
            Cmd::Unbind { sock, endpoint } => self.unbind(sock, &endpoint, reqs),
            Cmd::Disconnect { sock, endpoint } => self.disconnect_endpoint(sock, &endpoint, reqs),
            Cmd::Subscribe {
                sock,
                seq,
                topic,
                on,
            } => self.subscribe(sock, seq, &topic, on, reqs),
            Cmd::CloseSocket { sock, linger, ack } => {
                self.close_socket(sock, linger, reqs);
                if let Some(a) = ack {
                    self.close_acks.push((sock, a));
                }
            }
            Cmd::Stop => self.stopping = true,
        }
    }

    fn listen(
        &mut self,
        sock: Arc<SocketShared>,
        opts: Arc<SockOpts>,
        fd: OwnedFd,
        endpoint: String,
        ipc_path: Option<String>,
        reqs: &mut Vec<Req>,
    ) {
        let entry = self.eps.vacant_entry();
        let slot = entry.key();
        let raw = fd.as_raw_fd();
        if self.gens.len() <= slot {
            self.gens.resize(slot + 1, 0);
        }
        self.gens[slot] = self.gens[slot].wrapping_add(1) & 0xFF_FFFF;
        let gen = self.gens[slot];
        sock.event(MonitorEventKind::Listening, &endpoint, None);
        entry.insert(Ep::Listener(Listener {
            gen,
            sock,
            opts,
            fd: Some(fd),
            endpoint,
            ipc_path,
            accept_retry: Duration::ZERO,
        }));
        reqs.push(Req::Listen {
            key: Key::new(slot, gen),
            fd: raw,
        });
    }

    /// `unbind`: close the socket's listeners on `endpoint`.
    fn unbind(&mut self, sock: u64, endpoint: &str, reqs: &mut Vec<Req>) {
        let slots: Vec<usize> = self
            .eps
            .iter()
            .filter_map(|(k, e)| match e {
                Ep::Listener(l) if l.sock.id == sock && l.endpoint == endpoint => Some(k),
                _ => None,
            })
            .collect();
        for s in slots {
            self.close_listener(s, reqs);
        }
    }

    /// `disconnect`: end the socket's connections to `endpoint` for good.
    fn disconnect_endpoint(&mut self, sock: u64, endpoint: &str, reqs: &mut Vec<Req>) {
        let slots: Vec<usize> = self
            .eps
            .iter()
            .filter_map(|(k, e)| match e {
                Ep::Conn(c)
                    if c.sock.id == sock && c.connect.is_some() && c.endpoint == endpoint =>
                {
                    Some(k)
                }
                _ => None,
            })
            .collect();
        for s in slots {
            if let Some(Ep::Conn(c)) = self.eps.get_mut(s) {
                if let Some(ci) = c.connect.as_mut() {
                    ci.stopped = true;
                }
            }
            self.disconnect(s, CloseReason::Disconnected, reqs);
        }
    }

    /// The socket's subscription set changed (change `seq`): tell its active connections
    /// that have not heard of it yet.
    fn subscribe(&mut self, sock: u64, seq: u64, topic: &[u8], on: bool, reqs: &mut Vec<Req>) {
        let slots: Vec<usize> = self
            .eps
            .iter_mut()
            .filter_map(|(k, e)| match e {
                Ep::Conn(c)
                    if c.sock.id == sock
                        && matches!(c.phase, Phase::Active)
                        && c.subs_seq < seq =>
                {
                    c.zmtp.queue_subscription(on, topic);
                    c.subs_seq = seq;
                    Some(k)
                }
                _ => None,
            })
            .collect();
        for s in slots {
            self.flush(s, reqs);
        }
    }

    pub(super) fn on_event(&mut self, ev: Event<'_>, reqs: &mut Vec<Req>) {
        self.events += 1;
        match ev {
            Event::Accepted { key, fd } => {
                let Some(Ep::Listener(l)) = self.eps.get_mut(key.slot()) else {
                    return;
                };
                if Key::new(key.slot(), l.gen) != key {
                    return;
                }
                l.accept_retry = Duration::ZERO;
                let (sock, opts, endpoint) = (l.sock.clone(), l.opts.clone(), l.endpoint.clone());
                sock.event(MonitorEventKind::Accepted, &endpoint, None);
                let target = self.peers.pick();
                if target == self.index {
                    self.adopt(sock, opts, fd, endpoint, reqs);
                } else {
                    self.peers.handles[target].send(Cmd::Adopt {
                        sock,
                        opts,
                        fd,
                        endpoint,
                    });
                }
            }
            Event::AcceptFailed { key, err } => {
                let slot = key.slot();
                let Some(Ep::Listener(l)) = self.eps.get_mut(slot) else {
                    return;
                };
                if Key::new(slot, l.gen) != key {
                    return;
                }
                l.accept_retry = (l.accept_retry * 2).clamp(ACCEPT_RETRY_MIN, ACCEPT_RETRY_MAX);
                let (wait, gen) = (l.accept_retry, l.gen);
                log::warn!(
                    "accept on {} failed: {err}; retrying in {wait:?}",
                    l.endpoint
                );
                let errno = err.raw_os_error().unwrap_or(libc::EIO);
                l.sock
                    .event(MonitorEventKind::AcceptFailed(errno), &l.endpoint, None);
                self.timer(Instant::now() + wait, slot, gen, TimerKind::ResumeAccept);
            }
            Event::Connected { key, result } => {
                let slot = key.slot();
                let Some(c) = self.conn(key) else { return };
                match result {
                    Ok(()) => {
                        c.sock.event(MonitorEventKind::Connected, &c.endpoint, None);
                        self.start_handshake(slot, reqs)
                    }
                    Err(e) => {
                        log::warn!("connect to {} failed: {e}", c.endpoint);
                        self.disconnect(slot, CloseReason::ConnectFailed, reqs);
                    }
                }
            }
            Event::Received { key, data } => {
                if let Some(c) = self.conn(key) {
                    c.sock.stats.received(data.len());
                    self.on_received(key.slot(), data, reqs);
                }
            }
            Event::RecvClosed { key, err } => {
                if let Some(c) = self.conn(key) {
                    let why = match err {
                        None => CloseReason::PeerClosed,
                        Some(e) => CloseReason::RecvFailed(e),
                    };
                    if c.paused {
                        // Messages still sit in the stash: deliver them before closing.
                        c.eof = Some(why);
                        return;
                    }
                    if matches!(c.phase, Phase::Handshake) {
                        // libzmq reports a handshake cut short by the transport too.
                        c.sock.event(
                            MonitorEventKind::HandshakeFailedNoDetail(why.to_string()),
                            &c.endpoint,
                            None,
                        );
                    }
                    self.disconnect(key.slot(), why, reqs);
                }
            }
            Event::Sent { key, result, lease } => {
                // A stale key's lease just ends: the kernel is done with it.
                if let Some(c) = self.conn(key) {
                    if let Ok(n) = &result {
                        c.sock.stats.sent(*n);
                    }
                    self.on_sent(key.slot(), result, lease, reqs);
                }
            }
            Event::Closed { key } => self.on_closed(key, reqs),
        }
    }
}
