//! Connection events: a monitor on a server socket sees it listen, accept a client and
//! complete the handshake, then the client disconnect. Run:
//! `cargo run -p ringlink --example monitor`.

use std::time::Duration;

use ringlink::{Context, MonitorEventKind, SocketType};

fn main() -> ringlink::Result<()> {
    let ctx = Context::new()?;
    let mut server = ctx.socket(SocketType::Router)?;
    let monitor = server.monitor()?;
    server.bind("tcp://127.0.0.1:*")?;
    let endpoint = server.last_endpoint().expect("bound");

    let mut client = ctx.socket(SocketType::Dealer)?;
    client.connect(&endpoint)?;
    let mut seen = Vec::new();
    let next = |seen: &mut Vec<String>| -> ringlink::Result<MonitorEventKind> {
        let ev = monitor
            .recv(Some(Duration::from_secs(10)))?
            .expect("an event within 10 s");
        println!("{:?} on {}", ev.kind, ev.endpoint);
        seen.push(format!("{:?}", ev.kind));
        Ok(ev.kind)
    };
    while !matches!(next(&mut seen)?, MonitorEventKind::HandshakeSucceeded) {}
    drop(client); // the server sees the peer go away
    while !matches!(next(&mut seen)?, MonitorEventKind::Disconnected(..)) {}
    assert!(seen.iter().any(|e| e == "Listening"));
    assert!(seen.iter().any(|e| e == "Accepted"));
    Ok(())
}
