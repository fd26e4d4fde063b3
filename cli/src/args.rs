//! Command-line arguments: the clap definition and the validated `Config` the tool runs on.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{value_parser, Arg, ArgAction, ArgGroup, ArgMatches, Command};
use ringlink::{Backend, SocketType};

use crate::format::parse_bytes;

/// What the tool does with its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Send input messages (`--count`: stop after that many).
    Send,
    /// Print received messages.
    Recv,
    /// Send input messages as they come and print what arrives, concurrently.
    Both,
    /// REQ: send one input message, print the reply, repeat.
    Request,
    /// REP: print a request, answer with the next input message, repeat.
    Reply,
    /// Print each message and send it back unchanged.
    Echo,
}

/// Where messages to send come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSpec {
    /// Each stdin line is a message (split into frames at the separator).
    Lines,
    /// All of stdin is one single-frame message.
    Raw,
    /// The whole file is one single-frame message.
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub ty: SocketType,
    pub binds: Vec<String>,
    pub connects: Vec<String>,
    pub subscribe: Vec<Vec<u8>>,
    pub routing_id: Option<Vec<u8>>,
    pub hwm: Option<i32>,
    /// None: automatic (io_uring, else epoll; `RINGLINK_BACKEND` applies).
    pub backend: Option<Backend>,
    pub linger: i32,
    pub input: InputSpec,
    pub separator: Option<String>,
    pub hex: bool,
    pub count: Option<u64>,
    pub timeout: Option<Duration>,
    pub mode: Mode,
}

impl Config {
    /// ROUTER and STREAM messages start with a routing-id frame.
    pub fn routed(&self) -> bool {
        matches!(self.ty, SocketType::Router | SocketType::Stream)
    }
}

fn parse_type(s: &str) -> Result<SocketType, String> {
    SocketType::ALL
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| format!("unknown socket type (one of {})", type_names()))
}

fn type_names() -> String {
    let names: Vec<String> = SocketType::ALL
        .iter()
        .map(|t| t.as_str().to_ascii_lowercase())
        .collect();
    names.join(", ")
}

fn parse_hex_arg(s: &str) -> Result<Vec<u8>, String> {
    parse_bytes(s.as_bytes())
}

fn parse_separator(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("the separator must not be empty".into());
    }
    Ok(s.to_owned())
}

