//! Compiles every `tests/c/*.c` with `cc` against `include/ringlink.h` and the static library
//! `libringlink.a` (built by this test, see `static_lib`), under AddressSanitizer +
//! UndefinedBehaviorSanitizer with warnings as errors, and runs each program on both
//! backends. A program reports failure by a non-zero exit. The C benchmark
//! (`bench/c/rl_bench.c`) is built the same way and run with a tiny message count.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The static library, built here: an integration test does not get the crate's staticlib
/// (the crate has no rlib, see Cargo.toml), so this runs `cargo build -p ringlink-ffi` with
/// the same profile into its own target directory (no contention with the outer build's
/// lock), which also guarantees the library is not stale.
fn static_lib() -> PathBuf {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(build_static_lib).clone()
}

fn build_static_lib() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("clib");
    let release = !cfg!(debug_assertions);
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "ringlink-ffi",
        "--lib",
        "--manifest-path",
    ])
    .arg(manifest.join("../Cargo.toml"))
    .env("CARGO_TARGET_DIR", &target);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build for the C library");
    assert!(status.success(), "building libringlink.a failed");
    let lib = target
        .join(if release { "release" } else { "debug" })
        .join("libringlink.a");
    assert!(lib.exists(), "{} was not produced", lib.display());
    lib
}

fn compile(src: &Path, out: &Path) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = static_lib();
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args([
            "-std=c11",
            "-g",
            "-O1",
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer",
            "-Wall",
            "-Wextra",
            "-Werror",
        ])
        .arg("-I")
        .arg(manifest.join("include"))
        .arg(src)
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(out)
        .status()
        .expect("run cc");
    assert!(status.success(), "compiling {} failed", src.display());
}

#[test]
fn c_programs_pass_under_sanitizers() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ringlink-ffi-c");
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut sources: Vec<PathBuf> = std::fs::read_dir(manifest.join("tests/c"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    sources.sort();
    assert!(sources.len() >= 2, "C tests missing");
    for src in &sources {
        let name = src.file_stem().unwrap().to_str().unwrap();
        let exe = out_dir.join(name);
        compile(src, &exe);
        for backend in backends() {
            let (ok, stdout, stderr) = run(Command::new(&exe).env("RINGLINK_BACKEND", backend));
            assert!(
                ok && stdout.contains(&format!("{name}: ok")),
                "{name} ({backend}) failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
            );
        }
    }
}

/// `bench/c/rl_bench.c` builds from the public header alone and runs every pattern with both
/// APIs (tiny count: this proves it works, it measures nothing).
#[test]
fn c_bench_builds_and_runs() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ringlink-ffi-c");
    std::fs::create_dir_all(&out_dir).unwrap();
    let exe = out_dir.join("rl_bench");
    compile(&manifest.join("../bench/c/rl_bench.c"), &exe);
    for backend in backends() {
        for transport in ["tcp", "ipc"] {
            let (ok, stdout, stderr) = run(Command::new(&exe).args([
                "-n", "3000", "-B", "100", "-r", "2", "-t", transport, "-b", backend,
            ]));
            let results: Vec<&str> = stdout
                .lines()
                .filter(|l| l.starts_with("RESULT "))
                .collect();
            let what =
                format!("rl_bench {backend} {transport}\nstdout:\n{stdout}\nstderr:\n{stderr}");
            assert!(ok && !stdout.contains("FAILED"), "{what}");
            assert_eq!(results.len(), 2 * 3 * 2, "{what}");
            for pattern in ["PAIR", "DEALER_ROUTER", "ROUTER_ROUTER_POLL"] {
                for lib in ["", "-batch"] {
                    let head = format!(
                        "RESULT lib=ringlink-c-{backend}{lib} kind=thr pattern={pattern} \
                         transport={transport} size=64 count=3000 "
                    );
                    let row: Vec<_> = results.iter().filter(|l| l.starts_with(&head)).collect();
                    assert_eq!(row.len(), 2, "{head}: {what}");
                    for l in row {
                        assert!(l.contains(" received=3000 lost=0 "), "{l}");
                    }
                }
            }
        }
    }
}

/// The backends to run on: both, or epoll where io_uring is unavailable.
fn backends() -> Vec<&'static str> {
    if uring_available() {
        vec!["uring", "epoll"]
    } else {
        eprintln!("io_uring unavailable here, epoll only");
        vec!["epoll"]
    }
}

/// Runs a sanitizer-built program: (success, stdout, stderr).
fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd
        // LeakSanitizer stays on; a failing check exits non-zero, ASan/UBSan abort.
        .env("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether io_uring works in this environment (else the engine would fall back to epoll,
/// and forcing it would fail).
fn uring_available() -> bool {
    // SAFETY: a plain syscall with a NULL params pointer: fails with EFAULT when io_uring
    // exists, ENOSYS/EPERM when it does not.
    let rc = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1, std::ptr::null_mut::<u8>()) };
    rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}
