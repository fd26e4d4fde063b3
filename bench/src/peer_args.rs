//! The arguments of a `__peer` child process: its role and options, built by the parent
//! and round-tripped through argv (`ringlink-bench __peer ROLE --impl NAME ...`).

use clap::Parser;

use crate::cli;
use crate::impls::{Impl, Pattern, Transport};

/// The hidden subcommand the parent re-executes itself with.
pub const SUBCOMMAND: &str = "__peer";

/// Smallest throughput message: marker byte + 8-byte sequence number.
pub const MIN_THR_SIZE: usize = 9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Throughput receiver: binds, measures.
    ThrRecv,
    /// Throughput sender: connects, sends warm-up + measured messages.
    ThrSend,
    /// Latency echo server: binds, echoes.
    LatServer,
    /// Latency client: connects, times each round trip.
    LatClient,
    /// Thread mode (inproc, `--mode thread`): receiver and sender as two threads of one
    /// process sharing one context.
    ThrThreads,
    /// Thread mode: echo server and client as two threads of one process.
    LatThreads,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::ThrRecv => "thr-recv",
            Role::ThrSend => "thr-send",
            Role::LatServer => "lat-server",
            Role::LatClient => "lat-client",
            Role::ThrThreads => "thr-threads",
            Role::LatThreads => "lat-threads",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        [
            Role::ThrRecv,
            Role::ThrSend,
            Role::LatServer,
            Role::LatClient,
            Role::ThrThreads,
            Role::LatThreads,
        ]
        .into_iter()
        .find(|r| r.name() == s)
    }

    /// `compare --pin`: the CPU of this role's process (the bind side on the last one this
    /// process may use, the connect side on the first); `None` for the one-process modes,
    /// whose two ends share a context and its I/O threads.
    pub(crate) fn pin_cpu(self) -> Option<usize> {
        let cpus = core_affinity::get_core_ids()?;
        match self {
            Role::ThrRecv | Role::LatServer => cpus.last().map(|c| c.id),
            Role::ThrSend | Role::LatClient => cpus.first().map(|c| c.id),
            Role::ThrThreads | Role::LatThreads => None,
        }
    }
}

/// Everything a peer needs; built by the parent, round-tripped through argv
/// ([`PeerArgs::to_args`], parsed back by clap).
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(name = SUBCOMMAND, about = "One end of a compare run (started by the parent)")]
pub struct PeerArgs {
    #[arg(value_parser = cli::one("role", Role::parse))]
    pub role: Role,
    #[arg(long = "impl", value_parser = cli::one("impl", Impl::parse))]
    pub imp: Impl,
    #[arg(long, default_value = "PAIR", value_parser = cli::one("pattern", Pattern::parse))]
    pub pattern: Pattern,
    #[arg(long, default_value = "tcp", value_parser = cli::one("transport", Transport::parse))]
    pub transport: Transport,
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Measured messages (thr) or timed round trips (lat).
    #[arg(long, default_value_t = 0)]
    pub count: u64,
    #[arg(long, default_value_t = 0)]
    pub warmup: u64,
    #[arg(long, default_value_t = 1000)]
    pub hwm: i32,
    /// Messages per `send_batch` call (batch implementations only).
    #[arg(long, default_value_t = 1024)]
    pub batch: usize,
    #[arg(long, default_value_t = 0)]
    pub spin_us: u64,
    /// Where to connect (connecting roles only).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Run every thread of this process on this CPU (`compare --pin`).
    #[arg(long)]
    pub cpu: Option<usize>,
}

impl PeerArgs {
    /// The argv (after the executable) that starts this peer.
    pub fn to_args(&self) -> Vec<String> {
        let mut v = vec![
            SUBCOMMAND.to_string(),
            self.role.name().to_string(),
            format!("--impl={}", self.imp.name),
            format!("--pattern={}", self.pattern.name()),
            format!("--transport={}", self.transport.name()),
            format!("--size={}", self.size),
            format!("--count={}", self.count),
            format!("--warmup={}", self.warmup),
            format!("--hwm={}", self.hwm),
            format!("--batch={}", self.batch),
            format!("--spin-us={}", self.spin_us),
        ];
        if let Some(ep) = &self.endpoint {
            v.push(format!("--endpoint={ep}"));
        }
        if let Some(cpu) = self.cpu {
            v.push(format!("--cpu={cpu}"));
        }
        v
    }

    /// Parses `args` (the role and its options, as [`to_args`](Self::to_args) wrote them
    /// after the subcommand).
    pub(crate) fn from_args(args: &[String]) -> Result<PeerArgs, String> {
        let a = PeerArgs::try_parse_from(
            std::iter::once(SUBCOMMAND).chain(args.iter().map(String::as_str)),
        )
        .map_err(|e| e.to_string().trim_end().to_string())?;
        let min_size = match a.role {
            Role::ThrRecv | Role::ThrSend | Role::ThrThreads => MIN_THR_SIZE,
            Role::LatServer | Role::LatClient | Role::LatThreads => 1,
        };
        if a.count == 0 || a.size < min_size {
            return Err(format!("peer: needs --count >= 1 and --size >= {min_size}"));
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_args_round_trip() {
        for (role, endpoint) in [
            (Role::ThrRecv, None),
            (Role::LatClient, Some("tcp://127.0.0.1:5555".to_string())),
            (Role::ThrThreads, None),
        ] {
            let a = PeerArgs {
                role,
                imp: Impl::parse("ringlink-epoll-inline-batch").expect("known"),
                pattern: Pattern::RouterRouterPoll,
                transport: Transport::Ipc,
                size: 100,
                count: 3,
                warmup: 0,
                hwm: -1,
                batch: 7,
                spin_us: 9,
                endpoint,
                cpu: None,
            };
            let argv = a.to_args();
            assert_eq!(argv[0], SUBCOMMAND);
            assert_eq!(PeerArgs::from_args(&argv[1..]), Ok(a));
        }
    }

    #[test]
    fn peer_defaults_and_errors() {
        let args = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        let a = PeerArgs::from_args(&args("lat-server --impl libzmq --count 1")).expect("parses");
        assert_eq!(
            (
                a.pattern,
                a.transport,
                a.size,
                a.warmup,
                a.hwm,
                a.batch,
                a.spin_us
            ),
            (Pattern::Pair, Transport::Tcp, 64, 0, 1000, 1024, 0)
        );
        assert_eq!(a.endpoint, None);
        for bad in [
            "thr-recv --count 1",
            "nope --impl libzmq --count 1",
            "thr-recv --impl nope --count 1",
            "thr-recv --impl libzmq",
            "thr-recv --impl libzmq --count 1 --size 8",
            "thr-recv --impl libzmq --count 1 --bogus 2",
        ] {
            assert!(PeerArgs::from_args(&args(bad)).is_err(), "{bad}");
        }
    }
}
