//! `ringlink-bench`: compares ringlink (io_uring and epoll backends, reactor-thread and
//! inline contexts, per-message and batch APIs) with libzmq and the Rust peers rzmq and
//! zeromq (zmq.rs) on the same machine, using the methodology of the project's libzmq
//! baselines (`tools/baseline/zmq_bench.c`): two processes per run, receiver-side rates,
//! interleaved repetitions and paired ratios. See `docs/benchmarks.md`.

mod charts;
mod cli;
mod compare;
mod impls;
mod net;
mod peer;
mod peers;
mod report;
mod report_notes;
mod runner;
mod scale;
mod soak;
mod stats;
mod verdict;
mod verdict_peers;

use std::process::ExitCode;

const USAGE: &str = "\
usage: ringlink-bench <command> [options]

commands:
  compare    interleaved throughput and latency comparison with libzmq, rzmq and zeromq
             (`ringlink-bench compare --help` for its options)
  scale      many connections: 1,000-connection fan-in into one ROUTER, fan-out of one
             PUB to 100 SUBs, and RSS per idle connection with 10,000 open
             (`ringlink-bench scale --help`)
  soak       sustained PUSH/PULL, DEALER/ROUTER and PUB/SUB on both backends with
             sequence checks, RSS and rate sampled over time (`ringlink-bench soak --help`)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((cmd, rest)) => (cmd.as_str(), rest),
        None => ("help", &[][..]),
    };
    let result = match cmd {
        "compare" => compare::run(rest),
        "scale" => scale::run(rest),
        "soak" => soak::run(rest),
        peer::SUBCOMMAND => peer::main(rest),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringlink-bench: {e}");
            ExitCode::from(2)
        }
    }
}
