//! The prose of a `compare` report: table titles, what each pattern does, and what the
//! libraries other than ringlink run with (kept apart from `report.rs`, which renders).

use std::fmt::Write;

use crate::compare::{Case, Config};
use crate::impls::{Flavour, Impl, Library, Pattern, Test};

pub fn title(case: &Case, cfg: &Config) -> String {
    let (p, t) = (case.pattern.name(), case.transport.name());
    match case.test {
        Test::Thr => format!(
            "Throughput: {p} over {t}, {} B × {} messages (after {} warm-up)",
            case.size, case.count, cfg.warmup
        ),
        Test::Lat => format!(
            "Latency: {p} ping-pong over {t}, {} B, {} timed round trips (after {} warm-up)",
            case.size, case.count, cfg.warmup
        ),
    }
}

/// What a table's pattern does differently from PAIR (empty for PAIR).
pub fn pattern_note(case: &Case) -> &'static str {
    match (case.pattern, case.test) {
        (Pattern::Pair, _) => "",
        (Pattern::DealerDealer, _) => "DEALER (connects, sends) → DEALER (binds, receives).",
        (Pattern::DealerRouter, Test::Thr) => {
            "DEALER (connects, sends) → ROUTER (binds): each message arrives as [routing id]\
             [payload]; rates count messages, not frames. `-batch`: the DEALER uses \
             `send_batch`, the ROUTER `recv_batch` (routing-id frames included in the batch)."
        }
        (Pattern::DealerRouter, Test::Lat) => {
            "DEALER client sends the payload; the ROUTER echo server receives [routing id]\
             [payload] and replies [routing id][payload]."
        }
        (Pattern::RouterRouter, _) => {
            "ROUTER (ROUTING_ID `TX`, ROUTER_MANDATORY, connects) sends [`RX`][payload] to a \
             ROUTER (ROUTING_ID `RX`, binds). Before the warm-up the sender retries \
             non-blocking sends until `RX` is routable (EHOSTUNREACH until then). `-batch`: \
             the sender uses `send_routed_batch`, the receiver `recv_batch`."
        }
        (Pattern::RouterRouterPoll, _) => {
            "As ROUTER_ROUTER, but the receiver waits in poll (POLLIN) and then receives \
             everything queued without blocking (`-batch`: `drain`), as zlink's \
             ROUTER_ROUTER_POLL."
        }
        (Pattern::PubSub, _) => {
            "PUB → SUB subscribed to everything. The sender is an XPUB (same send path as \
             PUB) that waits for the subscription before the warm-up; SNDHWM = RCVHWM = 0 \
             (unlimited) on both ends, so nothing is dropped (zlink's methodology)."
        }
        (Pattern::Stream, _) => {
            "STREAM → STREAM over raw TCP: the sender learns the receiver's id from the \
             connect notification and sends [id][payload]; bytes arrive in arbitrary pieces, \
             so the receiver counts bytes (rates are size-equivalent messages). `-batch`: \
             `send_routed_batch` / `recv_batch`."
        }
        (Pattern::PushPull, _) => "PUSH (connects, sends) → PULL (binds, receives).",
        (Pattern::ReqRep, _) => {
            "REQ client sends the payload and waits for the reply; the REP echo server \
             strips and restores the envelope."
        }
        (Pattern::Gateway, _) => {
            "zlink's GATEWAY on ringlink-services (ringlink rows only): a registry and a \
             receiver registered as service `bench` in the bind process; a discovery and a \
             gateway sending to `bench` by name in the other (its ROUTER picks the provider \
             and prefixes its routing id; the receiver's ROUTER gets [gateway id][payload]). \
             Latency: the receiver echoes, the gateway's `recv` returns the reply. `-batch`: \
             `Gateway::send_many` / `send_repeat` and the receiver's `recv_batch`. Compare \
             with DEALER_ROUTER (target: ≥ 0.8×)."
        }
        (Pattern::Spot, _) => {
            "zlink's SPOT on ringlink-services (ringlink rows only): two nodes, registered with \
             a registry in the bind process and meshed through discoveries; each message is \
             [topic `bench`][payload], sent by the PUB of one node to the SUB of the other and \
             received by a local subscriber (`recv_with`, one message or a batch per call). \
             Before the warm-up the sender publishes `hello` until the receiver answers `go`. \
             Latency: `ping` out, `pong` back. HWM 0 as PUBSUB; compare with PUBSUB \
             (targets: thr ≥ 0.7×, latency p50 ≤ 2×)."
        }
    }
}

