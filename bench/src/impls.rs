//! The implementations and tests the comparison knows about.
//!
//! An implementation is data: a library (ringlink on a backend, libzmq, rzmq, zeromq) plus
//! switches (batch API, inline run-to-completion context, spin before blocking). Everything
//! else (how peers open their sockets, which ratios are reported, which runs are in the
//! default set) is derived from these fields, so adding a variant is one line in
//! [`Impl::ALL`].

use ringlink::Backend::{self, Epoll, Uring};
use ringlink::UringFeatures;
use serde::{Serialize, Serializer};

/// The tokio runtime a tokio-based peer library runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `#[tokio::main(flavor = "current_thread")]`: the application task and the library's
    /// I/O tasks share one thread.
    CurrentThread,
    /// `#[tokio::main]`: the role runs in `block_on` on the main thread, the library's tasks
    /// on tokio's default worker pool (one worker per CPU).
    MultiThread,
}

impl Flavour {
    pub fn name(self) -> &'static str {
        match self {
            Flavour::CurrentThread => "current_thread",
            Flavour::MultiThread => "multi_thread",
        }
    }
}

/// The library an [`Impl`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Library {
    /// ringlink on this backend.
    Ringlink(Backend),
    /// libzmq through the `zmq` crate (bundled 4.3.4).
    Libzmq,
    /// rzmq (pure Rust, tokio); `uring`: its io_uring backend for TCP sessions.
    Rzmq { flavour: Flavour, uring: bool },
    /// zeromq (zmq.rs, pure Rust, tokio).
    Zeromq { flavour: Flavour },
}

impl Library {
    /// The library's name, as a word: `ringlink`, `libzmq`, `rzmq`, `zeromq`.
    pub fn name(self) -> &'static str {
        match self {
            Library::Ringlink(_) => "ringlink",
            Library::Libzmq => "libzmq",
            Library::Rzmq { .. } => "rzmq",
            Library::Zeromq { .. } => "zeromq",
        }
    }
}

/// One implementation (library + configuration + API style) under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Impl {
    /// The name used on the command line and in every report.
    pub name: &'static str,
    pub lib: Library,
    /// `send_batch` / `send_repeat` / `recv_batch` instead of one call per message
    /// (throughput only: a ping-pong has one message in flight).
    pub batch: bool,
    /// `io_threads(0)`: no reactor thread, the calling thread drives the ring / epoll.
    pub inline: bool,
    /// `ContextBuilder::spin(--spin-us)`: busy-poll before blocking.
    pub spin: bool,
    /// io_uring with `UringFeatures::NONE` (the `-plain` rows): what the features are worth.
    pub plain: bool,
    /// io_uring with SQPOLL (the `-sqpoll` rows; [`SQPOLL_IDLE`]): the kernel's thread
    /// submits.
    pub sqpoll: bool,
    /// Tests this implementation runs in when `--impls` is not given.
    pub default_in: &'static [Test],
}

const THR: &[Test] = &[Test::Thr];
const LAT: &[Test] = &[Test::Lat];
const BOTH: &[Test] = &[Test::Thr, Test::Lat];
const NONE: &[Test] = &[];

/// A ringlink row of [`Impl::ALL`].
const fn rl(
    name: &'static str,
    backend: Backend,
    batch: bool,
    inline: bool,
    spin: bool,
    default_in: &'static [Test],
) -> Impl {
    Impl {
        name,
        lib: Library::Ringlink(backend),
        batch,
        inline,
        spin,
        plain: false,
        sqpoll: false,
        default_in,
    }
}

/// The same row with every io_uring feature off.
const fn plain(name: &'static str, base: Impl) -> Impl {
    Impl {
        name,
        plain: true,
        default_in: NONE,
        ..base
    }
}

/// The idle time of the `-sqpoll` rows' submission threads: long enough that the thread
/// never sleeps during a run.
pub const SQPOLL_IDLE: std::time::Duration = std::time::Duration::from_millis(10);

/// The same row with SQPOLL.
const fn sqpoll(name: &'static str, base: Impl) -> Impl {
    Impl {
        name,
        sqpoll: true,
        default_in: NONE,
        ..base
    }
}

/// A row of another library (per-message API, its own threading).
const fn other(name: &'static str, lib: Library, default_in: &'static [Test]) -> Impl {
    Impl {
        name,
        lib,
        batch: false,
        inline: false,
        spin: false,
        plain: false,
        sqpoll: false,
        default_in,
    }
}

use Flavour::{CurrentThread, MultiThread};

impl Impl {
    pub const LIBZMQ: Impl = other("libzmq", Library::Libzmq, BOTH);

