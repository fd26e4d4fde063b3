//! What `soak` was asked to do: patterns, API, options (`SoakConfig`), and the arguments of
//! one peer process (`PeerOpts`, round-tripped through argv).

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::{Args, Parser};
use ringlink::{Backend, SocketType};
use serde::Serialize;

use super::wire::MIN_SIZE;
use crate::cli;
use crate::peer::SUBCOMMAND;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SoakPattern {
    #[serde(rename = "PUSH_PULL")]
    PushPull,
    #[serde(rename = "DEALER_ROUTER")]
    DealerRouter,
    #[serde(rename = "PUB_SUB")]
    PubSub,
}

impl SoakPattern {
    pub const ALL: [SoakPattern; 3] = [
        SoakPattern::PushPull,
        SoakPattern::DealerRouter,
        SoakPattern::PubSub,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SoakPattern::PushPull => "PUSH_PULL",
            SoakPattern::DealerRouter => "DEALER_ROUTER",
            SoakPattern::PubSub => "PUB_SUB",
        }
    }

    pub(super) fn parse(s: &str) -> Option<SoakPattern> {
        let s = s.to_ascii_uppercase();
        match s.as_str() {
            "PUBSUB" => Some(SoakPattern::PubSub),
            _ => SoakPattern::ALL.into_iter().find(|p| p.name() == s),
        }
    }

    /// (sender, receiver) socket types.
    pub(super) fn types(self) -> (SocketType, SocketType) {
        match self {
            SoakPattern::PushPull => (SocketType::Push, SocketType::Pull),
            SoakPattern::DealerRouter => (SocketType::Dealer, SocketType::Router),
            SoakPattern::PubSub => (SocketType::XPub, SocketType::Sub),
        }
    }

    pub(super) fn describe(self) -> &'static str {
        match self {
            SoakPattern::PushPull => "PUSH (connects, sends) → PULL (binds, receives)",
            SoakPattern::DealerRouter => {
                "DEALER (connects, sends) → ROUTER (binds, receives [routing id, payload])"
            }
            SoakPattern::PubSub => {
                "XPUB with XPUB_NODROP (connects, publishes after the subscription arrived) → SUB (binds, subscribed to everything)"
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    Batch,
    Message,
}

impl Api {
    pub(super) fn name(self) -> &'static str {
        match self {
            Api::Batch => "batch",
            Api::Message => "message",
        }
    }

    pub(super) fn parse(s: &str) -> Option<Api> {
        [Api::Batch, Api::Message]
            .into_iter()
            .find(|a| a.name() == s)
    }
}

pub(super) fn backend_parse(s: &str) -> Option<Backend> {
    match s {
        "uring" | "io_uring" => Some(Backend::Uring),
        "epoll" => Some(Backend::Epoll),
        _ => None,
    }
}

