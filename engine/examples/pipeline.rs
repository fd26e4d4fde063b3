//! A pipeline on plain threads: a ventilator PUSHes jobs, three workers PULL them and PUSH
//! results to a sink, which checks it got every one. Run:
//! `cargo run -p ringlink --example pipeline`.

use ringlink::{Context, SocketType};

const JOBS: u64 = 30_000;

fn main() -> ringlink::Result<()> {
    let ctx = Context::new()?;
    let mut vent = ctx.socket(SocketType::Push)?;
    vent.bind("ipc://@ringlink-example-pipeline-work")?;
    let mut sink = ctx.socket(SocketType::Pull)?;
    sink.bind("inproc://results")?;

    let mut workers = Vec::new();
    for _ in 0..3 {
        let mut jobs = ctx.socket(SocketType::Pull)?;
        jobs.connect("ipc://@ringlink-example-pipeline-work")?;
        let mut results = ctx.socket(SocketType::Push)?;
        results.connect("inproc://results")?;
        workers.push(std::thread::spawn(move || -> ringlink::Result<u64> {
            let mut done = 0;
            loop {
                let job = jobs.recv_bytes(0)?;
                if job.is_empty() {
                    return Ok(done); // the stop signal
                }
                let n = u64::from_le_bytes(job.as_slice().try_into().expect("8-byte job"));
                results.send(&(2 * n).to_le_bytes(), 0)?;
                done += 1;
            }
        }));
    }

    let jobs: Vec<[u8; 8]> = (0..JOBS).map(u64::to_le_bytes).collect();
    let mut sent = 0;
    while sent < jobs.len() {
        sent += vent.send_batch(&jobs[sent..], 0)?; // one hand-off for many jobs
    }
    let mut sum = 0;
    for _ in 0..JOBS {
        let r = sink.recv_bytes(0)?;
        sum += u64::from_le_bytes(r.as_slice().try_into().expect("8-byte result"));
    }
    assert_eq!(sum, JOBS * (JOBS - 1));
    for _ in 0..workers.len() {
        vent.send(b"", 0)?;
    }
    let per_worker: Vec<u64> = workers
        .into_iter()
        .map(|w| w.join().expect("worker thread"))
        .collect::<ringlink::Result<_>>()?;
    assert_eq!(per_worker.iter().sum::<u64>(), JOBS);
    println!("{JOBS} jobs, per worker {per_worker:?}");
    Ok(())
}