    /// Every implementation, in the order runs are interleaved within a repetition.
    #[rustfmt::skip]
    pub const ALL: [Impl; 23] = [
        //  name                            backend batch  inline spin   default in
        rl("ringlink-uring",               Uring, false, false, false, BOTH),
        rl("ringlink-epoll",               Epoll, false, false, false, BOTH),
        rl("ringlink-uring-batch",         Uring, true,  false, false, THR),
        rl("ringlink-epoll-batch",         Epoll, true,  false, false, THR),
        rl("ringlink-uring-inline",        Uring, false, true,  false, BOTH),
        rl("ringlink-epoll-inline",        Epoll, false, true,  false, BOTH),
        rl("ringlink-uring-inline-batch",  Uring, true,  true,  false, THR),
        rl("ringlink-epoll-inline-batch",  Epoll, true,  true,  false, THR),
        rl("ringlink-uring-inline-spin",   Uring, false, true,  true,  LAT),
        rl("ringlink-epoll-inline-spin",   Epoll, false, true,  true,  NONE),
        // With reactor threads, spinning competes with the peer for the 2 vCPUs.
        rl("ringlink-uring-spin",          Uring, false, false, true,  NONE),
        plain("ringlink-uring-plain",        rl("", Uring, false, false, false, NONE)),
        plain("ringlink-uring-inline-plain", rl("", Uring, false, true,  false, NONE)),
        // SQPOLL's thread takes a vCPU from the peers on this 2-vCPU machine: measured, not
        // a default.
        sqpoll("ringlink-uring-sqpoll",              rl("", Uring, false, false, false, NONE)),
        sqpoll("ringlink-uring-batch-sqpoll",        rl("", Uring, true,  false, false, NONE)),
        sqpoll("ringlink-uring-inline-sqpoll",       rl("", Uring, false, true,  false, NONE)),
        sqpoll("ringlink-uring-inline-batch-sqpoll", rl("", Uring, true,  true,  false, NONE)),
        Impl::LIBZMQ,
        // The Rust peers (issue 17). The bare names run the faster tokio flavour
        // (current_thread, measured against multi_thread: the `-mt` rows); rzmq's io_uring
        // backend is faster for some throughput patterns, slower for a ping-pong and for
        // PUBSUB / ROUTER_ROUTER than its tokio sessions, so it is an `--impls` row.
        other("rzmq",        Library::Rzmq { flavour: CurrentThread, uring: false }, BOTH),
        other("rzmq-mt",     Library::Rzmq { flavour: MultiThread,   uring: false }, NONE),
        other("rzmq-uring",  Library::Rzmq { flavour: CurrentThread, uring: true  }, NONE),
        other("zeromq",      Library::Zeromq { flavour: CurrentThread }, BOTH),
        other("zeromq-mt",   Library::Zeromq { flavour: MultiThread },   NONE),
    ];

    pub fn parse(s: &str) -> Option<Impl> {
        Impl::ALL.into_iter().find(|i| i.name == s)
    }

    pub fn is_libzmq(&self) -> bool {
        self.lib == Library::Libzmq
    }

    pub fn is_ringlink(&self) -> bool {
        self.backend().is_some()
    }

    /// The ringlink backend (`None` for the other libraries).
    pub fn backend(&self) -> Option<Backend> {
        match self.lib {
            Library::Ringlink(b) => Some(b),
            _ => None,
        }
    }