/// Everything `soak` was asked to do: its command-line options.
#[derive(Debug, Args, Serialize)]
pub struct SoakConfig {
    /// Total run time, split evenly over the combinations
    #[arg(long = "duration", value_name = "SECS", default_value_t = 60.0)]
    pub duration_s: f64,
    /// PUSH_PULL,DEALER_ROUTER,PUB_SUB (case-insensitive; PUBSUB = PUB_SUB)
    #[arg(long, value_name = "LIST", default_value = "PUSH_PULL,DEALER_ROUTER,PUB_SUB",
          value_parser = unique_list("pattern", SoakPattern::parse))]
    pub patterns: std::vec::Vec<SoakPattern>,
    /// uring,epoll (io_uring = uring)
    #[arg(long, value_name = "LIST", default_value = "uring,epoll",
          value_parser = unique_list("backend", backend_parse))]
    #[serde(serialize_with = "backend_names")]
    pub backends: std::vec::Vec<Backend>,
    /// batch (send_batch / recv_batch) or message (one call per message)
    #[arg(long, value_name = "API", default_value = "batch",
          value_parser = cli::one("api", Api::parse))]
    pub api: Api,
    /// Message size (>= 16)
    #[arg(long, value_name = "BYTES", default_value_t = 64)]
    pub size: usize,
    /// Messages per send_batch call
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub batch: usize,
    /// SNDHWM = RCVHWM of both sockets
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub hwm: i32,
    /// Minimum receiver mean rate
    #[arg(long, value_name = "MSG_S", default_value_t = 1_000_000.0)]
    pub min_rate: f64,
    /// Allowed RSS deviation after warm-up, percent
    #[arg(long, value_name = "P", default_value_t = 10.0)]
    pub rss_tolerance_pct: f64,
    /// Warm-up share of each combination's run, percent
    #[arg(long, value_name = "P", default_value_t = 10.0)]
    pub warmup_pct: f64,
    /// Minimum warm-up, seconds
    #[arg(long, value_name = "S", default_value_t = 2.0)]
    pub warmup_min_s: f64,
    /// Sampling interval, ms
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub sample_ms: u64,
    /// A send blocked / no message received this long (seconds) fails the run
    #[arg(long, value_name = "S", default_value_t = 5)]
    pub stall_s: u64,
    /// Results directory [default: <workspace>/results/<UTC timestamp>-soak]
    #[arg(long, value_name = "DIR")]
    #[serde(skip)]
    pub out: Option<PathBuf>,
}

fn backend_names<S: serde::Serializer>(b: &[Backend], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(b.iter().map(|b| b.name()))
}

/// [`cli::list`] without repeats (a pattern or backend named twice runs once).
fn unique_list<T: Clone + PartialEq + Send + Sync + 'static>(
    what: &'static str,
    parse: fn(&str) -> Option<T>,
) -> impl TypedValueParser<Value = Vec<T>> {
    cli::list(what, parse).map(|mut v: Vec<T>| {
        let mut seen = Vec::with_capacity(v.len());
        v.retain(|x| {
            let new = !seen.contains(x);
            if new {
                seen.push(x.clone());
            }
            new
        });
        v
    })
}

impl SoakConfig {
    /// The checks that span several options or that clap's value parsers do not make.
    pub fn validate(&self) -> Result<(), String> {
        let c = self;
        if c.size < MIN_SIZE {
            return Err(format!("--size must be >= {MIN_SIZE}"));
        }
        if c.batch == 0 || c.sample_ms == 0 || c.stall_s == 0 {
            return Err("--batch, --sample-ms and --stall-s must be >= 1".into());
        }
        if !(0.0..100.0).contains(&c.warmup_pct) || c.warmup_min_s.is_nan() || c.warmup_min_s < 0.0
        {
            return Err("--warmup-pct must be in [0, 100), --warmup-min-s >= 0".into());
        }
        if !(c.duration_s.is_finite() && c.duration_s > 0.0 && c.duration_s < 1e7) {
            return Err("--duration must be a number of seconds > 0".into());
        }
        if c.rss_tolerance_pct.is_nan()
            || c.rss_tolerance_pct < 0.0
            || c.min_rate.is_nan()
            || c.min_rate < 0.0
        {
            return Err("--rss-tolerance-pct and --min-rate must be >= 0".into());
        }
        // At least two samples after warm-up, so the RSS check has something to check.
        let need = c.warmup(c.per_run()).as_secs_f64() + 2.0 * c.sample_ms as f64 / 1e3;
        if c.per_run().as_secs_f64() < need {
            return Err(format!(
                "--duration {} s gives {:.1} s per combination ({} combinations); each needs >= {need:.1} s (warm-up plus two samples)",
                c.duration_s,
                c.per_run().as_secs_f64(),
                c.combinations().len()
            ));
        }
        Ok(())
    }

    /// Every (pattern, backend) to run, in run order.
    pub fn combinations(&self) -> Vec<(SoakPattern, Backend)> {
        self.patterns
            .iter()
            .flat_map(|&p| self.backends.iter().map(move |&b| (p, b)))
            .collect()
    }

