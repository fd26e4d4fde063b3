//! A pipeline on tokio: a ventilator task PUSHes work, two worker tasks PULL it and PUSH
//! results to a sink task, all through `ringlink::tokio::AsyncSocket`.
//! Run: `cargo run -p ringlink --example tokio_pipeline --features tokio`.

use ringlink::tokio::AsyncSocket;
use ringlink::{Context, SocketType};

const JOBS: u64 = 10_000;

#[tokio::main]
async fn main() -> ringlink::Result<()> {
    let ctx = Context::new()?;
    let mut vent = ctx.socket(SocketType::Push)?;
    vent.bind("tcp://127.0.0.1:*")?;
    let work = vent.last_endpoint().expect("bound");
    let mut sink = ctx.socket(SocketType::Pull)?;
    sink.bind("tcp://127.0.0.1:*")?;
    let results = sink.last_endpoint().expect("bound");

    let mut workers = Vec::new();
    for _ in 0..2 {
        let mut pull = ctx.socket(SocketType::Pull)?;
        pull.connect(&work)?;
        let mut push = ctx.socket(SocketType::Push)?;
        push.connect(&results)?;
        let (mut pull, mut push) = (AsyncSocket::new(pull)?, AsyncSocket::new(push)?);
        workers.push(tokio::spawn(async move {
            loop {
                let job = pull.recv().await?;
                let n = u64::from_le_bytes(job.as_slice().try_into().expect("8-byte job"));
                push.send(&(n * n).to_le_bytes()).await?;
            }
            #[allow(unreachable_code)]
            Ok::<(), ringlink::Error>(())
        }));
    }

    let mut vent = AsyncSocket::new(vent)?;
    let ventilator = tokio::spawn(async move {
        for n in 0..JOBS {
            vent.send(&n.to_le_bytes()).await?;
        }
        Ok::<_, ringlink::Error>(vent)
    });
    let mut sink = AsyncSocket::new(sink)?;
    let mut sum = 0u64;
    for _ in 0..JOBS {
        let r = sink.recv().await?;
        sum += u64::from_le_bytes(r.as_slice().try_into().expect("8-byte result"));
    }
    let want: u64 = (0..JOBS).map(|n| n * n).sum();
    assert_eq!(sum, want);
    println!("sum of {JOBS} squares: {sum}");
    drop(ventilator.await.expect("ventilator task")?);
    for w in workers {
        w.abort();
    }
    Ok(())
}
