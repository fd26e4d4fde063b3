//! The C ABI called from Rust: every extern function, the error contract and the batch
//! calls' edge cases. (Unit tests rather than integration tests: the crate builds no rlib,
//! which would collide with the engine's `libringlink.rlib`.)

mod basics;
mod concurrency;
mod gateway;
mod lifecycle;
mod messages;
mod patterns;
mod poll_monitor;
mod services;
mod spot;
mod spot_drops;

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::*;

fn set_int(s: *mut rl_socket_t, opt: c_int, v: c_int) -> c_int {
    // SAFETY: `s` is a live socket in these tests; the value is a local int.
    unsafe { rl_setsockopt(s, opt, &v as *const c_int as *const c_void, 4) }
}

fn get_int(s: *mut rl_socket_t, opt: c_int) -> c_int {
    let mut v: c_int = -12345;
    let mut len = 4usize;
    // SAFETY: valid out-pointers.
    let rc = unsafe { rl_getsockopt(s, opt, &mut v as *mut c_int as *mut c_void, &mut len) };
    assert_eq!((rc, len), (0, 4), "getsockopt {opt}: errno {}", rl_errno());
    v
}

fn endpoint(s: *mut rl_socket_t) -> std::ffi::CString {
    let mut buf = [0u8; 256];
    let mut len = buf.len();
    // SAFETY: valid buffer and length.
    let rc = unsafe { rl_getsockopt(s, RL_LAST_ENDPOINT, buf.as_mut_ptr().cast(), &mut len) };
    assert_eq!(rc, 0);
    CStr::from_bytes_with_nul(&buf[..len]).unwrap().to_owned()
}

/// A context and a connected pair of sockets of the given types (server binds).
struct Setup {
    ctx: *mut rl_ctx_t,
    server: *mut rl_socket_t,
    client: *mut rl_socket_t,
}

impl Setup {
    fn new(
        io_threads: c_int,
        server_ty: c_int,
        client_ty: c_int,
        client_id: Option<&[u8]>,
    ) -> Setup {
        // SAFETY: every call gets handles created here and valid pointers.
        unsafe {
            let ctx = rl_ctx_new();
            assert!(!ctx.is_null());
            assert_eq!(rl_ctx_set(ctx, RL_IO_THREADS, io_threads), 0);
            let server = rl_socket(ctx, server_ty);
            let client = rl_socket(ctx, client_ty);
            assert!(!server.is_null() && !client.is_null());
            for s in [server, client] {
                assert_eq!(set_int(s, RL_RCVTIMEO, 10_000), 0);
                assert_eq!(set_int(s, RL_LINGER, 0), 0);
            }
            if let Some(id) = client_id {
                assert_eq!(
                    rl_setsockopt(client, RL_ROUTING_ID, id.as_ptr().cast(), id.len()),
                    0
                );
            }
            assert_eq!(rl_bind(server, c"tcp://127.0.0.1:*".as_ptr()), 0);
            let ep = endpoint(server);
            assert!(ep.to_str().unwrap().starts_with("tcp://127.0.0.1:"));
            assert_eq!(rl_connect(client, ep.as_ptr()), 0);
            Setup {
                ctx,
                server,
                client,
            }
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        // SAFETY: the handles are live until here.
        unsafe {
            assert_eq!(rl_close(self.server), 0);
            assert_eq!(rl_close(self.client), 0);
            assert_eq!(rl_ctx_term(self.ctx), 0);
        }
    }
}
