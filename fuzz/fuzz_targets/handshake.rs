//! cargo-fuzz entry point; the body is `ringlink_fuzz::handshake` (see fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringlink_fuzz::handshake(data));
