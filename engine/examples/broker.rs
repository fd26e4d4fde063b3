//! A request broker: REQ clients talk to a ROUTER frontend, REP workers to a DEALER
//! backend, and `ringlink::proxy` forwards between them on its own thread until the context
//! is shut down. Run: `cargo run -p ringlink --example broker`.

use ringlink::{Context, Error, SocketType};

fn main() -> ringlink::Result<()> {
    let ctx = Context::new()?;
    let mut frontend = ctx.socket(SocketType::Router)?;
    frontend.bind("inproc://broker-frontend")?;
    let mut backend = ctx.socket(SocketType::Dealer)?;
    backend.bind("inproc://broker-backend")?;
    let broker = std::thread::spawn(move || ringlink::proxy(&mut frontend, &mut backend, None));

    let mut workers = Vec::new();
    for w in 0..2 {
        let mut rep = ctx.socket(SocketType::Rep)?;
        rep.connect("inproc://broker-backend")?;
        workers.push(std::thread::spawn(move || -> ringlink::Result<usize> {
            let mut served = 0;
            loop {
                match rep.recv_bytes(0) {
                    Ok(req) => {
                        let mut reply = format!("worker {w}: ").into_bytes();
                        reply.extend_from_slice(&req);
                        rep.send(&reply, 0)?;
                        served += 1;
                    }
                    Err(Error::Terminated) => return Ok(served),
                    Err(e) => return Err(e),
                }
            }
        }));
    }

    let mut clients = Vec::new();
    for c in 0..4 {
        let mut req = ctx.socket(SocketType::Req)?;
        req.connect("inproc://broker-frontend")?;
        clients.push(std::thread::spawn(move || -> ringlink::Result<()> {
            for i in 0..25 {
                let body = format!("client {c} request {i}");
                req.send(body.as_bytes(), 0)?;
                let reply = req.recv_string(0)?.expect("UTF-8");
                assert!(reply.ends_with(&body), "{reply}");
            }
            Ok(())
        }));
    }
    for c in clients {
        c.join().expect("client thread")?;
    }
    // Shutting the context down makes the proxy and the waiting workers return Terminated.
    ctx.shutdown();
    assert!(matches!(
        broker.join().expect("broker thread"),
        Err(Error::Terminated)
    ));
    let served: usize = workers
        .into_iter()
        .map(|w| w.join().expect("worker thread"))
        .sum::<ringlink::Result<usize>>()?;
    assert_eq!(served, 100);
    println!("100 requests through the broker");
    Ok(())
}
