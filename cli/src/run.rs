//! Opening the socket and moving messages between it and stdin/stdout.

#![forbid(unsafe_code)]

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, TryRecvError};
use std::thread;

use ringlink::{poll, Context, Flags, PollItem, Socket, SocketOption, DONTWAIT, POLLIN};

use crate::args::{Config, InputSpec, Mode};
use crate::format::{parse_bytes, split_frames, Printer};

/// Messages sent and received so far, for the `--timeout` report.
pub static SENT: AtomicU64 = AtomicU64::new(0);
pub static RECEIVED: AtomicU64 = AtomicU64::new(0);

/// Why a run stopped early: a one-line message for stderr.
pub type Failure = String;

type Msg = Vec<Vec<u8>>;

/// Messages to send, read lazily from stdin or a file.
struct Input {
    spec: InputSpec,
    lines: Option<BufReader<io::Stdin>>,
    whole_done: bool,
    separator: Option<Vec<u8>>,
    routed: bool,
}

impl Input {
    fn new(cfg: &Config) -> Input {
        Input {
            spec: cfg.input.clone(),
            lines: (cfg.input == InputSpec::Lines).then(|| BufReader::new(io::stdin())),
            whole_done: false,
            separator: cfg.separator.as_ref().map(|s| s.as_bytes().to_vec()),
            routed: cfg.routed(),
        }
    }

    /// The next message to send; None at the end of the input.
    fn next(&mut self) -> Result<Option<Msg>, Failure> {
        let parts = match &self.spec {
            InputSpec::Lines => {
                let reader = self.lines.as_mut().expect("line input");
                let mut line = Vec::new();
                let n = reader
                    .read_until(b'\n', &mut line)
                    .map_err(|e| format!("reading stdin: {e}"))?;
                if n == 0 {
                    return Ok(None);
                }
                if line.ends_with(b"\n") {
                    line.pop();
                    if line.ends_with(b"\r") {
                        line.pop();
                    }
                }
                split_frames(&line, self.separator.as_deref())
            }
            _ if self.whole_done => return Ok(None),
            InputSpec::Raw => {
                self.whole_done = true;
                let mut all = Vec::new();
                io::stdin()
                    .read_to_end(&mut all)
                    .map_err(|e| format!("reading stdin: {e}"))?;
                vec![all]
            }
            InputSpec::File(path) => {
                self.whole_done = true;
                let data =
                    fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
                vec![data]
            }
        };
        self.routed_id(parts).map(Some)
    }

    /// ROUTER/STREAM: the first frame names the peer, as text or `0x` hex.
    fn routed_id(&self, mut parts: Msg) -> Result<Msg, Failure> {
        if !self.routed {
            return Ok(parts);
        }
        if parts.len() < 2 {
            return Err("a ROUTER/STREAM message is [routing id, payload...]: \
                        give --separator and start each line with the id"
                .into());
        }
        parts[0] = parse_bytes(&parts[0])?;
        Ok(parts)
    }
}

struct Output {
    printer: Printer,
    out: io::Stdout,
}

impl Output {
    fn print(&mut self, parts: &[Vec<u8>]) -> Result<(), Failure> {
        let line = self.printer.line(parts);
        let mut out = self.out.lock();
        out.write_all(line.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| format!("writing stdout: {e}"))
    }
}

fn engine(what: &str) -> impl Fn(ringlink::Error) -> Failure + '_ {
    move |e| format!("{what}: {e}")
}

/// Open the socket as configured and run the mode to its end. The socket and the context
/// are dropped before returning, so unsent messages have had their LINGER.
pub fn run(cfg: &Config) -> Result<(), Failure> {
    let mut builder = Context::builder();
    if let Some(b) = cfg.backend {
        builder = builder.backend(b);
    }
    let ctx = builder.build().map_err(engine("context"))?;
    let mut sock = open(&ctx, cfg)?;
    let mut output = Output {
        printer: Printer {
            routed: cfg.routed(),
            hex: cfg.hex,
            separator: cfg.separator.clone().unwrap_or_else(|| "\t".into()),
        },
        out: io::stdout(),
    };
    let mut input = Input::new(cfg);
    let result = match cfg.mode {
        Mode::Send => send_all(&mut sock, &mut input, cfg.count),
        Mode::Recv => recv_all(&mut sock, &mut output, cfg.count),
        Mode::Request => request(&mut sock, &mut input, &mut output, cfg.count),
        Mode::Reply => reply(&mut sock, &mut input, &mut output, cfg.count),
        Mode::Echo => echo(&mut sock, &mut output, cfg.count),
        Mode::Both => both(&mut sock, input, &mut output, cfg.count),
    };
    if SENT.load(Ordering::Relaxed) == 0 {
        // Nothing to flush, so LINGER cannot matter. And it must not: with an infinite
        // LINGER, a connection whose handshake completes just as the socket closes is never
        // released (its pipes wait in the closed socket's inbox), so dropping the context
        // waits forever (engine bug, seen with a connecting ROUTER on both backends).
        let _ = sock.set_option(SocketOption::Linger(0));
    }
    drop(sock);
    drop(ctx);
    result
}

