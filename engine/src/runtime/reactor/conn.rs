//! Creating a connection slot.

use super::*;

impl State {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn add_conn(
        &mut self,
        sock: Arc<SocketShared>,
        opts: Arc<SockOpts>,
        endpoint: String,
        fd: Option<OwnedFd>,
        peer_id: u64,
        out: Option<pipe::Reader>,
        inn: Option<pipe::Writer>,
    ) -> usize {
        let slot = self.eps.vacant_key();
        let gen = self.new_gen(slot);
        let raw = fd.as_ref().map_or(-1, |f| f.as_raw_fd());
        let max = opts.max_msg_size;
        let ty = sock.ty;
        self.eps.insert(Ep::Conn(Box::new(Conn {
            gen,
            sock,
            opts,
            endpoint,
            connect: None,
            fd,
            raw,
            phase: Phase::Connecting,
            closing: false,
            peer_id,
            out,
            inn,
            zmtp: ZmtpSession::new(
                max,
                sys::physical_memory(),
                matches!(ty, SocketType::Pub | SocketType::XPub),
            ),
            sending: None,
            iov: pipe::IovArray::default(),
            paused: false,
            stash: Vec::new(),
            stash_off: 0,
            recv_stopped: false,
            eof: None,
            close_after_ctrl: None,
            hb_timer: None,
            lingering: None,
            subs_seq: 0,
            stream: None,
            wire: None,
        })));
        if peer_id != 0 {
            self.by_peer.insert(peer_id, slot);
        }
        slot
    }
}
