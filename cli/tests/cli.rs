//! `ringlink-cat` end to end: the built binary against ringlink sockets in the test, on both
//! backends (`--backend`). Every wait is on output or process exit, bounded by
//! [`CAT_LIMIT`] after which the process is killed and the test fails.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use ringlink_tests::*;

/// How long one ringlink-cat process may take in all.
const CAT_LIMIT: Duration = Duration::from_secs(30);

/// A running ringlink-cat with piped stdin, and stdout/stderr read line by line.
struct Cat {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    deadline: Instant,
    desc: String,
    done: bool,
}

/// What a finished ringlink-cat left behind.
struct Finished {
    status: ExitStatus,
    /// stdout lines not read before.
    stdout: Vec<String>,
    stderr: Vec<String>,
}

fn lines_of(r: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Starts ringlink-cat with `args`, plus `--backend <backend>` if given.
fn cat(backend: Option<Backend>, args: &[&str]) -> Cat {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringlink-cat"));
    cmd.args(args);
    if let Some(b) = backend {
        cmd.args(["--backend", b.name()]);
    }
    let desc = format!("ringlink-cat {}", args.join(" "));
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {desc}: {e}"));
    let stdout = lines_of(child.stdout.take().expect("piped stdout"));
    let stderr = lines_of(child.stderr.take().expect("piped stderr"));
    Cat {
        stdin: child.stdin.take(),
        child,
        stdout,
        stderr,
        deadline: Instant::now() + CAT_LIMIT,
        desc,
        done: false,
    }
}

impl Cat {
    fn write(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin
            .write_all(text.as_bytes())
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("writing to {}: {e}", self.desc));
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    fn next_from(&mut self, stderr: bool) -> String {
        let left = self.deadline.saturating_duration_since(Instant::now());
        let rx = if stderr { &self.stderr } else { &self.stdout };
        match rx.recv_timeout(left) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => self.fail("printed nothing more in time"),
            Err(RecvTimeoutError::Disconnected) => self.fail("exited before printing that"),
        }
    }

    /// The next stdout line.
    fn line(&mut self) -> String {
        self.next_from(false)
    }

    /// The next stderr line.
    fn stderr_line(&mut self) -> String {
        self.next_from(true)
    }

    /// Closes stdin and waits for the process to exit (its pipes close when it does).
    fn finish(mut self) -> Finished {
        self.close_stdin();
        let mut outs = [Vec::new(), Vec::new()];
        for (k, out) in outs.iter_mut().enumerate() {
            loop {
                let left = self.deadline.saturating_duration_since(Instant::now());
                let rx = if k == 0 { &self.stdout } else { &self.stderr };
                match rx.recv_timeout(left) {
                    Ok(line) => out.push(line),
                    Err(RecvTimeoutError::Disconnected) => break,
                    Err(RecvTimeoutError::Timeout) => self.fail("did not exit in time"),
                }
            }
        }
        let status = self.child.wait().expect("wait for ringlink-cat");
        self.done = true;
        let [stdout, stderr] = outs;
        Finished {
            status,
            stdout,
            stderr,
        }
    }

    fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.kill();
        let status = self.child.wait();
        self.done = true;
        let stderr: Vec<String> = self.stderr.try_iter().collect();
        panic!(
            "`{}` {what} (limit {CAT_LIMIT:?}); {status:?}; stderr: {stderr:?}",
            self.desc
        );
    }
}

impl Drop for Cat {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Finished {
    fn expect_success(&self, what: &str) {
        assert!(
            self.status.success(),
            "{what}: {}; stderr: {:?}",
            self.status,
            self.stderr
        );
    }

