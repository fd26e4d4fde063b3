//! Publish/subscribe with topic filters. The publisher is an XPUB so it can see the
//! subscription arrive before it publishes (a plain PUB drops what it sends before then:
//! the "slow joiner"). Run: `cargo run -p ringlink --example pubsub`.

use ringlink::{Context, SocketType};

fn main() -> ringlink::Result<()> {
    let ctx = Context::new()?;
    let mut publisher = ctx.socket(SocketType::XPub)?;
    publisher.bind("tcp://127.0.0.1:*")?;
    let endpoint = publisher.last_endpoint().expect("bound");

    let mut subscriber = ctx.socket(SocketType::Sub)?;
    subscriber.connect(&endpoint)?;
    subscriber.subscribe("weather.")?;
    // XPUB receives each new subscription as a message: 0x01 + topic.
    assert_eq!(publisher.recv_bytes(0)?, b"\x01weather.");

    for (topic, body) in [
        ("weather.paris", "12C"),
        ("sport.football", "2-1"),
        ("weather.oslo", "-3C"),
    ] {
        publisher.send_multipart(&[topic, body], 0)?;
    }
    publisher.send_multipart(&["weather.end", ""], 0)?;

    let mut got = Vec::new();
    loop {
        let parts = subscriber.recv_multipart(0)?;
        let topic = String::from_utf8_lossy(&parts[0]).into_owned();
        if topic == "weather.end" {
            break;
        }
        println!("{topic}: {}", String::from_utf8_lossy(&parts[1]));
        got.push(topic);
    }
    // The sport update never reached the subscriber: the publisher filtered it.
    assert_eq!(got, ["weather.paris", "weather.oslo"]);
    Ok(())
}
