//! Compiles every `tests/c/*.c` with `cc` against `include/ringlink.h` and the distributable
//! static library (cargo's `libringlink.a` processed by `dist.sh`, built by this test, see
//! `static_lib`), under AddressSanitizer + UndefinedBehaviorSanitizer with warnings as errors
//! (linker warnings included), and runs each program on both backends. A program reports
//! failure by a non-zero exit. The C benchmark (`bench/c/rl_bench.c`) is built the same way
//! and run with a tiny message count. The symbol tests check that the distributable archive
//! and `libringlink.so` define no global symbol but the `rl_*` API, and that a program links
//! the archive together with another Rust static library.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The libraries, built here: an integration test does not get the crate's staticlib
/// (the crate has no rlib, see Cargo.toml), so this runs `cargo build -p ringlink-ffi` with
/// the same profile into its own target directory (no contention with the outer build's
/// lock), which also guarantees the library is not stale.
struct Libs {
    /// cargo's `libringlink.a`.
    raw: PathBuf,
    /// `dist.sh`'s output from it: what the C programs link.
    dist: PathBuf,
    /// `libringlink.so`.
    shared: PathBuf,
}

fn libs() -> &'static Libs {
    static LIBS: OnceLock<Libs> = OnceLock::new();
    LIBS.get_or_init(build_libs)
}

fn static_lib() -> PathBuf {
    libs().dist.clone()
}

fn build_libs() -> Libs {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("clib");
    // Always the release build: it is what `ffi/dist.sh` and `install.sh` ship, and a debug
    // archive differs (rustc 1.95 leaves `rust_eh_personality` undefined in it, so a second
    // Rust library's std would be pulled in to satisfy it).
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "ringlink-ffi",
        "--lib",
        "--release",
        "--manifest-path",
    ])
    .arg(manifest.join("../Cargo.toml"))
    .env("CARGO_TARGET_DIR", &target);
    let status = cmd.status().expect("run cargo build for the C library");
    assert!(status.success(), "building libringlink.a failed");
    let dir = target.join("release");
    let raw = dir.join("libringlink.a");
    let shared = dir.join("libringlink.so");
    assert!(raw.exists(), "{} was not produced", raw.display());
    assert!(shared.exists(), "{} was not produced", shared.display());
    let dist = dir.join("dist").join("libringlink.a");
    let status = Command::new("bash")
        .arg(manifest.join("dist.sh"))
        .args([&raw, &dist])
        .status()
        .expect("run ffi/dist.sh");
    assert!(status.success(), "ffi/dist.sh failed");
    Libs { raw, dist, shared }
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
            "-Wl,--fatal-warnings",
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

// ----- symbol visibility (issue 16 item 6) ---------------------------------------------------