fn open(ctx: &Context, cfg: &Config) -> Result<Socket, Failure> {
    let name = cfg.ty.as_str();
    let mut sock = ctx
        .socket(cfg.ty)
        .map_err(|e| format!("{name} socket: {e}"))?;
    let mut opts = vec![SocketOption::Linger(cfg.linger)];
    if let Some(id) = &cfg.routing_id {
        opts.push(SocketOption::RoutingId(id.clone()));
    }
    if let Some(n) = cfg.hwm {
        opts.extend([SocketOption::SndHwm(n), SocketOption::RcvHwm(n)]);
    }
    opts.extend(cfg.subscribe.iter().cloned().map(SocketOption::Subscribe));
    for opt in opts {
        let what = format!("{opt:?}");
        sock.set_option(opt).map_err(|e| format!("{what}: {e}"))?;
    }
    for ep in &cfg.binds {
        sock.bind(ep).map_err(|e| format!("bind {ep}: {e}"))?;
        if ep.contains('*') {
            if let Some(actual) = sock.last_endpoint() {
                eprintln!("ringlink-cat: bound {actual}");
            }
        }
    }
    for ep in &cfg.connects {
        sock.connect(ep).map_err(|e| format!("connect {ep}: {e}"))?;
    }
    Ok(sock)
}

fn reached(count: Option<u64>, n: u64) -> bool {
    count.is_some_and(|c| n >= c)
}

fn send(sock: &mut Socket, parts: &[Vec<u8>]) -> Result<(), Failure> {
    sock.send_multipart(parts, 0).map_err(engine("send"))?;
    SENT.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

fn recv(sock: &mut Socket, flags: ringlink::Flags) -> ringlink::Result<Msg> {
    let m = sock.recv_multipart(flags)?;
    RECEIVED.fetch_add(1, Ordering::Relaxed);
    Ok(m)
}

fn send_all(sock: &mut Socket, input: &mut Input, count: Option<u64>) -> Result<(), Failure> {
    let mut n = 0;
    while !reached(count, n) {
        let Some(msg) = input.next()? else { break };
        send(sock, &msg)?;
        n += 1;
    }
    Ok(())
}

fn recv_all(sock: &mut Socket, out: &mut Output, count: Option<u64>) -> Result<(), Failure> {
    let mut n = 0;
    while !reached(count, n) {
        out.print(&recv(sock, Flags::empty()).map_err(engine("receive"))?)?;
        n += 1;
    }
    Ok(())
}

/// REQ: one request per input message, each reply printed before the next request.
fn request(
    sock: &mut Socket,
    input: &mut Input,
    out: &mut Output,
    count: Option<u64>,
) -> Result<(), Failure> {
    let mut n = 0;
    while !reached(count, n) {
        let Some(msg) = input.next()? else { break };
        send(sock, &msg)?;
        out.print(&recv(sock, Flags::empty()).map_err(engine("receive"))?)?;
        n += 1;
    }
    Ok(())
}

/// REP: print each request and answer it with the next input message. At the end of the
/// input the last request stays unanswered.
fn reply(
    sock: &mut Socket,
    input: &mut Input,
    out: &mut Output,
    count: Option<u64>,
) -> Result<(), Failure> {
    let mut n = 0;
    while !reached(count, n) {
        out.print(&recv(sock, Flags::empty()).map_err(engine("receive"))?)?;
        let Some(answer) = input.next()? else { break };
        send(sock, &answer)?;
        n += 1;
    }
    Ok(())
}

fn echo(sock: &mut Socket, out: &mut Output, count: Option<u64>) -> Result<(), Failure> {
    let mut n = 0;
    while !reached(count, n) {
        let msg = recv(sock, Flags::empty()).map_err(engine("receive"))?;
        out.print(&msg)?;
        send(sock, &msg)?;
        n += 1;
    }
    Ok(())
}

/// Send input messages as they are read while printing whatever arrives. Input is read on
/// a thread (a read may block mid-line); it hands messages over a channel and wakes the
/// `poll` through a socketpair. The thread holds no ringlink handle, so ending here (at
/// `--count`) with stdin still open does not keep the context, and LINGER, from finishing.
fn both(
    sock: &mut Socket,
    mut input: Input,
    out: &mut Output,
    count: Option<u64>,
) -> Result<(), Failure> {
    let (tx, rx) = mpsc::channel::<Result<Option<Msg>, Failure>>();
    let (mut wake_tx, mut wake_rx) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
    wake_rx
        .set_nonblocking(true)
        .map_err(|e| format!("socketpair: {e}"))?;
    thread::spawn(move || loop {
        let item = input.next();
        let last = !matches!(item, Ok(Some(_)));
        if tx.send(item).is_err() || wake_tx.write_all(&[1]).is_err() || last {
            return;
        }
    });
    let mut input_open = true;
    let mut n = 0;
    while !reached(count, n) {
        let (readable, woken) = {
            let mut items = vec![PollItem::socket(sock, POLLIN)];
            if input_open {
                items.push(PollItem::fd(wake_rx.as_raw_fd(), POLLIN));
            }
            poll(&mut items, None).map_err(engine("poll"))?;
            let woken = items.get(1).is_some_and(|it| !it.revents.is_empty());
            (items[0].revents.contains(POLLIN), woken)
        };
        if woken {
            let mut buf = [0u8; 256];
            while matches!(wake_rx.read(&mut buf), Ok(k) if k > 0) {}
            loop {
                match rx.try_recv() {
                    Ok(Ok(Some(msg))) => send(sock, &msg)?,
                    Ok(Ok(None)) | Err(TryRecvError::Disconnected) => {
                        input_open = false;
                        break;
                    }
                    Ok(Err(e)) => return Err(e),
                    Err(TryRecvError::Empty) => break,
                }
            }
        }
        if readable {
            while !reached(count, n) {
                match recv(sock, DONTWAIT) {
                    Ok(msg) => out.print(&msg)?,
                    Err(ringlink::Error::Again) => break,
                    Err(e) => return Err(format!("receive: {e}")),
                }
                n += 1;
            }
        }
    }
    Ok(())
}