    /// Why this implementation cannot run `pattern` over `transport` (`mode_threads`: both
    /// ends as threads of one process), or `None` if it can. Reported as "n/a" rows.
    pub fn unsupported(
        &self,
        pattern: Pattern,
        transport: Transport,
        mode_threads: bool,
    ) -> Option<&'static str> {
        if pattern == Pattern::Stream && transport == Transport::Inproc {
            return Some("STREAM is raw TCP/IPC: no inproc");
        }
        if pattern.is_service() {
            return if !matches!(self.lib, Library::Ringlink(_)) {
                Some("zlink's service layer: ringlink only")
            } else if self.inline {
                Some("the service layer needs reactor threads: no inline context")
            } else if transport == Transport::Inproc || mode_threads {
                Some("the service benches run two processes")
            } else {
                None
            };
        }
        if self.inline && (transport == Transport::Inproc || mode_threads) {
            return Some("an inline context is single-threaded: no two-thread mode");
        }
        if matches!(self.lib, Library::Ringlink(_) | Library::Libzmq) {
            return None;
        }
        match pattern {
            Pattern::Pair => Some("the library has no PAIR socket type"),
            Pattern::Stream => Some("the library has no STREAM socket type"),
            Pattern::RouterRouterPoll => {
                Some("the library has no zmq_poll and no non-blocking receive to drain with")
            }
            _ if transport != Transport::Tcp || mode_threads => {
                Some("the Rust peers are wired for tcp between two processes only")
            }
            _ => None,
        }
    }

    /// Batching has no meaning for a ping-pong with one message in flight.
    pub fn supports(&self, test: Test) -> bool {
        !(test == Test::Lat && self.batch)
    }

    /// The set run when `--impls` is not given.
    pub fn default_for(&self, test: Test) -> bool {
        self.default_in.contains(&test) && self.supports(test)
    }

    /// The execution mode without the backend: `threaded`, `inline-batch`, `inline-spin`, …
    pub fn mode(&self) -> String {
        match self.lib {
            Library::Ringlink(_) => {}
            Library::Libzmq => return "libzmq".to_string(),
            Library::Rzmq { flavour, uring } => {
                let io = if uring { "-io_uring" } else { "" };
                return format!("rzmq-{}{io}", flavour.name());
            }
            Library::Zeromq { flavour } => return format!("zeromq-{}", flavour.name()),
        }
        let mut m = String::from(if self.inline { "inline" } else { "threaded" });
        if self.batch {
            m.push_str("-batch");
        }
        if self.spin {
            m.push_str("-spin");
        }
        if self.plain {
            m.push_str("-plain");
        }
        if self.sqpoll {
            m.push_str("-sqpoll");
        }
        m
    }

    /// The io_uring features of this row's contexts (ringlink rows).
    pub fn uring_features(&self) -> UringFeatures {
        if self.plain {
            UringFeatures::NONE
        } else {
            UringFeatures {
                sqpoll_idle: self.sqpoll.then_some(SQPOLL_IDLE),
                ..UringFeatures::default()
            }
        }
    }

    /// Same ringlink configuration apart from the fields `differ` is allowed to change.
    fn same_except(&self, other: &Impl, differ: Field) -> bool {
        self.is_ringlink()
            && other.is_ringlink()
            && (differ == Field::Backend || self.backend() == other.backend())
            && (differ == Field::Batch || self.batch == other.batch)
            && (differ == Field::Inline || self.inline == other.inline)
            && (differ == Field::Spin || self.spin == other.spin)
            && (differ == Field::Plain || self.plain == other.plain)
            && (differ == Field::Sqpoll || self.sqpoll == other.sqpoll)
    }
}

impl Serialize for Impl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name)
    }
}

/// A switch of a ringlink [`Impl`]; pairs differ in exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Backend,
    Batch,
    Inline,
    Spin,
    Plain,
    Sqpoll,
}

impl Field {
    /// Whether `i` is on the A side (numerator) of a pair differing in this field.
    fn on(self, i: &Impl) -> bool {
        match self {
            Field::Backend => i.backend() == Some(Uring),
            Field::Batch => i.batch,
            Field::Inline => i.inline,
            Field::Spin => i.spin,
            Field::Plain => i.backend() == Some(Uring) && !i.plain,
            Field::Sqpoll => i.backend() == Some(Uring) && i.sqpoll,
        }
    }
}

/// Why a pair (A, B) is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PairKind {
    /// A ringlink implementation against libzmq.
    VsLibzmq,
    /// A ringlink implementation against an rzmq row.
    VsRzmq,
    /// A ringlink implementation against a zeromq (zmq.rs) row.
    VsZeromq,
    /// io_uring against epoll, same mode.
    UringVsEpoll,
    /// Batch API against one call per message, same backend and context mode.
    BatchVsPerMessage,
    /// Inline context against a reactor thread, same backend and API.
    InlineVsThreaded,
    /// Spinning against not spinning, same backend, API and context mode.
    SpinVsNoSpin,
    /// io_uring with its optional features (`UringFeatures`) against without them.
    FeaturesVsPlain,
    /// io_uring with SQPOLL against the default ring, same mode and API.
    SqpollVsDefault,
}

impl PairKind {
    pub fn label(self) -> &'static str {
        match self {
            PairKind::VsLibzmq => "vs libzmq",
            PairKind::VsRzmq => "vs rzmq",
            PairKind::VsZeromq => "vs zeromq",
            PairKind::UringVsEpoll => "uring vs epoll",
            PairKind::BatchVsPerMessage => "batch vs per-message",
            PairKind::InlineVsThreaded => "inline vs threaded",
            PairKind::SpinVsNoSpin => "spin vs no spin",
            PairKind::FeaturesVsPlain => "uring features vs plain",
            PairKind::SqpollVsDefault => "sqpoll vs default",
        }
    }
}

