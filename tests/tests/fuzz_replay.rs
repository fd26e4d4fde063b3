//! Replays every committed fuzz input through the fuzz target bodies, on stable, as part of
//! the normal test run: `fuzz/seeds/<target>/` (captured libzmq traffic), `fuzz/regressions/
//! <target>/` (inputs that once failed) and `fuzz/corpus/<target>/` (the minimised corpus).
//! The bodies are the very functions the cargo-fuzz binaries call (`fuzz/src/lib.rs`, included
//! here), so each input is checked against the same invariants and allocation bounds.

#[path = "../../fuzz/src/lib.rs"]
mod targets;

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = Vec::new();
    for dir in ["seeds", "regressions", "corpus"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .map(|e| e.expect("readable fuzz input directory").path())
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

fn replay(target: &str) {
    let (_, body) = targets::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("known target");
    let files = inputs(target);
    assert!(!files.is_empty(), "no committed inputs for {target}");
    for path in &files {
        // A fuzzer running locally may drop corpus files meanwhile.
        let Ok(data) = std::fs::read(path) else {
            continue;
        };
        // Named in the message if an allocation bound aborts the process.
        let label: &'static str = Box::leak(path.display().to_string().into_boxed_str());
        targets::alloc::set_label(label);
        if std::panic::catch_unwind(|| body(&data)).is_err() {
            panic!("{target}: input {} fails", path.display());
        }
    }
}

#[test]
fn replay_greeting() {
    replay("greeting");
}

#[test]
fn replay_frame_decoder() {
    replay("frame_decoder");
}

#[test]
fn replay_command() {
    replay("command");
}

#[test]
fn replay_handshake() {
    replay("handshake");
}

#[test]
fn replay_connection() {
    replay("connection");
}
