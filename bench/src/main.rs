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
mod peer_args;
mod peers;
mod report;
mod report_notes;
mod runner;
mod scale;
mod schedule;
mod services;
mod soak;
mod stats;
mod verdict;
mod verdict_peers;
mod verdict_services;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use cli::{check, Cli, Command};

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        None => Cli::command()
            .print_help()
            .map_err(|e| format!("writing the help: {e}")),
        Some(Command::Compare(cfg)) => {
            check("compare", cfg.validate());
            compare::run(&cfg)
        }
        Some(Command::Scale(cfg)) => {
            check("scale", cfg.validate());
            scale::run(&cfg)
        }
        Some(Command::Soak(cfg)) => {
            check("soak", cfg.validate());
            soak::run(&cfg)
        }
        Some(Command::Peer { args }) => peer::main(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringlink-bench: {e}");
            ExitCode::from(2)
        }
    }
}
