//! What `soak` was asked to do: patterns, API, options (`SoakConfig`), and the arguments of
//! one peer process (`PeerOpts`, round-tripped through argv).

use std::path::PathBuf;
use std::time::Duration;

use ringlink::{Backend, SocketType};
use serde::Serialize;

use super::wire::MIN_SIZE;
use super::USAGE;
use crate::cli::Opts;
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

/// Everything `soak` was asked to do.
#[derive(Debug, Serialize)]
pub struct SoakConfig {
    pub duration_s: f64,
    pub patterns: Vec<SoakPattern>,
    #[serde(serialize_with = "backend_names")]
    pub backends: Vec<Backend>,
    pub api: Api,
    pub size: usize,
    pub batch: usize,
    pub hwm: i32,
    pub min_rate: f64,
    pub rss_tolerance_pct: f64,
    pub warmup_pct: f64,
    pub warmup_min_s: f64,
    pub sample_ms: u64,
    pub stall_s: u64,
    #[serde(skip)]
    pub out: Option<PathBuf>,
}

fn backend_names<S: serde::Serializer>(b: &[Backend], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(b.iter().map(|b| b.name()))
}

fn parse_list<T>(
    text: Option<String>,
    default: &[T],
    what: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, String>
where
    T: Clone + PartialEq,
{
    let Some(text) = text else {
        return Ok(default.to_vec());
    };
    let mut v: Vec<T> = Vec::new();
    for t in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let x = parse(t).ok_or_else(|| format!("unknown {what} `{t}`"))?;
        if !v.contains(&x) {
            v.push(x);
        }
    }
    if v.is_empty() {
        return Err(format!("empty {what} list"));
    }
    Ok(v)
}

impl SoakConfig {
    /// `Ok(None)` means `--help` was printed.
    pub(super) fn parse(args: &[String]) -> Result<Option<SoakConfig>, String> {
        let mut o = Opts::parse(args)?;
        if o.help() {
            print!("{USAGE}");
            return Ok(None);
        }
        let api = o.string("api").unwrap_or_else(|| "batch".into());
        let c = SoakConfig {
            duration_s: o.get("duration", 60.0)?,
            patterns: parse_list(
                o.string("patterns"),
                &SoakPattern::ALL,
                "pattern",
                SoakPattern::parse,
            )?,
            backends: parse_list(
                o.string("backends"),
                &[Backend::Uring, Backend::Epoll],
                "backend",
                backend_parse,
            )?,
            api: Api::parse(&api)
                .ok_or_else(|| format!("--api: `{api}` is neither batch nor message"))?,
            size: o.get("size", 64)?,
            batch: o.get("batch", 256)?,
            hwm: o.get("hwm", 1000)?,
            min_rate: o.get("min-rate", 1_000_000.0)?,
            rss_tolerance_pct: o.get("rss-tolerance-pct", 10.0)?,
            warmup_pct: o.get("warmup-pct", 10.0)?,
            warmup_min_s: o.get("warmup-min-s", 2.0)?,
            sample_ms: o.get("sample-ms", 1000)?,
            stall_s: o.get("stall-s", 5)?,
            out: o.string("out").map(PathBuf::from),
        };
        o.finish()?;
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
        Ok(Some(c))
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

/// Arguments of one soak peer process (round-tripped through argv).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PeerOpts {
    pub(super) role: String,
    pub(super) pattern: SoakPattern,
    pub(super) backend: Backend,
    pub(super) api: Api,
    pub(super) size: usize,
    pub(super) batch: usize,
    pub(super) hwm: i32,
    pub(super) duration_ms: u64,
    pub(super) sample_ms: u64,
    pub(super) stall_ms: u64,
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

    pub(super) fn from_args(args: &[String]) -> Result<PeerOpts, String> {
        let (role, rest) = args.split_first().ok_or("peer: missing role")?;
        let mut o = Opts::parse(rest)?;
        let pattern = o.string("pattern").ok_or("peer: --pattern missing")?;
        let backend = o.string("backend").ok_or("peer: --backend missing")?;
        let api = o.string("api").ok_or("peer: --api missing")?;
        let p = PeerOpts {
            role: role.clone(),
            pattern: SoakPattern::parse(&pattern)
                .ok_or_else(|| format!("peer: unknown pattern `{pattern}`"))?,
            backend: backend_parse(&backend)
                .ok_or_else(|| format!("peer: unknown backend `{backend}`"))?,
            api: Api::parse(&api).ok_or_else(|| format!("peer: unknown api `{api}`"))?,
            size: o.get("size", 64)?,
            batch: o.get("batch", 256)?,
            hwm: o.get("hwm", 1000)?,
            duration_ms: o.get("duration-ms", 1000)?,
            sample_ms: o.get("sample-ms", 1000)?,
            stall_ms: o.get("stall-ms", 5000)?,
            endpoint: o.string("endpoint"),
        };
        o.finish()?;
        if p.size < MIN_SIZE || p.batch == 0 || p.sample_ms == 0 {
            return Err(format!(
                "peer: needs --size >= {MIN_SIZE}, --batch and --sample-ms >= 1"
            ));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{is_peer_role, SEND_ROLE};
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn defaults_and_options() {
        let c = SoakConfig::parse(&[]).unwrap().unwrap();
        assert_eq!(c.combinations().len(), 6);
        assert_eq!(c.per_run(), Duration::from_secs(10));
        assert_eq!(c.warmup(c.per_run()), Duration::from_secs(2));
        assert_eq!(c.warmup(Duration::from_secs(100)), Duration::from_secs(10));
        assert_eq!(c.api, Api::Batch);
        let c = SoakConfig::parse(&args(
            "--duration 30 --patterns pubsub,PUSH_PULL --backends epoll --api message",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(
            c.combinations(),
            vec![
                (SoakPattern::PubSub, Backend::Epoll),
                (SoakPattern::PushPull, Backend::Epoll)
            ]
        );
        assert_eq!(c.per_run(), Duration::from_secs(15));
        assert!(
            SoakConfig::parse(&args("--duration 12")).is_err(),
            "2 s each"
        );
        assert!(SoakConfig::parse(&args("--size 8")).is_err());
        assert!(SoakConfig::parse(&args("--backends kqueue")).is_err());
        assert!(SoakConfig::parse(&args("--bogus 1")).is_err());
    }

    #[test]
    fn peer_args_round_trip() {
        let c = SoakConfig::parse(&args("--duration 60 --api message"))
            .unwrap()
            .unwrap();
        let mut p = PeerOpts::new(&c, SEND_ROLE, SoakPattern::DealerRouter, Backend::Epoll);
        p.endpoint = Some("tcp://127.0.0.1:5555".into());
        let a = p.to_args();
        assert_eq!(a[0], SUBCOMMAND);
        assert!(is_peer_role(&a[1]));
        assert_eq!(PeerOpts::from_args(&a[1..]).unwrap(), p);
    }
}
