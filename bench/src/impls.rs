//! The implementations and tests the comparison knows about.

use ringlink::Backend;

/// One implementation (library + configuration + API style) under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    /// ringlink on io_uring, one `send`/`recv` call per message.
    Uring,
    /// ringlink on epoll, one `send`/`recv` call per message.
    Epoll,
    /// ringlink on io_uring, `send_batch` / `recv_batch` (one hand-off per batch).
    UringBatch,
    /// ringlink on epoll, `send_batch` / `recv_batch`.
    EpollBatch,
    /// ringlink on io_uring with a bounded spin before parking (`ContextBuilder::spin`).
    UringSpin,
    /// libzmq through the `zmq` crate, one `send`/`recv` call per message.
    Libzmq,
}

/// What the library side of an [`Impl`] is.
pub enum Lib {
    /// ringlink with this backend; `spin` selects the spin-before-park variant.
    Ringlink { backend: Backend, spin: bool },
    /// libzmq.
    Libzmq,
}

impl Impl {
    /// Every implementation, in the order runs are interleaved within a repetition.
    pub const ALL: [Impl; 6] = [
        Impl::Uring,
        Impl::Epoll,
        Impl::UringBatch,
        Impl::EpollBatch,
        Impl::UringSpin,
        Impl::Libzmq,
    ];

    /// The name used on the command line and in every report.
    pub fn name(self) -> &'static str {
        match self {
            Impl::Uring => "ringlink-uring",
            Impl::Epoll => "ringlink-epoll",
            Impl::UringBatch => "ringlink-uring-batch",
            Impl::EpollBatch => "ringlink-epoll-batch",
            Impl::UringSpin => "ringlink-uring-spin",
            Impl::Libzmq => "libzmq",
        }
    }

    pub fn parse(s: &str) -> Option<Impl> {
        Impl::ALL.into_iter().find(|i| i.name() == s)
    }

    pub fn lib(self) -> Lib {
        match self {
            Impl::Uring | Impl::UringBatch => Lib::Ringlink {
                backend: Backend::Uring,
                spin: false,
            },
            Impl::Epoll | Impl::EpollBatch => Lib::Ringlink {
                backend: Backend::Epoll,
                spin: false,
            },
            Impl::UringSpin => Lib::Ringlink {
                backend: Backend::Uring,
                spin: true,
            },
            Impl::Libzmq => Lib::Libzmq,
        }
    }

    /// Whether this implementation uses the batch API for throughput.
    pub fn batched(self) -> bool {
        matches!(self, Impl::UringBatch | Impl::EpollBatch)
    }

    /// Batching has no meaning for a ping-pong with one message in flight.
    pub fn supports(self, test: Test) -> bool {
        !(test == Test::Lat && self.batched())
    }

    /// The set run when `--impls` is not given.
    pub fn default_for(self, test: Test) -> bool {
        match test {
            Test::Thr => self != Impl::UringSpin,
            Test::Lat => !self.batched(),
        }
    }
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