/// The `rl_*` functions the header declares.
fn header_functions() -> Vec<String> {
    let header =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/ringlink.h"))
            .unwrap();
    let mut names: Vec<String> = header
        .lines()
        .filter(|l| !l.starts_with("//") && !l.starts_with('#'))
        .filter_map(|l| {
            // The identifier right before the first '(' of a declaration line.
            let head = &l[..l.find('(')?];
            let start = head
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(0, |i| i + 1);
            let name = &head[start..];
            name.starts_with("rl_").then(|| name.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    assert!(names.len() > 40, "header parse: {names:?}");
    names
}

/// `nm` with `args` on `file`: the names of the symbols listed (defined ones have an address).
fn nm_defined(args: &[&str], file: &Path) -> Vec<String> {
    let out = Command::new("nm")
        .args(args)
        .arg(file)
        .output()
        .expect("run nm");
    assert!(out.status.success(), "nm {args:?} {}", file.display());
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [_addr, _kind, name] => Some(name.to_string()),
            _ => None,
        })
        .collect();
    names.sort();
    names
}

/// The distributable archive defines exactly the header's functions as globals (undefined
/// references to libc and libgcc_s are fine); cargo's archive defines std's too, which is
/// what this guards against.
#[test]
fn static_archive_exports_only_the_api() {
    let libs = libs();
    let api = header_functions();
    assert_eq!(nm_defined(&["-g", "--defined-only"], &libs.dist), api);
    // Without dist.sh: the clash this is about.
    let raw = nm_defined(&["-g", "--defined-only"], &libs.raw);
    assert!(
        raw.iter().any(|s| s == "rust_eh_personality"),
        "raw archive changed?"
    );
}

/// `libringlink.so` exports exactly the header's functions: dynamic symbols, and the global
/// symbols of its static symbol table. (rustc links every cdylib with its own version script
/// that makes all but the crate's exported functions local, so no script of ours is needed;
/// this checks it stays so, e.g. if a dependency grew a `#[no_mangle]` function.)
#[test]
fn shared_library_exports_only_the_api() {
    let libs = libs();
    let api = header_functions();
    let mut dynamic = nm_defined(&["-D", "--defined-only"], &libs.shared);
    dynamic.dedup();
    assert_eq!(dynamic, api);
    let mut global = nm_defined(&["-g", "--defined-only"], &libs.shared);
    global.dedup();
    assert_eq!(global, api);
}

/// `libringlink.so` carries the SONAME `libringlink.so.0`: a program linked with `-lringlink`
/// records that name (not the unversioned one) and runs through the versioned symlink
/// `install.sh` makes.
#[test]
fn shared_library_has_a_soname_programs_record() {
    let libs = libs();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ringlink-ffi-soname");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let soname = "libringlink.so.0";
    let real = format!("libringlink.so.{}", env!("CARGO_PKG_VERSION"));
    std::fs::copy(&libs.shared, dir.join(&real)).unwrap();
    std::os::unix::fs::symlink(&real, dir.join(soname)).unwrap();
    std::os::unix::fs::symlink(soname, dir.join("libringlink.so")).unwrap();
    let dynamic = |file: &Path| {
        let out = Command::new("readelf")
            .arg("-d")
            .arg(file)
            .output()
            .expect("run readelf");
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(
        dynamic(&libs.shared).contains(&format!("Library soname: [{soname}]")),
        "no SONAME {soname} in {}",
        libs.shared.display()
    );
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = dir.join("version.c");
    std::fs::write(
        &src,
        "#include <ringlink.h>\n#include <stdio.h>\nint main(void) { int a, b, c; \
         rl_version(&a, &b, &c); printf(\"%d.%d.%d\\n\", a, b, c); return 0; }\n",
    )
    .unwrap();
    let exe = dir.join("version");
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .arg("-I")
        .arg(manifest.join("include"))
        .arg(&src)
        .arg("-L")
        .arg(&dir)
        .args(["-lringlink", "-o"])
        .arg(&exe)
        .status()
        .expect("run cc");
    assert!(status.success(), "linking against libringlink.so failed");
    assert!(dynamic(&exe).contains(&format!("Shared library: [{soname}]")));
    let out = Command::new(&exe)
        .env("LD_LIBRARY_PATH", &dir)
        .output()
        .expect("run the program");
    assert!(out.status.success(), "{out:?}");
    let v = String::from_utf8(out.stdout).unwrap();
    assert_eq!(v.trim(), env!("CARGO_PKG_VERSION"));
}

/// A C program links the distributable archive together with a second Rust static library
/// (its own std, rust_eh_personality and compiler builtins), in either order, and both work,
/// panics caught inside each included.
#[test]
fn links_with_another_rust_staticlib() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ringlink-ffi-two-rust-libs");
    std::fs::create_dir_all(&dir).unwrap();
    let other_rs = dir.join("other.rs");
    std::fs::write(
        &other_rs,
        r#"
#[no_mangle]
pub extern "C" fn other_sum(n: i32) -> i32 {
    let v: Vec<i32> = (0..n).collect();
    // Unwinds through this library's own personality routine.
    std::panic::catch_unwind(|| {
        if n < 0 {
            panic!("negative");
        }
        v.iter().sum::<i32>()
    })
    .unwrap_or(-1)
}
"#,
    )
    .unwrap();
    let other = dir.join("libother.a");
    let status = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--edition", "2021", "--crate-type", "staticlib", "-O", "-o"])
        .arg(&other)
        .arg(&other_rs)
        .status()
        .expect("run rustc");
    assert!(
        status.success(),
        "building the second Rust staticlib failed"
    );
    let prog = dir.join("two.c");
    std::fs::write(
        &prog,
        r#"
#include <stdio.h>
#include "ringlink.h"
int other_sum(int n);
int main(void) {
    if (other_sum(5) != 10 || other_sum(-1) != -1) return 1;
    rl_ctx_t *ctx = rl_ctx_new();
    rl_socket_t *a = rl_socket(ctx, RL_PAIR), *b = rl_socket(ctx, RL_PAIR);
    if (!a || !b) return 2;
    if (rl_bind(a, "inproc://two") || rl_connect(b, "inproc://two")) return 3;
    char buf[8];
    if (rl_send(b, "hi", 2, 0) != 2 || rl_recv(a, buf, sizeof buf, 0) != 2) return 4;
    if (rl_close(a) || rl_close(b) || rl_ctx_term(ctx)) return 5;
    puts("two: ok");
    return 0;
}
"#,
    )
    .unwrap();
    let lib = static_lib();
    for (name, first, second) in [("ab", &lib, &other), ("ba", &other, &lib)] {
        let exe = dir.join(format!("two-{name}"));
        let out = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
            .args(["-std=c11", "-Wall", "-Werror", "-Wl,--fatal-warnings", "-I"])
            .arg(manifest.join("include"))
            .arg(&prog)
            .args([first, second])
            .args(["-lpthread", "-ldl", "-lm", "-o"])
            .arg(&exe)
            .output()
            .expect("run cc");
        assert!(
            out.status.success(),
            "linking ({name}) failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (ok, stdout, stderr) = run(&mut Command::new(&exe));
        assert!(
            ok && stdout.contains("two: ok"),
            "{name}: {stdout}\n{stderr}"
        );
    }
}
