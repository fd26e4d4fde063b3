//! Request/reply: a REP server thread answers each request in upper case; a REQ client
//! sends ten requests in lock-step. Run: `cargo run -p ringlink --example reqrep`.

use ringlink::{Context, SocketType};

fn main() -> ringlink::Result<()> {
    let ctx = Context::new()?;
    let mut rep = ctx.socket(SocketType::Rep)?;
    rep.bind("tcp://127.0.0.1:*")?;
    let endpoint = rep.last_endpoint().expect("bound");
    let server = std::thread::spawn(move || -> ringlink::Result<()> {
        for _ in 0..10 {
            let request = rep.recv_bytes(0)?;
            rep.send(&request.to_ascii_uppercase(), 0)?;
        }
        Ok(())
    });

    let mut req = ctx.socket(SocketType::Req)?;
    req.connect(&endpoint)?;
    for i in 0..10 {
        req.send(format!("hello {i}").as_bytes(), 0)?;
        let reply = req.recv_string(0)?.expect("UTF-8 reply");
        assert_eq!(reply, format!("HELLO {i}"));
        println!("{reply}");
    }
    server.join().expect("server thread")
}
