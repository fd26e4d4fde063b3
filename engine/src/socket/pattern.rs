//! The socket types as one enum: every place that depends on the type matches it
//! exhaustively, so a new type is listed by the compiler wherever it needs handling.

#![forbid(unsafe_code)]

use super::core::{Core, Routing};
use super::dealer::Dealer;
use super::pair::Pair;
use super::pipeline::{Pull, Push};
use super::publisher::Publisher;
use super::rep::Rep;
use super::req::Req;
use super::router::Router;
use super::stream::Stream;
use super::subscriber::Subscriber;
use crate::protocol::SocketType;
use crate::runtime::shared::NewPeer;

/// A socket's routing pattern and its pattern-specific state.
pub(super) enum Pattern {
    Pair(Pair),
    Dealer(Dealer),
    Router(Router),
    Pub(Box<Publisher>),
    XPub(Box<Publisher>),
    Sub(Box<Subscriber>),
    XSub(Box<Subscriber>),
    Push(Push),
    Pull(Pull),
    Req(Req),
    Rep(Rep),
    Stream(Box<Stream>),
}

/// Run `$e` with `$p` bound to the pattern's state, whatever the type.
macro_rules! each {
    ($pat:expr, $p:ident => $e:expr) => {
        match $pat {
            Pattern::Pair($p) => $e,
            Pattern::Dealer($p) => $e,
            Pattern::Router($p) => $e,
            Pattern::Pub($p) | Pattern::XPub($p) => $e,
            Pattern::Sub($p) | Pattern::XSub($p) => $e,
            Pattern::Push($p) => $e,
            Pattern::Pull($p) => $e,
            Pattern::Req($p) => $e,
            Pattern::Rep($p) => $e,
            Pattern::Stream($p) => $e,
        }
    };
}

impl Pattern {
    pub(super) fn new(ty: SocketType) -> Pattern {
        match ty {
            SocketType::Pair => Pattern::Pair(Pair::default()),
            SocketType::Dealer => Pattern::Dealer(Dealer::default()),
            SocketType::Router => Pattern::Router(Router::default()),
            SocketType::Pub => Pattern::Pub(Box::new(Publisher::new(false))),
            SocketType::XPub => Pattern::XPub(Box::new(Publisher::new(true))),
            SocketType::Sub => Pattern::Sub(Box::new(Subscriber::new(false))),
            SocketType::XSub => Pattern::XSub(Box::new(Subscriber::new(true))),
            SocketType::Push => Pattern::Push(Push::default()),
            SocketType::Pull => Pattern::Pull(Pull),
            SocketType::Req => Pattern::Req(Req::default()),
            SocketType::Rep => Pattern::Rep(Rep::default()),
            SocketType::Stream => Pattern::Stream(Box::default()),
        }
    }
}

impl Routing for Pattern {
    fn admit(&mut self, core: &mut Core, p: &NewPeer) -> Option<Vec<u8>> {
        each!(self, x => x.admit(core, p))
    }

    fn attached(&mut self, core: &mut Core, slot: usize) {
        each!(self, x => x.attached(core, slot))
    }

    fn detached(&mut self, core: &mut Core, slot: usize) {
        each!(self, x => x.detached(core, slot))
    }

    fn closed(&mut self, core: &mut Core, slot: usize) {
        each!(self, x => x.closed(core, slot))
    }

    fn accept(&mut self, core: &mut Core, slot: usize) -> bool {
        each!(self, x => x.accept(core, slot))
    }

    fn notices(&mut self) -> Option<&mut std::collections::VecDeque<(Vec<u8>, Vec<u8>)>> {
        each!(self, x => x.notices())
    }
}