pub fn command() -> Command {
    Command::new("ringlink-cat")
        .version(env!("CARGO_PKG_VERSION"))
        .about(
            "Send stdin lines to, or print messages from, a ringlink / ZeroMQ socket \
             (ZMTP 3.1, talks to libzmq peers)",
        )
        .after_help(
            "Modes by type (unless --send, --recv or --echo): push/pub send stdin; pull/sub \
             print; req sends each line and prints the reply; rep prints each request and \
             answers with the next stdin line; pair/dealer/router/stream/xpub/xsub send stdin \
             lines and print whatever arrives. ROUTER/STREAM messages start with the routing \
             id (printed as 0x hex; given as 0x hex or text). Exit status: 0 done, 1 error, \
             2 bad arguments, 3 --timeout passed first. See docs/ringlink-cat.md.",
        )
        .arg(
            Arg::new("type")
                .short('t')
                .long("type")
                .value_name("TYPE")
                .required(true)
                .value_parser(parse_type)
                .help(format!("Socket type: {}", type_names())),
        )
        .arg(
            Arg::new("bind")
                .short('b')
                .long("bind")
                .value_name("EP")
                .action(ArgAction::Append)
                .help("Bind to an endpoint (repeatable); a wildcard port is reported on stderr"),
        )
        .arg(
            Arg::new("connect")
                .short('c')
                .long("connect")
                .value_name("EP")
                .action(ArgAction::Append)
                .help("Connect to an endpoint (repeatable)"),
        )
        .group(
            ArgGroup::new("endpoints")
                .args(["bind", "connect"])
                .required(true)
                .multiple(true),
        )
        .arg(
            Arg::new("subscribe")
                .short('s')
                .long("subscribe")
                .value_name("TOPIC")
                .action(ArgAction::Append)
                .value_parser(parse_hex_arg)
                .help("SUB/XSUB: topic prefix, text or 0x hex (repeatable; default: everything)"),
        )
        .arg(
            Arg::new("routing-id")
                .long("routing-id")
                .value_name("ID")
                .value_parser(parse_hex_arg)
                .help("This socket's routing id, text or 0x hex"),
        )
        .arg(
            Arg::new("hwm")
                .long("hwm")
                .allow_negative_numbers(true)
                .value_name("N")
                .value_parser(value_parser!(i32).range(0..))
                .help("SNDHWM and RCVHWM, messages (0 = unlimited; default 1000)"),
        )
        .arg(
            Arg::new("backend")
                .long("backend")
                .value_name("NAME")
                .value_parser(["uring", "epoll", "auto"])
                .default_value("auto")
                .help("I/O backend"),
        )
        .arg(
            Arg::new("linger")
                .long("linger")
                .allow_negative_numbers(true)
                .value_name("MS")
                .value_parser(value_parser!(i32).range(-1..))
                .default_value("-1")
                .help("How long unsent messages may delay the exit (-1 = until sent)"),
        )
        .arg(
            Arg::new("file")
                .short('f')
                .long("file")
                .value_name("PATH")
                .value_parser(value_parser!(PathBuf))
                .conflicts_with("raw")
                .help("Send the whole file as one message"),
        )
        .arg(
            Arg::new("raw")
                .long("raw")
                .action(ArgAction::SetTrue)
                .help("Send all of stdin as one message"),
        )
        .arg(
            Arg::new("separator")
                .short('d')
                .long("separator")
                .value_name("STR")
                .value_parser(parse_separator)
                .help("Split input lines into frames at STR and join printed frames with it (default: lines are one frame, printed frames are joined by a tab)"),
        )
        .arg(
            Arg::new("hex")
                .short('x')
                .long("hex")
                .action(ArgAction::SetTrue)
                .help("Print frames as hex instead of escaped text"),
        )
        .arg(
            Arg::new("count")
                .short('n')
                .long("count")
                .value_name("N")
                .value_parser(value_parser!(u64).range(1..))
                .help("Stop after N messages received (sent, in send mode)"),
        )
        .arg(
            Arg::new("timeout")
                .long("timeout")
                .value_name("MS")
                .value_parser(value_parser!(u64).range(1..))
                .help("Give up after MS milliseconds, exit status 3 (0 only if done before)"),
        )
        .arg(
            Arg::new("send")
                .long("send")
                .action(ArgAction::SetTrue)
                .conflicts_with_all(["recv", "echo"])
                .help("Only send input messages"),
        )
        .arg(
            Arg::new("recv")
                .long("recv")
                .action(ArgAction::SetTrue)
                .conflicts_with("echo")
                .help("Only print received messages"),
        )
        .arg(
            Arg::new("echo")
                .long("echo")
                .action(ArgAction::SetTrue)
                .conflicts_with_all(["file", "raw"])
                .help("Print each received message and send it back"),
        )
}

/// Parse the command line; `Err` is clap's error (help and version included).
pub fn parse<I, T>(args: I) -> Result<Config, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let m = command().try_get_matches_from(args)?;
    Ok(config(&m))
}

