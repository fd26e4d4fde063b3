//! In-memory peers for the pattern unit tests: a socket on a context without reactors, and
//! peers made of two `pipe::pipe` pairs whose far ends the test holds (both on one thread).
//! The peers' links are inproc links to no one, so the socket's notifications go nowhere;
//! the far end tells the socket about new data itself, as a reactor would.

#![forbid(unsafe_code)]

use std::sync::{Arc, OnceLock};

use super::Socket;
use crate::pipe;
use crate::protocol::{frame, SocketType};
use crate::runtime::hub::Hub;
use crate::runtime::shared::{Link, NewPeer, SocketShared};

/// A socket of type `ty` with no peers, on a context without reactors.
pub(super) fn socket(ty: SocketType) -> Socket {
    let hub = Hub::detached();
    let shared = hub.new_socket(ty).expect("socket");
    Socket::new(hub, shared)
}

/// The test's side of one peer's pipes.
pub(super) struct Far {
    pub(super) id: u64,
    to_sock: pipe::Writer,
    from_sock: pipe::Reader,
    sock: Arc<SocketShared>,
}

impl Socket {
    /// Attach a peer announcing `identity`; pipes hold `hwm` messages each way (0 = no
    /// limit). None if the pattern refused it.
    pub(super) fn attach_far(&mut self, identity: &[u8], hwm: u64) -> Option<Far> {
        let id = self.core.hub.next_peer_id();
        let (out_w, out_r) = pipe::pipe(hwm);
        let (in_w, in_r) = pipe::pipe(hwm);
        let p = NewPeer {
            id,
            out: out_w,
            inn: in_r,
            identity: identity.to_vec(),
            alias: None,
            link: Link::Inproc {
                other: Arc::new(OnceLock::new()),
                peer: 0,
                inline: false,
            },
            remote: format!("test://{id}"),
        };
        self.core.add_peer(&mut self.pattern, p).then(|| Far {
            id,
            to_sock: in_w,
            from_sock: out_r,
            sock: self.core.shared.clone(),
        })
    }
}

impl Far {
    /// Send a message (frames) to the socket.
    pub(super) fn send(&mut self, frames: &[&[u8]]) {
        for (i, f) in frames.iter().enumerate() {
            let mut hdr = [0u8; frame::MAX_HEADER];
            let more = i + 1 < frames.len();
            let hl = frame::encode_header(&mut hdr, more, false, f.len() as u64);
            self.to_sock.write_frame(&hdr[..hl], f);
        }
        if self.to_sock.commit(1) {
            self.sock.notify_ready(self.id);
        }
    }

    /// The next whole message the socket wrote to this peer, if any.
    pub(super) fn recv(&mut self) -> Option<Vec<Vec<u8>>> {
        let mut msg = Vec::new();
        loop {
            let buf = self.from_sock.peek();
            if buf.is_empty() {
                assert!(msg.is_empty(), "messages are committed whole");
                return None;
            }
            let h = frame::parse_header(buf)
                .ok()
                .flatten()
                .expect("whole frame");
            let end = h.frame_len() as usize;
            msg.push(buf[h.header_len..end].to_vec());
            let more = h.more();
            self.from_sock.consume(end);
            if !more {
                self.from_sock.credit(1);
                self.from_sock.publish_credit();
                return Some(msg);
            }
        }
    }

    /// Every byte queued for this peer, unparsed (STREAM writes raw bytes).
    pub(super) fn recv_raw(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let buf = self.from_sock.peek();
            if buf.is_empty() {
                self.from_sock.credit(1);
                self.from_sock.publish_credit();
                return out;
            }
            let n = buf.len();
            out.extend_from_slice(buf);
            self.from_sock.consume(n);
        }
    }

    /// Every message queued for this peer.
    pub(super) fn recv_all(&mut self) -> Vec<Vec<Vec<u8>>> {
        std::iter::from_fn(|| self.recv()).collect()
    }

    /// The connection ends (the socket sees it once it read what was sent).
    pub(super) fn close(mut self) {
        if self.to_sock.close() {
            self.sock.notify_ready(self.id);
        }
    }
}

/// Receive one whole message without blocking.
pub(super) fn recv_msg(s: &mut Socket) -> crate::error::Result<Vec<Vec<u8>>> {
    s.recv_multipart(super::DONTWAIT)
}

/// Send one message without blocking.
pub(super) fn send_msg(s: &mut Socket, frames: &[&[u8]]) -> crate::error::Result<()> {
    s.send_multipart(frames, super::DONTWAIT)
}
