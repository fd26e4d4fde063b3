//! The command line (clap, derive API): the subcommands, the value parsers their options
//! share, and how a check that spans several options reports its error.
//!
//! Each subcommand's options are the fields of the config struct they fill
//! (`compare::Config`, `scale::ScaleConfig`, `soak::config::SoakConfig`); the hidden
//! `__peer` subcommand takes its arguments raw and hands them to the parser of its role
//! (`peer::main`).

use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};

use crate::compare::{self, Config};
use crate::scale::ScaleConfig;
use crate::soak::SoakConfig;

/// A subcommand's help: its description (which says more than the one line in the command
/// list), usage and options, each on one line with its default.
const SUBCOMMAND_HELP: &str = "{before-help}{usage-heading} {usage}\n\n{all-args}{after-help}";

#[derive(Parser)]
#[command(
    name = "ringlink-bench",
    about = "Compares ringlink (io_uring and epoll backends, reactor-thread and inline contexts, \
             per-message and batch APIs) with libzmq and the Rust peers rzmq and zeromq \
             (zmq.rs) on this machine: two processes per run, receiver-side rates, interleaved \
             repetitions and paired ratios. See docs/benchmarks.md.",
    after_help = "`ringlink-bench <COMMAND> --help` lists the options of a command and their defaults.",
    disable_help_subcommand = true
)]
pub struct Cli {
    /// No command: print this help.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Interleaved throughput and latency comparison with libzmq, rzmq and zeromq
    #[command(before_help = compare::LONG_ABOUT, help_template = SUBCOMMAND_HELP,
              after_help = compare::impls_help())]
    Compare(Config),
    /// Many connections: 1,000-connection fan-in into one ROUTER, fan-out of one PUB to 100
    /// SUBs, and RSS per idle connection with 10,000 open
    #[command(before_help = crate::scale::LONG_ABOUT, help_template = SUBCOMMAND_HELP)]
    Scale(ScaleConfig),
    /// Sustained PUSH/PULL, DEALER/ROUTER and PUB/SUB on both backends with sequence checks,
    /// RSS and rate sampled over time
    #[command(before_help = crate::soak::LONG_ABOUT, help_template = SUBCOMMAND_HELP)]
    Soak(SoakConfig),
    /// A child process of a run: `__peer ROLE --option=value ...` (built by the parent).
    #[command(name = crate::peer::SUBCOMMAND, hide = true)]
    Peer {
        /// The role, then its options; parsed by the role's own parser.
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ROLE [OPTIONS]"
        )]
        args: Vec<String>,
    },
}

/// Exits as clap does for a bad value (message, usage line, status 2) when a check across
/// several options of `subcommand` fails.
pub fn check(subcommand: &str, result: Result<(), String>) {
    if let Err(e) = result {
        let mut cmd = Cli::command();
        cmd.build();
        let sub = cmd
            .find_subcommand_mut(subcommand)
            .expect("a subcommand of ringlink-bench");
        sub.error(ErrorKind::ValueValidation, e).exit();
    }
}

/// A value parser for a comma-separated list of `what`s, each read by `parse`. Blanks
/// around and between the commas are ignored; an unknown item or an empty list is an error.
pub fn list<T: 'static>(
    what: &'static str,
    parse: fn(&str) -> Option<T>,
) -> impl Fn(&str) -> Result<Vec<T>, String> + Clone + Send + Sync + 'static {
    move |text| {
        let v = text
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| parse(t).ok_or_else(|| format!("unknown {what} `{t}`")))
            .collect::<Result<Vec<T>, String>>()?;
        if v.is_empty() {
            return Err(format!("empty {what} list"));
        }
        Ok(v)
    }
}

/// A value parser for one `what`, read by `parse`.
pub fn one<T: 'static>(
    what: &'static str,
    parse: fn(&str) -> Option<T>,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static {
    move |text| parse(text).ok_or_else(|| format!("unknown {what} `{text}`"))
}

/// A whole number of seconds.
pub fn secs(text: &str) -> Result<Duration, String> {
    text.parse()
        .map(Duration::from_secs)
        .map_err(|e| format!("not a number of seconds: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::impls::Impl;
    use crate::peer::{PeerArgs, Role, SUBCOMMAND};

    fn parse(line: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("ringlink-bench").chain(line.split_whitespace()))
    }

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn subcommands_and_errors() {
        assert!(parse("").unwrap().command.is_none());
        assert!(matches!(
            parse("compare --reps 1").unwrap().command,
            Some(Command::Compare(c)) if c.reps == 1
        ));
        assert!(matches!(
            parse("scale --reps=2").unwrap().command,
            Some(Command::Scale(c)) if c.reps == 2
        ));
        assert!(matches!(
            parse("soak --duration 30").unwrap().command,
            Some(Command::Soak(c)) if c.duration_s == 30.0
        ));
        let kind = |line| parse(line).err().map(|e| e.kind());
        assert_eq!(kind("bogus"), Some(ErrorKind::InvalidSubcommand));
        assert_eq!(kind("compare --bogus 1"), Some(ErrorKind::UnknownArgument));
        assert_eq!(kind("compare --reps x"), Some(ErrorKind::ValueValidation));
        assert_eq!(
            kind("compare --reps 1 --reps 2"),
            Some(ErrorKind::ArgumentConflict)
        );
        assert_eq!(kind("compare --reps"), Some(ErrorKind::InvalidValue));
        assert_eq!(kind("compare extra"), Some(ErrorKind::UnknownArgument));
        assert_eq!(kind("compare --help"), Some(ErrorKind::DisplayHelp));
        assert_eq!(kind("__peer"), Some(ErrorKind::MissingRequiredArgument));
    }

    #[test]
    fn help_lists_options_with_defaults() {
        let mut cmd = Cli::command();
        cmd.build();
        let sub = |name: &str| {
            cmd.find_subcommand(name)
                .expect("subcommand")
                .clone()
                .render_long_help()
                .to_string()
        };
        let compare = sub("compare");
        for text in [
            "--reps <N>",
            "[default: 7]",
            "--patterns <LIST>",
            "[default: all]",
            "--sizes <LIST>",
            "[alias: --size]",
            "--timeout-s <N>",
            "[default: 20]",
            "ringlink-uring-inline-spin",
        ] {
            assert!(compare.contains(text), "{text} missing:\n{compare}");
        }
        let scale = sub("scale");
        assert!(scale.contains("--connect-batch <N>") && scale.contains("[default: 100]"));
        let soak = sub("soak");
        assert!(soak.contains("--rss-tolerance-pct <P>") && soak.contains("[default: 1000000]"));
        assert!(!Cli::command().render_help().to_string().contains("__peer"));
    }

    #[test]
    fn peer_argv_passes_through_the_top_level_parser() {
        let a = PeerArgs {
            role: Role::ThrSend,
            imp: Impl::LIBZMQ,
            pattern: crate::impls::Pattern::DealerRouter,
            transport: crate::impls::Transport::Ipc,
            size: 64,
            count: 200,
            warmup: 10,
            hwm: -1,
            batch: 16,
            spin_us: 5,
            endpoint: Some("ipc://@ringlink-bench-1-0".into()),
            cpu: Some(1),
        };
        let argv = a.to_args();
        let cli = Cli::try_parse_from(std::iter::once("ringlink-bench".to_string()).chain(argv))
            .expect("parses");
        let Some(Command::Peer { args }) = cli.command else {
            panic!("not __peer");
        };
        assert_eq!(args, a.to_args()[1..]);
        assert_eq!(a.to_args()[0], SUBCOMMAND);
    }
}