fn config(m: &ArgMatches) -> Config {
    let ty = *m.get_one::<SocketType>("type").expect("required");
    let strings = |name: &str| -> Vec<String> {
        m.get_many::<String>(name)
            .map(|v| v.cloned().collect())
            .unwrap_or_default()
    };
    let mut subscribe: Vec<Vec<u8>> = m
        .get_many::<Vec<u8>>("subscribe")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    // libzmq's command-line tools subscribe to everything unless told otherwise: a SUB
    // without subscriptions receives nothing, which is never what a user poking around wants.
    if subscribe.is_empty() && matches!(ty, SocketType::Sub | SocketType::XSub) {
        subscribe.push(Vec::new());
    }
    let backend = match m.get_one::<String>("backend").map(String::as_str) {
        Some("uring") => Some(Backend::Uring),
        Some("epoll") => Some(Backend::Epoll),
        _ => None,
    };
    let input = match (m.get_one::<PathBuf>("file"), m.get_flag("raw")) {
        (Some(p), _) => InputSpec::File(p.clone()),
        (None, true) => InputSpec::Raw,
        (None, false) => InputSpec::Lines,
    };
    let mode = if m.get_flag("send") {
        Mode::Send
    } else if m.get_flag("recv") {
        Mode::Recv
    } else if m.get_flag("echo") {
        Mode::Echo
    } else {
        match ty {
            SocketType::Push | SocketType::Pub => Mode::Send,
            SocketType::Pull | SocketType::Sub => Mode::Recv,
            SocketType::Req => Mode::Request,
            SocketType::Rep => Mode::Reply,
            _ => Mode::Both,
        }
    };
    Config {
        ty,
        binds: strings("bind"),
        connects: strings("connect"),
        subscribe,
        routing_id: m.get_one::<Vec<u8>>("routing-id").cloned(),
        hwm: m.get_one::<i32>("hwm").copied(),
        backend,
        linger: *m.get_one::<i32>("linger").expect("has a default"),
        input,
        separator: m.get_one::<String>("separator").cloned(),
        hex: m.get_flag("hex"),
        count: m.get_one::<u64>("count").copied(),
        timeout: m
            .get_one::<u64>("timeout")
            .map(|ms| Duration::from_millis(*ms)),
        mode,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(args: &[&str]) -> Config {
        let mut v = vec!["ringlink-cat"];
        v.extend_from_slice(args);
        parse(v).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn err(args: &[&str]) -> clap::Error {
        let mut v = vec!["ringlink-cat"];
        v.extend_from_slice(args);
        parse(v).expect_err("should be refused")
    }

    #[test]
    fn definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn modes_follow_the_type() {
        for (ty, mode) in [
            ("push", Mode::Send),
            ("PUB", Mode::Send),
            ("pull", Mode::Recv),
            ("sub", Mode::Recv),
            ("req", Mode::Request),
            ("rep", Mode::Reply),
            ("dealer", Mode::Both),
            ("router", Mode::Both),
            ("stream", Mode::Both),
            ("xpub", Mode::Both),
        ] {
            assert_eq!(cfg(&["-t", ty, "-c", "tcp://h:1"]).mode, mode, "{ty}");
        }
        assert_eq!(cfg(&["-t", "pair", "-b", "x", "--recv"]).mode, Mode::Recv);
        assert_eq!(cfg(&["-t", "rep", "-b", "x", "--echo"]).mode, Mode::Echo);
    }

    #[test]
    fn values_are_parsed() {
        let c = cfg(&[
            "--type=router",
            "--bind",
            "tcp://*:1",
            "--connect",
            "ipc://@a",
            "--connect",
            "inproc://b",
            "--routing-id",
            "0x0102",
            "--hwm",
            "7",
            "--backend",
            "epoll",
            "--linger",
            "-1",
            "-d",
            "|",
            "-n",
            "3",
            "--timeout",
            "500",
            "-x",
        ]);
        assert_eq!(c.binds, ["tcp://*:1"]);
        assert_eq!(c.connects, ["ipc://@a", "inproc://b"]);
        assert_eq!(c.routing_id, Some(vec![1, 2]));
        assert_eq!((c.hwm, c.linger, c.count), (Some(7), -1, Some(3)));
        assert_eq!(c.backend, Some(Backend::Epoll));
        assert_eq!(c.separator.as_deref(), Some("|"));
        assert_eq!(c.timeout, Some(Duration::from_millis(500)));
        assert!(c.hex && c.routed());
        assert_eq!(c.input, InputSpec::Lines);
    }

    #[test]
    fn sub_subscribes_to_everything_by_default() {
        assert_eq!(cfg(&["-t", "sub", "-c", "x"]).subscribe, [Vec::<u8>::new()]);
        let c = cfg(&["-t", "sub", "-c", "x", "-s", "a", "-s", "0x00"]);
        assert_eq!(c.subscribe, [b"a".to_vec(), vec![0]]);
        assert!(cfg(&["-t", "pull", "-c", "x"]).subscribe.is_empty());
    }

    #[test]
    fn bad_arguments_are_refused() {
        for args in [
            &["-t", "bogus", "-c", "x"][..],
            &["-t", "push"],
            &["-c", "x"],
            &["-t", "push", "-c", "x", "--hwm", "-1"],
            &["-t", "push", "-c", "x", "--count", "0"],
            &["-t", "push", "-c", "x", "--linger", "-2"],
            &["-t", "push", "-c", "x", "--backend", "kqueue"],
            &["-t", "push", "-c", "x", "--routing-id", "0xz"],
            &["-t", "push", "-c", "x", "-d", ""],
            &["-t", "push", "-c", "x", "--raw", "--file", "f"],
            &["-t", "pair", "-c", "x", "--send", "--recv"],
            &["-t", "pair", "-c", "x", "--frobnicate"],
        ] {
            let e = err(args);
            assert_eq!(e.exit_code(), 2, "{args:?}: {e}");
        }
        assert!(err(&["-t", "bogus", "-c", "x"])
            .to_string()
            .contains("unknown socket type"));
    }
}