    /// Each combination's share of `--duration`.
    pub fn per_run(&self) -> Duration {
        let n = self.combinations().len().max(1) as f64;
        Duration::from_secs_f64((self.duration_s / n).max(0.0))
    }

    /// The warm-up of a run of length `run`.
    pub fn warmup(&self, run: Duration) -> Duration {
        Duration::from_secs_f64(
            (run.as_secs_f64() * self.warmup_pct / 100.0).max(self.warmup_min_s),
        )
    }
}

/// Arguments of one soak peer process (round-tripped through argv: [`PeerOpts::to_args`],
/// parsed back by clap).
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(name = SUBCOMMAND, about = "One end of a soak run (started by the parent)")]
pub(super) struct PeerOpts {
    pub(super) role: String,
    #[arg(long, value_parser = cli::one("pattern", SoakPattern::parse))]
    pub(super) pattern: SoakPattern,
    #[arg(long, value_parser = cli::one("backend", backend_parse))]
    pub(super) backend: Backend,
    #[arg(long, value_parser = cli::one("api", Api::parse))]
    pub(super) api: Api,
    #[arg(long, default_value_t = 64)]
    pub(super) size: usize,
    #[arg(long, default_value_t = 256)]
    pub(super) batch: usize,
    #[arg(long, default_value_t = 1000)]
    pub(super) hwm: i32,
    #[arg(long, default_value_t = 1000)]
    pub(super) duration_ms: u64,
    #[arg(long, default_value_t = 1000)]
    pub(super) sample_ms: u64,
    #[arg(long, default_value_t = 5000)]
    pub(super) stall_ms: u64,
    #[arg(long)]
    pub(super) endpoint: Option<String>,
}

impl PeerOpts {
    pub(super) fn new(
        cfg: &SoakConfig,
        role: &str,
        pattern: SoakPattern,
        backend: Backend,
    ) -> PeerOpts {
        PeerOpts {
            role: role.to_string(),
            pattern,
            backend,
            api: cfg.api,
            size: cfg.size,
            batch: cfg.batch,
            hwm: cfg.hwm,
            duration_ms: cfg.per_run().as_millis() as u64,
            sample_ms: cfg.sample_ms,
            stall_ms: cfg.stall_s * 1000,
            endpoint: None,
        }
    }

    pub(super) fn to_args(&self) -> Vec<String> {
        let mut v = vec![
            SUBCOMMAND.to_string(),
            self.role.clone(),
            format!("--pattern={}", self.pattern.name()),
            format!("--backend={}", self.backend.name()),
            format!("--api={}", self.api.name()),
            format!("--size={}", self.size),
            format!("--batch={}", self.batch),
            format!("--hwm={}", self.hwm),
            format!("--duration-ms={}", self.duration_ms),
            format!("--sample-ms={}", self.sample_ms),
            format!("--stall-ms={}", self.stall_ms),
        ];
        if let Some(ep) = &self.endpoint {
            v.push(format!("--endpoint={ep}"));
        }
        v
    }

