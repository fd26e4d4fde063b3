//! Peer processes of the tokio-based Rust libraries (rzmq, zeromq): the roles of `peer.rs`
//! (throughput receiver and sender, echo server and latency client) written once as async
//! code over [`AsyncSocket`], so every library does the same work: the same messages
//! (warm-up marker, then marker + sequence number), the same receiver check
//! ([`SeqCheck`]), the same clock reads and the same `RESULT` / `USAGE` lines.
//!
//! A role runs in one `block_on` of the row's tokio runtime, as an application's
//! `#[tokio::main]` would: `current_thread` (the role and the library's tasks on one thread)
//! or `multi_thread` (the role on the main thread, the library's tasks on the worker pool).

use std::time::Instant;

use crate::impls::{Flavour, Kind, Library, Pattern};
use crate::peer::{
    announce, emit, lat_result, now_ns, stamp, wait_for_parent, PeerArgs, Role, SeqCheck, Usage,
    ROUTABLE_TIMEOUT, WARMUP,
};

pub mod rzmq;
pub mod zeromq;

/// Tag of the line an rzmq PUB/SUB receiver prints at its first message, which the parent
/// relays to the sender's stdin (see [`relays_subscription`]).
pub const SUBSCRIBED: &str = "SUBSCRIBED";

/// Whether a PUB/SUB run of `lib` needs the parent to tell the sender that the subscription
/// is in place. rzmq's PUB filters on the publisher but, having no XPUB, cannot show the
/// subscription to the application; a publisher that started before it would lose the
/// first messages. ringlink, libzmq and zeromq send from an XPUB that receives it.
pub fn relays_subscription(lib: Library, pattern: Pattern) -> bool {
    pattern == Pattern::PubSub && matches!(lib, Library::Rzmq { .. })
}

/// The socket operations the roles need. Payloads are borrowed; each library copies them
/// into its own message type, as an application holding a byte slice would.
pub(crate) trait AsyncSocket {
    /// Binds and returns the resolved endpoint (the ephemeral port filled in).
    async fn bind(&mut self, endpoint: &str) -> Result<String, String>;
    async fn connect(&mut self, endpoint: &str) -> Result<(), String>;
    /// Sends one message; a ROUTER sender sends [`crate::peer::RX_ID`] first.
    async fn send(&mut self, msg: &[u8]) -> Result<(), String>;
    /// Like `send`; `Ok(false)` while a ROUTER sender's peer is not routable yet.
    async fn try_send(&mut self, msg: &[u8]) -> Result<bool, String>;
    /// Receives one message and hands its payload (after a ROUTER's routing id) to `each`.
    async fn recv<R>(&mut self, each: impl FnOnce(&[u8]) -> R) -> Result<R, String>;
    /// Receives one message and sends it back (a ROUTER to the peer it came from).
    async fn echo(&mut self) -> Result<(), String>;
    /// PUB sender: returns once a subscriber is in place. `warm` is a warm-up message for
    /// libraries that must keep publishing until the relayed go-ahead arrives.
    async fn await_subscriber(&mut self, warm: &[u8]) -> Result<(), String>;
}