/// The (A, B) pairs reported as A / B among `impls`, grouped by kind in the order of
/// [`PairKind`], each group in the order of `impls`.
pub fn pairs(impls: &[Impl]) -> Vec<(PairKind, Impl, Impl)> {
    let mut v = Vec::new();
    for (kind, lib) in [
        (PairKind::VsLibzmq, "libzmq"),
        (PairKind::VsRzmq, "rzmq"),
        (PairKind::VsZeromq, "zeromq"),
    ] {
        for &b in impls.iter().filter(|i| i.lib.name() == lib) {
            v.extend(
                impls
                    .iter()
                    .filter(|i| i.is_ringlink())
                    .map(|&a| (kind, a, b)),
            );
        }
    }
    for (kind, field) in [
        (PairKind::UringVsEpoll, Field::Backend),
        (PairKind::BatchVsPerMessage, Field::Batch),
        (PairKind::InlineVsThreaded, Field::Inline),
        (PairKind::SpinVsNoSpin, Field::Spin),
        (PairKind::FeaturesVsPlain, Field::Plain),
        (PairKind::SqpollVsDefault, Field::Sqpoll),
    ] {
        for a in impls.iter().filter(|a| field.on(a)) {
            for b in impls.iter().filter(|b| !field.on(b)) {
                if a.same_except(b, field) {
                    v.push((kind, *a, *b));
                }
            }
        }
    }
    v
}

/// A benchmark kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    /// One-way throughput.
    Thr,
    /// Ping-pong round-trip latency.
    Lat,
}

impl Test {
    pub fn name(self) -> &'static str {
        match self {
            Test::Thr => "thr",
            Test::Lat => "lat",
        }
    }

    pub fn parse(s: &str) -> Option<Test> {
        [Test::Thr, Test::Lat].into_iter().find(|t| t.name() == s)
    }
}

impl Serialize for Test {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A messaging pattern: which socket types the two ends use (bind side = receiver / echo
/// server, connect side = sender / client), as in `zmq_bench.c` / `zlink-bench.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// PAIR → PAIR.
    Pair,
    /// PUB → SUB (subscribed to everything). The sender is an XPUB so it can wait for the
    /// subscription before it starts (same send path as PUB in both libraries); HWM is
    /// unlimited (0) on both ends so that nothing is dropped, as in zlink's benchmark.
    PubSub,
    /// DEALER → DEALER.
    DealerDealer,
    /// DEALER → ROUTER: the receiver gets [routing id][payload] per message.
    DealerRouter,
    /// ROUTER (ROUTER_MANDATORY, sends [peer id][payload]) → ROUTER.
    RouterRouter,
    /// ROUTER → ROUTER whose receiver polls, then drains everything queued without blocking.
    RouterRouterPoll,
    /// STREAM → STREAM (raw TCP): the sender learns the peer id from the connect
    /// notification; the receiver counts bytes (raw bytes have no message boundaries).
    Stream,
    /// PUSH → PULL.
    PushPull,
    /// REQ ↔ REP (latency only: one request in flight by definition).
    ReqRep,
    /// zlink's gateway (ringlink's service layer): a registry and a receiver (its ROUTER
    /// gets [gateway id][payload]) in the bind process; a discovery and a gateway that
    /// sends to the service by name in the other.
    Gateway,
    /// zlink's SPOT topic mesh: a node subscribed to the topic plus a registry in the bind
    /// process, a publishing node in the other; the nodes find each other through the
    /// registry (Discovery-driven mesh). One message = [topic][payload].
    Spot,
}

/// The socket type of one end of a pattern (the bench's own copy, shared by both libraries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pair,
    Dealer,
    Router,
    /// XPUB: a publisher that can see its subscriptions.
    Pub,
    Sub,
    Push,
    Pull,
    Req,
    Rep,
    Stream,
}

impl Kind {
    /// Received messages start with a routing-id frame.
    pub fn has_id_frame(self) -> bool {
        matches!(self, Kind::Router | Kind::Stream)
    }
}