    /// A failure with the given exit status and exactly one stderr line, which is returned.
    fn expect_failure(&self, code: i32, what: &str) -> &str {
        assert_eq!(
            self.status.code(),
            Some(code),
            "{what}: stderr {:?}",
            self.stderr
        );
        assert_eq!(self.stderr.len(), 1, "{what}: stderr {:?}", self.stderr);
        let line = &self.stderr[0];
        assert!(line.starts_with("ringlink-cat: "), "{what}: {line}");
        line
    }
}

fn bytes(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

both_backends!(push_cat_sends_stdin_lines, |backend| {
    let ctx = ctx(backend);
    let mut pull = socket(&ctx, SocketType::Pull);
    let ep = bind_tcp(&mut pull);
    let mut c = cat(Some(backend), &["-t", "push", "-c", &ep]);
    c.write("one\ntwo\r\n\nthree");
    // LINGER (-1 by default) holds the exit until everything went out.
    c.finish().expect_success("push cat");
    for want in ["one", "two", "", "three"] {
        assert_eq!(recv_parts(&mut pull, want), bytes(&[want]));
    }
});

both_backends!(pull_cat_prints_escaped_text_until_count, |backend| {
    let ctx = ctx(backend);
    let mut push = socket(&ctx, SocketType::Push);
    let ep = bind_tcp(&mut push);
    let c = cat(Some(backend), &["-t", "pull", "-c", &ep, "--count", "3"]);
    send_parts(&mut push, &bytes(&["alpha"]), "alpha");
    send_parts(
        &mut push,
        &[b"tab\there\n".to_vec(), vec![0, 0xff]],
        "binary",
    );
    send_parts(&mut push, &bytes(&["né", "", "z"]), "utf-8 and empty frame");
    let out = c.finish();
    out.expect_success("pull cat");
    assert_eq!(
        out.stdout,
        ["alpha", "tab\\there\\n\t\\x00\\xff", "né\t\tz"],
        "frames joined by tabs, non-printables escaped"
    );
});

both_backends!(hex_output, |backend| {
    let ctx = ctx(backend);
    let mut push = socket(&ctx, SocketType::Push);
    let ep = bind_tcp(&mut push);
    let c = cat(
        Some(backend),
        &["-t", "pull", "-c", &ep, "-n", "1", "--hex"],
    );
    send_parts(&mut push, &[vec![0, 0xff, b'A'], b"z".to_vec()], "binary");
    let out = c.finish();
    out.expect_success("pull cat --hex");
    assert_eq!(out.stdout, ["00ff41\t7a"]);
});

both_backends!(separator_splits_input_and_joins_output, |backend| {
    let ctx = ctx(backend);
    let mut pull = socket(&ctx, SocketType::Pull);
    let ep = bind_tcp(&mut pull);
    let mut c = cat(Some(backend), &["-t", "push", "-c", &ep, "-d", "::"]);
    c.write("a::b::::c\nsingle\n");
    c.finish().expect_success("push cat -d ::");
    assert_eq!(recv_parts(&mut pull, "split"), bytes(&["a", "b", "", "c"]));
    assert_eq!(recv_parts(&mut pull, "single"), bytes(&["single"]));

    let mut push = socket(&ctx, SocketType::Push);
    let ep = bind_tcp(&mut push);
    let c = cat(
        Some(backend),
        &["-t", "pull", "-c", &ep, "-n", "1", "-d", "|"],
    );
    send_parts(&mut push, &bytes(&["x", "", "y"]), "multipart");
    let out = c.finish();
    out.expect_success("pull cat -d |");
    assert_eq!(out.stdout, ["x||y"]);
});

both_backends!(file_and_raw_input_are_one_message, |backend| {
    let ctx = ctx(backend);
    let mut pull = socket(&ctx, SocketType::Pull);
    let ep = bind_tcp(&mut pull);
    let content: Vec<u8> = (0..3000u32).map(|i| (i % 256) as u8).collect();
    let path = std::env::temp_dir().join(unique_name("cat-file"));
    std::fs::write(&path, &content).expect("write temp file");
    let path_arg = path.to_str().expect("utf-8 temp path").to_owned();
    let c = cat(
        Some(backend),
        &["-t", "push", "-c", &ep, "--file", &path_arg],
    );
    c.finish().expect_success("push cat --file");
    let _ = std::fs::remove_file(&path);
    assert_eq!(recv_parts(&mut pull, "file"), vec![content]);

    let mut c = cat(Some(backend), &["-t", "push", "-c", &ep, "--raw"]);
    c.write("line 1\nline 2\n");
    c.finish().expect_success("push cat --raw");
    assert_eq!(recv_parts(&mut pull, "raw"), bytes(&["line 1\nline 2\n"]));
});

both_backends!(router_cat_shows_routing_ids_and_routes_input, |backend| {
    let ctx = ctx(backend);
    let mut dealer = socket(&ctx, SocketType::Dealer);
    set_opt(&mut dealer, SocketOption::RoutingId(b"dealer-1".to_vec()));
    let ep = bind_tcp(&mut dealer);
    let mut c = cat(
        Some(backend),
        &["-t", "router", "-c", &ep, "-d", "|", "-n", "2"],
    );
    // DEALER's send waits for the connection, so the ROUTER knows the peer afterwards.
    send_parts(&mut dealer, &bytes(&["hello"]), "hello");
    let id_hex = "0x6465616c65722d31";
    assert_eq!(c.line(), format!("{id_hex}|hello"));
    c.write(&format!("{id_hex}|pong\n"));
    assert_eq!(recv_parts(&mut dealer, "pong"), bytes(&["pong"]));
    c.write("dealer-1|pong|2\n");
    assert_eq!(recv_parts(&mut dealer, "pong 2"), bytes(&["pong", "2"]));
    send_parts(&mut dealer, &bytes(&["bye", ""]), "bye");
    let out = c.finish();
    out.expect_success("router cat");
    assert_eq!(out.stdout, [format!("{id_hex}|bye|")]);
});

both_backends!(req_cat_prints_replies_from_rep_socket, |backend| {
    let ctx = ctx(backend);
    let mut rep = socket(&ctx, SocketType::Rep);
    let ep = bind_tcp(&mut rep);
    let mut c = cat(Some(backend), &["-t", "req", "-c", &ep]);
    c.write("ping 1\nping 2\n");
    c.close_stdin();
    for i in 1..=2 {
        assert_eq!(
            recv_parts(&mut rep, "request"),
            bytes(&[&format!("ping {i}")])
        );
        send_parts(&mut rep, &bytes(&[&format!("pong {i}"), "more"]), "reply");
    }
    let out = c.finish();
    out.expect_success("req cat");
    assert_eq!(out.stdout, ["pong 1\tmore", "pong 2\tmore"]);
});

both_backends!(rep_cat_echoes_to_req_socket, |backend| {
    let ctx = ctx(backend);
    let mut req = socket(&ctx, SocketType::Req);
    let ep = bind_tcp(&mut req);
    let c = cat(
        Some(backend),
        &["-t", "rep", "-c", &ep, "--echo", "-n", "2", "-d", ","],
    );
    for msg in [&["a", "b"][..], &["c"]] {
        send_parts(&mut req, &bytes(msg), "request");
        assert_eq!(recv_parts(&mut req, "echo"), bytes(msg));
    }
    let out = c.finish();
    out.expect_success("rep cat --echo");
    assert_eq!(out.stdout, ["a,b", "c"]);
});

both_backends!(wildcard_bind_reports_the_endpoint, |backend| {
    let ctx = ctx(backend);
    let mut c = cat(
        Some(backend),
        &["-t", "pull", "-b", "tcp://127.0.0.1:*", "-n", "1"],
    );
    let line = c.stderr_line();
    let ep = line
        .strip_prefix("ringlink-cat: bound ")
        .unwrap_or_else(|| panic!("no endpoint report: {line:?}"));
    let mut push = socket(&ctx, SocketType::Push);
    connect(&mut push, ep);
    send_parts(&mut push, &bytes(&["found you"]), "message");
    let out = c.finish();
    out.expect_success("pull cat on a wildcard port");
    assert_eq!(out.stdout, ["found you"]);
});

both_backends!(timeout_before_count_fails, |backend| {
    let ctx = ctx(backend);
    let mut push = socket(&ctx, SocketType::Push);
    let ep = bind_tcp(&mut push);
    // The limit is the point of this test: nothing is ever sent, so it has to pass.
    let c = cat(
        Some(backend),
        &["-t", "pull", "-c", &ep, "-n", "1", "--timeout", "300"],
    );
    let out = c.finish();
    let line = out.expect_failure(3, "pull cat with nothing to receive");
    assert!(line.contains("timed out after 300 ms"), "{line}");
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
});

both_backends!(bad_endpoints_fail_with_one_line, |backend| {
    let ctx = ctx(backend);
    let mut taken = socket(&ctx, SocketType::Pull);
    let ep = bind_tcp(&mut taken);
    for (args, needle) in [
        (
            &["-t", "push", "-c", "tcp://127.0.0.1:notaport"][..],
            "notaport",
        ),
        (&["-t", "push", "-c", "tcp://127.0.0.1"], "tcp://127.0.0.1"),
        (&["-t", "pull", "-b", "bogus://x"], "bogus://x"),
        (&["-t", "pull", "-b", &ep], &ep),
    ] {
        let out = cat(Some(backend), args).finish();
        let line = out.expect_failure(1, &format!("{args:?}"));
        assert!(line.contains(needle), "{args:?}: {line}");
    }
});

both_backends!(router_input_without_routing_id_fails, |backend| {
    let ctx = ctx(backend);
    let mut dealer = socket(&ctx, SocketType::Dealer);
    let ep = bind_tcp(&mut dealer);
    let mut c = cat(Some(backend), &["-t", "router", "-c", &ep]);
    c.write("no id here\n");
    let out = c.finish();
    let line = out.expect_failure(1, "router cat without --separator");
    assert!(line.contains("routing id"), "{line}");
});

#[test]
fn bad_arguments_fail_with_one_line() {
    for (args, needle) in [
        (&["-t", "bogus", "-c", "tcp://127.0.0.1:1"][..], "bogus"),
        (&["-t", "push"], "--connect"),
        (
            &["-t", "push", "-c", "tcp://127.0.0.1:1", "--frobnicate"],
            "--frobnicate",
        ),
        (
            &["-t", "push", "-c", "tcp://127.0.0.1:1", "--hwm", "-5"],
            "-5",
        ),
        (
            &["-t", "push", "-c", "tcp://127.0.0.1:1", "--count", "x"],
            "--count",
        ),
        (
            &[
                "-t",
                "push",
                "-c",
                "tcp://127.0.0.1:1",
                "--routing-id",
                "0x1",
            ],
            "0x1",
        ),
    ] {
        let out = cat(None, args).finish();
        let line = out.expect_failure(2, &format!("{args:?}"));
        assert!(line.contains(needle), "{args:?}: {line}");
    }
    // A value only the engine refuses (a routing id may not start with a zero byte).
    let out = cat(
        None,
        &[
            "-t",
            "dealer",
            "-c",
            "tcp://127.0.0.1:1",
            "--routing-id",
            "0x00ab",
        ],
    )
    .finish();
    let line = out.expect_failure(1, "routing id 0x00ab");
    assert!(line.contains("ROUTING_ID"), "{line}");
}

both_backends!(sub_cat_subscribes_and_pub_cat_publishes, |backend| {
    let ctx = ctx(backend);
    // SUB cat: its subscription reaches our XPUB, which then publishes two topics.
    let mut xpub = socket(&ctx, SocketType::XPub);
    let ep = bind_tcp(&mut xpub);
    let c = cat(
        Some(backend),
        &[
            "-t",
            "sub",
            "-c",
            &ep,
            "--subscribe",
            "news",
            "--count",
            "2",
        ],
    );
    assert_eq!(recv_parts(&mut xpub, "subscription"), bytes(&["\x01news"]));
    for m in ["sports 1", "news 1", "weather", "news 2"] {
        xpub.send(m.as_bytes(), 0).unwrap();
    }
    let out = c.finish();
    out.expect_success("sub cat");
    assert_eq!(out.stdout, ["news 1", "news 2"]);

    // PUB cat: lines from stdin go to our SUB once it has subscribed (an XSUB here, so the
    // test sees the subscription arrive before the cat starts sending).
    let mut xsub = socket(&ctx, SocketType::XSub);
    let ep = bind_tcp(&mut xsub);
    let mut p = cat(Some(backend), &["-t", "xpub", "-c", &ep, "--count", "2"]);
    xsub.send(b"\x01", 0).unwrap();
    assert_eq!(p.line(), "\\x01", "the XPUB cat prints the subscription");
    p.write("hello\nworld\n");
    assert_eq!(recv_parts(&mut xsub, "hello"), bytes(&["hello"]));
    assert_eq!(recv_parts(&mut xsub, "world"), bytes(&["world"]));
    // A second notification completes the cat's --count.
    xsub.send(b"\x01zz", 0).unwrap();
    let out = p.finish();
    out.expect_success("xpub cat");
    assert_eq!(out.stdout, ["\\x01zz"]);
});

/// The man page and the completion scripts come from the argument parser: every option is
/// in them, and an unknown shell is a usage error.
#[test]
fn man_page_and_completions_are_generated() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ringlink-cat"))
            .args(args)
            .output()
            .expect("run ringlink-cat")
    };
    let man = run(&["--generate-man"]);
    assert!(man.status.success());
    let man = String::from_utf8(man.stdout).unwrap();
    assert!(man.contains(".TH ringlink-cat 1"), "{man}");
    for opt in ["subscribe", "routing\\-id", "separator", "timeout"] {
        assert!(man.contains(opt), "man page lacks {opt}");
    }
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run(&["--generate-completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(
            script.contains("hwm") && script.contains("backend"),
            "{shell}"
        );
    }
    let bad = run(&["--generate-completions", "nosh"]);
    assert_eq!(bad.status.code(), Some(2));
}