/// The tokio runtime of `flavour`, as `#[tokio::main]` builds it.
pub fn runtime(flavour: Flavour) -> Result<tokio::runtime::Runtime, String> {
    let mut b = match flavour {
        Flavour::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        Flavour::MultiThread => tokio::runtime::Builder::new_multi_thread(),
    };
    b.enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

/// Socket type of this process's end of `a`'s pattern.
pub fn kind(a: &PeerArgs) -> Kind {
    if matches!(a.role, Role::ThrRecv | Role::LatServer) {
        a.pattern.bind_kind()
    } else {
        a.pattern.connect_kind()
    }
}

/// `tcp://127.0.0.1:*` as the Rust libraries spell an ephemeral port.
pub fn ephemeral(endpoint: &str) -> String {
    endpoint
        .strip_suffix(":*")
        .map_or_else(|| endpoint.to_string(), |e| format!("{e}:0"))
}

/// One role of `a` on `s` (the async twin of `peer::run_role`).
pub(crate) async fn run_role<S: AsyncSocket>(s: &mut S, a: &PeerArgs) -> Result<(), String> {
    let start = Usage::now();
    let bind = ephemeral(&a.transport.bind_endpoint(0));
    let endpoint = || a.endpoint.as_deref().ok_or("peer: --endpoint missing");
    let result = match a.role {
        Role::ThrRecv => {
            announce(&s.bind(&bind).await?)?;
            thr_recv(s, a).await?
        }
        Role::ThrSend => {
            s.connect(endpoint()?).await?;
            thr_send(s, a).await?
        }
        Role::LatServer => {
            announce(&s.bind(&bind).await?)?;
            for _ in 0..a.warmup + a.count {
                s.echo().await?;
            }
            format!("echoed={}", a.warmup + a.count)
        }
        Role::LatClient => {
            s.connect(endpoint()?).await?;
            lat_client(s, a).await?
        }
        Role::ThrThreads | Role::LatThreads => {
            return Err(format!("{}: no thread mode", a.imp.name));
        }
    };
    emit(&format!("RESULT {result}"))?;
    if matches!(a.role, Role::ThrSend | Role::LatServer) {
        // The library's tasks must keep running until the partner has everything: wait for
        // the parent on the blocking pool, not on the (possibly only) runtime thread.
        tokio::task::spawn_blocking(wait_for_parent)
            .await
            .map_err(|e| format!("waiting for the parent: {e}"))?;
    }
    emit(&Usage::now().since(&start))
}

async fn thr_recv<S: AsyncSocket>(s: &mut S, a: &PeerArgs) -> Result<String, String> {
    let mut check = SeqCheck::new(a.count);
    let mut relay = relays_subscription(a.imp.lib, a.pattern);
    loop {
        let done = match s.recv(|m| check.on(m)).await {
            Ok(done) => done,
            Err(e) if check.received > 0 => {
                eprintln!("receiver: {e} after {} measured messages", check.received);
                break;
            }
            Err(e) => return Err(e),
        };
        if relay {
            emit(SUBSCRIBED)?;
            relay = false;
        }
        if done {
            break;
        }
    }
    Ok(check.result())
}

async fn thr_send<S: AsyncSocket>(s: &mut S, a: &PeerArgs) -> Result<String, String> {
    let mut msg = vec![0u8; a.size];
    msg[0] = WARMUP;
    if a.pattern.connect_kind() == Kind::Router {
        wait_routable(s, &msg).await?;
    } else if a.pattern == Pattern::PubSub {
        s.await_subscriber(&msg).await?;
    }
    for _ in 0..a.warmup {
        s.send(&msg).await?;
    }
    let t_first = now_ns();
    for seq in 0..a.count {
        stamp(&mut msg, seq);
        s.send(&msg).await?;
    }
    let t_last = now_ns();
    Ok(format!("tx_first_ns={t_first} tx_last_ns={t_last}"))
}

/// As `peer::wait_routable`: retry a warm-up message until the ROUTER peer is routable.
async fn wait_routable<S: AsyncSocket>(s: &mut S, msg: &[u8]) -> Result<(), String> {
    let deadline = Instant::now() + ROUTABLE_TIMEOUT;
    while !s.try_send(msg).await? {
        if Instant::now() > deadline {
            return Err(format!(
                "peer not routable after {} s",
                ROUTABLE_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    Ok(())
}

async fn lat_client<S: AsyncSocket>(s: &mut S, a: &PeerArgs) -> Result<String, String> {
    let msg = vec![0u8; a.size];
    let check = |n: usize| {
        if n == a.size {
            Ok(())
        } else {
            Err(format!("reply of {n} bytes, expected {}", a.size))
        }
    };
    for _ in 0..a.warmup {
        s.send(&msg).await?;
        check(s.recv(<[u8]>::len).await?)?;
    }
    let count = usize::try_from(a.count).map_err(|_| "count too large".to_string())?;
    let mut rtts = Vec::with_capacity(count);
    let start = Instant::now();
    for _ in 0..count {
        let t = Instant::now();
        s.send(&msg).await?;
        check(s.recv(<[u8]>::len).await?)?;
        rtts.push(t.elapsed());
    }
    Ok(lat_result(&mut rtts, start.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ephemeral_ports_and_relays() {
        assert_eq!(ephemeral("tcp://127.0.0.1:*"), "tcp://127.0.0.1:0");
        assert_eq!(ephemeral("tcp://127.0.0.1:5555"), "tcp://127.0.0.1:5555");
        let rzmq = Library::Rzmq {
            flavour: Flavour::CurrentThread,
            uring: false,
        };
        assert!(relays_subscription(rzmq, Pattern::PubSub));
        assert!(!relays_subscription(rzmq, Pattern::PushPull));
        let zeromq = Library::Zeromq {
            flavour: Flavour::MultiThread,
        };
        assert!(!relays_subscription(zeromq, Pattern::PubSub));
    }
}