impl Pattern {
    pub const ALL: [Pattern; 11] = [
        Pattern::Pair,
        Pattern::PubSub,
        Pattern::DealerDealer,
        Pattern::DealerRouter,
        Pattern::RouterRouter,
        Pattern::RouterRouterPoll,
        Pattern::Stream,
        Pattern::PushPull,
        Pattern::ReqRep,
        Pattern::Gateway,
        Pattern::Spot,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Pattern::Pair => "PAIR",
            Pattern::PubSub => "PUBSUB",
            Pattern::DealerDealer => "DEALER_DEALER",
            Pattern::DealerRouter => "DEALER_ROUTER",
            Pattern::RouterRouter => "ROUTER_ROUTER",
            Pattern::RouterRouterPoll => "ROUTER_ROUTER_POLL",
            Pattern::Stream => "STREAM",
            Pattern::PushPull => "PUSH_PULL",
            Pattern::ReqRep => "REQ_REP",
            Pattern::Gateway => "GATEWAY",
            Pattern::Spot => "SPOT",
        }
    }

    /// Case-insensitive; `-` may stand for `_`.
    pub fn parse(s: &str) -> Option<Pattern> {
        let s = s.to_ascii_uppercase().replace('-', "_");
        Pattern::ALL.into_iter().find(|p| p.name() == s)
    }

    /// Socket type of the bind side (throughput receiver, echo server).
    pub fn bind_kind(self) -> Kind {
        match self {
            Pattern::Pair => Kind::Pair,
            Pattern::PubSub => Kind::Sub,
            Pattern::DealerDealer => Kind::Dealer,
            Pattern::DealerRouter
            | Pattern::RouterRouter
            | Pattern::RouterRouterPoll
            | Pattern::Gateway => Kind::Router,
            Pattern::Stream => Kind::Stream,
            Pattern::PushPull => Kind::Pull,
            Pattern::ReqRep => Kind::Rep,
            Pattern::Spot => Kind::Sub,
        }
    }

    /// Socket type of the connect side (throughput sender, latency client).
    pub fn connect_kind(self) -> Kind {
        match self {
            Pattern::Pair => Kind::Pair,
            Pattern::PubSub => Kind::Pub,
            // The gateway is a ROUTER, but it picks the peer itself: no routing-id frame.
            Pattern::DealerDealer | Pattern::DealerRouter | Pattern::Gateway => Kind::Dealer,
            Pattern::RouterRouter | Pattern::RouterRouterPoll => Kind::Router,
            Pattern::Stream => Kind::Stream,
            Pattern::PushPull => Kind::Push,
            Pattern::ReqRep => Kind::Req,
            Pattern::Spot => Kind::Pub,
        }
    }

    /// Ping-pong latency is measured for PAIR, DEALER_ROUTER, REQ_REP, GATEWAY and SPOT;
    /// throughput for every pattern but REQ_REP.
    pub fn supports(self, test: Test) -> bool {
        match test {
            Test::Thr => self != Pattern::ReqRep,
            Test::Lat => matches!(
                self,
                Pattern::Pair
                    | Pattern::DealerRouter
                    | Pattern::ReqRep
                    | Pattern::Gateway
                    | Pattern::Spot
            ),
        }
    }

    /// zlink's service layer rather than a socket pair (ringlink only).
    pub fn is_service(self) -> bool {
        matches!(self, Pattern::Gateway | Pattern::Spot)
    }

    /// The HWM every socket of a run gets: the configured one, except PUBSUB (unlimited,
    /// because a PUB drops at the HWM and a throughput run must not lose messages).
    pub fn hwm(self, configured: i32) -> i32 {
        if matches!(self, Pattern::PubSub | Pattern::Spot) {
            0
        } else {
            configured
        }
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Transport of a run. Both ends are on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `tcp://127.0.0.1:*` (ephemeral port).
    Tcp,
    /// `ipc://@ringlink-bench-<pid>-<n>` (Linux abstract namespace: no file to clean up).
    Ipc,
    /// `inproc://ringlink-bench-<pid>-<n>`: both ends are threads of one process sharing a
    /// context (thread mode).
    Inproc,
}

impl Transport {
    pub const ALL: [Transport; 3] = [Transport::Tcp, Transport::Ipc, Transport::Inproc];

    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Ipc => "ipc",
            Transport::Inproc => "inproc",
        }
    }

    pub fn parse(s: &str) -> Option<Transport> {
        Transport::ALL.into_iter().find(|t| t.name() == s)
    }

    /// A fresh bind endpoint for this process (`n` distinguishes several in one process).
    pub fn bind_endpoint(self, n: usize) -> String {
        match self {
            Transport::Tcp => "tcp://127.0.0.1:*".to_string(),
            Transport::Ipc => format!("ipc://@ringlink-bench-{}-{n}", std::process::id()),
            Transport::Inproc => format!("inproc://ringlink-bench-{}-{n}", std::process::id()),
        }
    }

    /// How the report describes it.
    pub fn describe(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp://127.0.0.1",
            Transport::Ipc => "ipc:// (abstract socket)",
            Transport::Inproc => "inproc:// (two threads, one context)",
        }
    }
}

impl Serialize for Transport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(test)]
#[path = "impls_tests.rs"]
mod tests;