/// The transports of the session, as the report describes them.
pub fn transports_line(cfg: &Config) -> String {
    cfg.transports
        .iter()
        .map(|t| t.describe())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line per library other than ringlink in `impls`: its configuration, so that a
/// reader knows which of each library's options the numbers are for.
pub fn libraries(impls: &[Impl]) -> String {
    let mut s = String::new();
    let mut seen: Vec<&str> = Vec::new();
    for i in impls {
        if i.is_ringlink() || seen.contains(&i.name) {
            continue;
        }
        seen.push(i.name);
        let _ = writeln!(s, "* `{}`: {}", i.name, describe(i.lib));
    }
    if !s.is_empty() {
        s.insert_str(
            0,
            "Other libraries, each with its best measured configuration:\n\n",
        );
        s.push('\n');
    }
    s
}

/// What a non-ringlink library row runs with.
fn describe(lib: Library) -> String {
    let rt = |f: Flavour| match f {
        Flavour::CurrentThread => {
            "tokio `current_thread` runtime (the role and the library's tasks on one thread)"
        }
        Flavour::MultiThread => {
            "tokio `multi_thread` runtime (`#[tokio::main]` default: role on the main thread, \
             one worker per CPU)"
        }
    };
    match lib {
        Library::Ringlink(_) => String::new(),
        Library::Libzmq => {
            "libzmq through the `zmq` crate, 1 I/O thread, per-message `send`/`recv`".into()
        }
        Library::Rzmq { flavour, uring } => format!(
            "rzmq 0.5 on a {}; {}; rzmq's default coalescing (up to 128 messages / 256 KiB \
             per write and per wake-up) under a per-message API; AUTO_DELIMITER off \
             (libzmq's DEALER/ROUTER frames); PUB/SUB with XPUB_NODROP and HWM 1000 where \
             the others use 0 (rzmq reads 0 as a one-message queue); no PAIR, STREAM or \
             poll (n/a)",
            rt(flavour),
            if uring {
                "io_uring backend (`initialize_uring_backend` defaults: 1 worker thread here, \
                 multishot receive; `IO_URING_SESSION_ENABLED`)"
            } else {
                "standard tokio TCP sessions (no io_uring)"
            }
        ),
        Library::Zeromq { flavour } => format!(
            "zeromq (zmq.rs) 0.7 on a {}; default `SocketOptions` (no HWM option: fixed \
             internal queue bounds), no batch API; PUB/SUB sends from its XPUB, which waits \
             for room instead of dropping; no PAIR, STREAM or poll (n/a)",
            rt(flavour)
        ),
    }
}

/// The implementations of `test` that cannot run `case`, with the reason: "n/a" rows.
pub fn not_applicable(cfg: &Config, case: &Case) -> Vec<(Impl, &'static str)> {
    cfg.impls_for(case.test)
        .into_iter()
        .filter_map(|i| {
            i.unsupported(case.pattern, case.transport, cfg.threads)
                .map(|why| (i, why))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::impls::Transport;
    use crate::report::tests::config;

    #[test]
    fn peers_are_na_with_a_reason_and_described() {
        let mut cfg = config(1);
        cfg.impls = Some(
            ["ringlink-uring", "rzmq", "zeromq", "libzmq"]
                .map(|n| Impl::parse(n).expect("known"))
                .to_vec(),
        );
        let case = Case {
            test: Test::Thr,
            pattern: Pattern::Pair,
            transport: Transport::Tcp,
            size: 64,
            count: 1000,
        };
        let na: Vec<&str> = not_applicable(&cfg, &case)
            .iter()
            .map(|(i, _)| i.name)
            .collect();
        assert_eq!(na, ["rzmq", "zeromq"]);
        let pp = Case {
            pattern: Pattern::PushPull,
            ..case
        };
        assert!(not_applicable(&cfg, &pp).is_empty());
        let text = libraries(&cfg.impls_for(Test::Thr));
        assert!(
            text.contains("* `rzmq`: rzmq 0.5 on a tokio `current_thread`"),
            "{text}"
        );
        assert!(text.contains("* `zeromq`: zeromq (zmq.rs)"), "{text}");
        assert!(!text.contains("ringlink-uring"));
    }
}
