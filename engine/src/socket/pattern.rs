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
use crate::options::SocketOption;
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

    /// Peers are addressed by routing id (ROUTER, STREAM): CONNECT_ROUTING_ID names the
    /// next connection, and no pipes exist before a connection does (a message for an
    /// absent peer is unroutable rather than queued).
    pub(super) fn addresses_peers(&self) -> bool {
        match self {
            Pattern::Router(_) | Pattern::Stream(_) => true,
            Pattern::Pair(_)
            | Pattern::Dealer(_)
            | Pattern::Pub(_)
            | Pattern::XPub(_)
            | Pattern::Sub(_)
            | Pattern::XSub(_)
            | Pattern::Push(_)
            | Pattern::Pull(_)
            | Pattern::Req(_)
            | Pattern::Rep(_) => false,
        }
    }

    /// Whether inproc endpoints are supported (STREAM carries raw bytes: tcp/ipc only).
    pub(super) fn inproc(&self) -> bool {
        match self {
            Pattern::Stream(_) => false,
            Pattern::Pair(_)
            | Pattern::Dealer(_)
            | Pattern::Router(_)
            | Pattern::Pub(_)
            | Pattern::XPub(_)
            | Pattern::Sub(_)
            | Pattern::XSub(_)
            | Pattern::Push(_)
            | Pattern::Pull(_)
            | Pattern::Req(_)
            | Pattern::Rep(_) => true,
        }
    }
}

/// Options that apply to some socket types only.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum OptGroup {
    ConnectRoutingId,
    Router,
    ProbeRouter,
    XPub,
    OnlyFirstSubscribe,
    InvertMatching,
    Stream,
}

impl OptGroup {
    /// The group of a type-specific option and the error for the other types.
    pub(super) fn of(opt: &SocketOption) -> Option<(OptGroup, &'static str)> {
        Some(match opt {
            SocketOption::ConnectRoutingId(_) => (
                OptGroup::ConnectRoutingId,
                "option applies to ROUTER/STREAM sockets only",
            ),
            SocketOption::RouterMandatory(_) | SocketOption::RouterHandover(_) => {
                (OptGroup::Router, "option applies to ROUTER sockets only")
            }
            SocketOption::ProbeRouter(_) => (
                OptGroup::ProbeRouter,
                "PROBE_ROUTER applies to DEALER/ROUTER only",
            ),
            SocketOption::XpubVerbose(_)
            | SocketOption::XpubVerboser(_)
            | SocketOption::XpubManual(_)
            | SocketOption::XpubManualLastValue(_)
            | SocketOption::XpubNoDrop(_)
            | SocketOption::XpubWelcomeMsg(_) => {
                (OptGroup::XPub, "option applies to XPUB sockets only")
            }
            SocketOption::OnlyFirstSubscribe(_) => (
                OptGroup::OnlyFirstSubscribe,
                "ONLY_FIRST_SUBSCRIBE applies to XPUB/XSUB only",
            ),
            SocketOption::InvertMatching(_) => (
                OptGroup::InvertMatching,
                "INVERT_MATCHING applies to PUB/SUB types only",
            ),
            SocketOption::StreamNotify(_) | SocketOption::StreamFraming(_) => {
                (OptGroup::Stream, "option applies to STREAM sockets only")
            }
            _ => return None,
        })
    }
}

impl Pattern {
    /// Whether options of `group` apply to this type.
    pub(super) fn accepts(&self, group: OptGroup) -> bool {
        use OptGroup as G;
        match self {
            Pattern::Pair(_)
            | Pattern::Push(_)
            | Pattern::Pull(_)
            | Pattern::Req(_)
            | Pattern::Rep(_) => false,
            Pattern::Dealer(_) => group == G::ProbeRouter,
            Pattern::Router(_) => matches!(group, G::ConnectRoutingId | G::Router | G::ProbeRouter),
            Pattern::Pub(_) | Pattern::Sub(_) => group == G::InvertMatching,
            Pattern::XPub(_) => {
                matches!(group, G::XPub | G::OnlyFirstSubscribe | G::InvertMatching)
            }
            Pattern::XSub(_) => matches!(group, G::OnlyFirstSubscribe | G::InvertMatching),
            Pattern::Stream(_) => matches!(group, G::ConnectRoutingId | G::Stream),
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

    fn filters(&self) -> bool {
        each!(self, x => x.filters())
    }

    fn keeps(&self, head: &[u8], invert: bool) -> bool {
        each!(self, x => x.keeps(head, invert))
    }

    fn notices(&mut self) -> Option<&mut std::collections::VecDeque<(Vec<u8>, Vec<u8>)>> {
        each!(self, x => x.notices())
    }
}