    /// Parses `args` (the role and its options, as [`to_args`](Self::to_args) wrote them
    /// after the subcommand).
    pub(super) fn from_args(args: &[String]) -> Result<PeerOpts, String> {
        let argv = std::iter::once(SUBCOMMAND).chain(args.iter().map(String::as_str));
        let p = PeerOpts::try_parse_from(argv).map_err(|e| e.to_string().trim_end().to_string())?;
        if p.size < MIN_SIZE || p.batch == 0 || p.sample_ms == 0 {
            return Err(format!(
                "peer: needs --size >= {MIN_SIZE}, --batch and --sample-ms >= 1"
            ));
        }
        Ok(p)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::{is_peer_role, RECV_ROLE, SEND_ROLE};
    use super::*;

    /// `soak` with the options in `s`, validated.
    pub(in crate::soak) fn parse(s: &str) -> Result<SoakConfig, String> {
        #[derive(Parser)]
        struct Cmd {
            #[command(flatten)]
            config: SoakConfig,
        }
        let argv = std::iter::once("soak").chain(s.split_whitespace());
        let c = Cmd::try_parse_from(argv).map_err(|e| e.to_string())?.config;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn defaults_and_options() {
        let c = parse("").unwrap();
        assert_eq!(c.combinations().len(), 6);
        assert_eq!(c.per_run(), Duration::from_secs(10));
        assert_eq!(c.warmup(c.per_run()), Duration::from_secs(2));
        assert_eq!(c.warmup(Duration::from_secs(100)), Duration::from_secs(10));
        assert_eq!(c.api, Api::Batch);
        let c = parse("--duration 30 --patterns pubsub,PUSH_PULL --backends epoll --api message")
            .unwrap();
        assert_eq!(
            c.combinations(),
            vec![
                (SoakPattern::PubSub, Backend::Epoll),
                (SoakPattern::PushPull, Backend::Epoll)
            ]
        );
        assert_eq!(c.per_run(), Duration::from_secs(15));
        assert!(parse("--duration 12").is_err(), "2 s each");
        assert!(parse("--size 8").is_err());
        assert!(parse("--backends kqueue").is_err());
        assert!(parse("--bogus 1").is_err());
        assert!(parse("--api both").is_err());
        assert!(parse("--duration x").is_err());
        assert!(parse("--hwm 1 --hwm 2").is_err());
        let c = parse("--patterns PUB_SUB,pubsub --backends io_uring,uring,epoll").unwrap();
        assert_eq!(c.patterns, [SoakPattern::PubSub], "repeats run once");
        assert_eq!(c.backends, [Backend::Uring, Backend::Epoll]);
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = parse("").unwrap();
        assert_eq!(c.duration_s, 60.0);
        assert_eq!(c.patterns, SoakPattern::ALL);
        assert_eq!(c.backends, [Backend::Uring, Backend::Epoll]);
        assert_eq!((c.size, c.batch, c.hwm), (64, 256, 1000));
        assert_eq!(
            (
                c.min_rate,
                c.rss_tolerance_pct,
                c.warmup_pct,
                c.warmup_min_s
            ),
            (1_000_000.0, 10.0, 10.0, 2.0)
        );
        assert_eq!((c.sample_ms, c.stall_s), (1000, 5));
        assert!(c.out.is_none());
    }

    #[test]
    fn peer_args_round_trip() {
        let c = parse("--duration 60 --api message").unwrap();
        let mut p = PeerOpts::new(&c, SEND_ROLE, SoakPattern::DealerRouter, Backend::Epoll);
        p.endpoint = Some("tcp://127.0.0.1:5555".into());
        let a = p.to_args();
        assert_eq!(a[0], SUBCOMMAND);
        assert!(is_peer_role(&a[1]));
        assert_eq!(PeerOpts::from_args(&a[1..]).unwrap(), p);
        p.endpoint = None;
        p.role = RECV_ROLE.into();
        assert_eq!(PeerOpts::from_args(&p.to_args()[1..]).unwrap(), p);
    }

    #[test]
    fn peer_errors() {
        let args = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        let ok = "soak-send --pattern PUSH_PULL --backend epoll --api batch";
        let p = PeerOpts::from_args(&args(ok)).unwrap();
        assert_eq!((p.size, p.batch, p.hwm), (64, 256, 1000));
        assert_eq!((p.duration_ms, p.sample_ms, p.stall_ms), (1000, 1000, 5000));
        for bad in [
            "soak-send --backend epoll --api batch",
            "soak-send --pattern PUSH_PULL --backend kqueue --api batch",
            "soak-send --pattern PUSH_PULL --backend epoll --api batch --size 8",
            "soak-send --pattern PUSH_PULL --backend epoll --api batch --extra 1",
        ] {
            assert!(PeerOpts::from_args(&args(bad)).is_err(), "{bad}");
        }
    }
}
