//! pyzmq ↔ pyzmq runs of `tests/python/peer.py`, proving the peer script and the harness
//! themselves are sound (no ringlink involved), so an interop failure points at ringlink.

use ringlink_tests::{BindAddr, PyPeer, Transport};

/// Starts `binder` (its steps bound to a fresh endpoint), connects `connector` to the
/// endpoint it reports, and requires both to pass.
fn run_pair(transport: Transport, binder: &[&str], connector: &[&str]) {
    let addr = BindAddr::new(transport, "selftest");
    let split = |args: &[&str], mode: &str, ep: &str| -> Vec<String> {
        // args = [options.., TYPE, steps..]; insert mode and endpoint after TYPE.
        let ty = args
            .iter()
            .position(|a| ["PAIR", "DEALER", "ROUTER"].contains(a))
            .expect("socket type");
        let mut v: Vec<String> = args[..=ty].iter().map(|s| s.to_string()).collect();
        v.extend([mode.to_owned(), ep.to_owned()]);
        v.extend(args[ty + 1..].iter().map(|s| s.to_string()));
        v
    };
    let mut b = PyPeer::spawn(&split(binder, "bind", &addr.endpoint));
    let ep = b.endpoint();
    let mut c = PyPeer::spawn(&split(connector, "connect", &ep));
    c.endpoint();
    c.finish();
    b.finish();
}

const RECEIVER: &[&str] = &["recv", "200", "send", "200", "echo", "50", "large"];
const SENDER: &[&str] = &["send", "200", "recv", "200", "ping", "50", "large-ping"];

fn with(prefix: &[&'static str], steps: &[&'static str]) -> Vec<&'static str> {
    prefix.iter().chain(steps).copied().collect()
}

#[test]
fn selftest_pair_tcp() {
    run_pair(
        Transport::Tcp,
        &with(&["PAIR"], RECEIVER),
        &with(&["PAIR"], SENDER),
    );
}

#[test]
fn selftest_pair_ipc_sender_binds() {
    run_pair(
        Transport::Ipc,
        &with(&["PAIR"], SENDER),
        &with(&["PAIR"], RECEIVER),
    );
}

#[test]
fn selftest_router_dealer_tcp() {
    run_pair(
        Transport::Tcp,
        &with(&["--expect-id", "py-dealer", "ROUTER"], RECEIVER),
        &with(&["--routing-id", "py-dealer", "DEALER"], SENDER),
    );
}

#[test]
fn selftest_dealer_router_abstract() {
    // The ROUTER drives after learning the id from `hello`.
    run_pair(
        Transport::Abstract,
        &with(&["DEALER", "hello"], RECEIVER),
        &with(&["ROUTER", "hello"], SENDER),
    );
}

#[test]
#[should_panic(expected = "exited before printing \"ENDPOINT \"")]
fn selftest_harness_reports_a_failing_peer() {
    let mut peer = PyPeer::spawn(&["PAIR", "bind", "tcp://127.0.0.1:*", "no-such-step"]);
    peer.endpoint();
}

#[test]
#[should_panic(expected = "timed out waiting for message 0")]
fn selftest_peer_reports_a_missing_message() {
    let mut peer = PyPeer::spawn(&[
        "--timeout",
        "0.5",
        "PAIR",
        "bind",
        "tcp://127.0.0.1:*",
        "recv",
        "1",
    ]);
    peer.endpoint();
    peer.finish();
}

#[test]
#[should_panic(expected = "recv message 1: got 4 parts")]
fn selftest_peer_detects_wrong_content() {
    // Runs of 3 and 4 differ at message 1 (the 1 MiB frame is on message n / 2).
    run_pair(
        Transport::Tcp,
        &["PAIR", "recv", "4"],
        &["PAIR", "send", "3"],
    );
}
