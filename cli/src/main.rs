//! `ringlink-cat`: a socket on the command line. Sends stdin lines to, or prints messages
//! from, any ringlink socket type; see docs/ringlink-cat.md.

#![forbid(unsafe_code)]

mod args;
mod format;
mod run;

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;

/// Exit statuses (documented in `--help` and docs/ringlink-cat.md).
const FAILED: u8 = 1;
const USAGE: u8 = 2;
const TIMED_OUT: u8 = 3;

/// `ringlink-cat --generate-man` prints the roff man page, `--generate-completions SHELL`
/// (bash, zsh, fish, elvish, powershell) a completion script, both made from the argument
/// parser itself. None: not such an invocation.
fn generate(args: Vec<std::ffi::OsString>) -> Option<ExitCode> {
    let args: Vec<&str> = args.iter().map(|a| a.to_str().unwrap_or("")).collect();
    let mut out = std::io::stdout();
    match args.as_slice() {
        ["--generate-man"] => {
            let written = clap_mangen::Man::new(args::command()).render(&mut out);
            Some(if written.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(FAILED)
            })
        }
        ["--generate-completions", shell] => {
            let Ok(shell) = shell.parse::<clap_complete::Shell>() else {
                eprintln!(
                    "ringlink-cat: unknown shell {shell:?} (bash, zsh, fish, elvish, powershell)"
                );
                return Some(ExitCode::from(USAGE));
            };
            clap_complete::generate(shell, &mut args::command(), "ringlink-cat", &mut out);
            Some(ExitCode::SUCCESS)
        }
        _ => None,
    }
}

fn main() -> ExitCode {
    if std::env::var_os("RINGLINK_LOG").is_some() {
        env_logger::Builder::from_env("RINGLINK_LOG").init();
    }
    if let Some(code) = generate(std::env::args_os().skip(1).collect()) {
        return code;
    }
    let cfg = match args::parse(std::env::args_os()) {
        Ok(cfg) => cfg,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                e.exit();
            }
            // clap's report spans several lines; its first paragraph says what is wrong.
            let text = e.to_string();
            let what: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.is_empty())
                .collect();
            let what = what.join(" ");
            let what = what.strip_prefix("error: ").unwrap_or(&what);
            eprintln!("ringlink-cat: {what} (see --help)");
            return ExitCode::from(USAGE);
        }
    };
    // The watchdog covers everything, including a blocked read of stdin and the LINGER
    // wait at the end, which no socket timeout could.
    let (done, finished) = mpsc::channel::<()>();
    if let Some(limit) = cfg.timeout {
        thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(limit) {
                eprintln!(
                    "ringlink-cat: timed out after {} ms ({} messages received, {} sent)",
                    limit.as_millis(),
                    run::RECEIVED.load(Ordering::Relaxed),
                    run::SENT.load(Ordering::Relaxed)
                );
                std::process::exit(TIMED_OUT.into());
            }
        });
    }
    let result = run::run(&cfg);
    let _ = done.send(());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("ringlink-cat: {msg}");
            ExitCode::from(FAILED)
        }
    }
}
