//! Every socket type through the C ABI and the pattern-specific options.

use super::*;

#[test]
fn every_socket_type_is_passed_through() {
    // SAFETY: handles from this test.
    unsafe {
        let ctx = rl_ctx_new();
        for ty in RL_PAIR..=RL_STREAM {
            let s = rl_socket(ctx, ty);
            assert!(!s.is_null(), "type {ty}: errno {}", rl_errno());
            assert_eq!(get_int(s, RL_TYPE), ty);
            assert_eq!(rl_close(s), 0);
        }
        assert!(rl_socket(ctx, RL_STREAM + 1).is_null());
        assert_eq!(rl_errno(), libc::EINVAL);
        assert_eq!(rl_ctx_term(ctx), 0);
    }
}

/// Sets `opt` to each value on a fresh socket of `ty` and reads it back.
fn round_trip_where_supported(ctx: *mut rl_ctx_t, ty: c_int, opts: &[(c_int, &[c_int])]) {
    // SAFETY: `ctx` is live; the socket is this function's.
    unsafe {
        let s = rl_socket(ctx, ty);
        assert!(!s.is_null(), "type {ty}: errno {}", rl_errno());
        for &(opt, values) in opts {
            for &v in values {
                assert_eq!(
                    set_int(s, opt, v),
                    0,
                    "type {ty} set {opt}={v}: {}",
                    rl_errno()
                );
                assert_eq!(get_int(s, opt), v, "type {ty} get {opt}");
            }
        }
        assert_eq!(rl_close(s), 0);
    }
}

#[test]
fn pattern_options() {
    // SAFETY: handles from this test; valid option buffers.
    unsafe {
        let ctx = rl_ctx_new();
        let on_off: &[c_int] = &[1, 0];
        round_trip_where_supported(
            ctx,
            RL_REQ,
            &[(RL_REQ_RELAXED, on_off), (RL_REQ_CORRELATE, on_off)],
        );
        for ty in [RL_DEALER, RL_PULL, RL_SUB] {
            round_trip_where_supported(ctx, ty, &[(RL_CONFLATE, on_off)]);
        }
        round_trip_where_supported(
            ctx,
            RL_XPUB,
            &[
                (RL_XPUB_VERBOSE, on_off),
                (RL_XPUB_VERBOSER, on_off),
                (RL_XPUB_MANUAL, on_off),
                (RL_XPUB_MANUAL_LAST_VALUE, on_off),
                (RL_XPUB_NODROP, on_off),
                (RL_INVERT_MATCHING, on_off),
                (RL_ONLY_FIRST_SUBSCRIBE, on_off),
            ],
        );
        round_trip_where_supported(ctx, RL_SUB, &[(RL_INVERT_MATCHING, on_off)]);
        round_trip_where_supported(
            ctx,
            RL_STREAM,
            &[
                (RL_STREAM_NOTIFY, &[0, 1]),
                (
                    RL_STREAM_FRAMING,
                    &[RL_STREAM_FRAMING_LENGTH_PREFIXED, RL_STREAM_FRAMING_RAW],
                ),
            ],
        );
        // Defaults (libzmq's), binary options and bad values, on a socket that exists today.
        let d = rl_socket(ctx, RL_DEALER);
        assert_eq!(get_int(d, RL_CONFLATE), 0);
        assert_eq!(get_int(d, RL_STREAM_NOTIFY), 1);
        assert_eq!(get_int(d, RL_STREAM_FRAMING), RL_STREAM_FRAMING_RAW);
        assert_eq!(set_int(d, RL_STREAM_FRAMING, 2), -1);
        assert_eq!(rl_errno(), libc::EINVAL);
        assert_eq!(get_int(d, RL_STREAM_FRAMING), RL_STREAM_FRAMING_RAW);
        // SUBSCRIBE/UNSUBSCRIBE are write-only; bytes, with NULL allowed for 0 bytes.
        let mut buf = [0u8; 16];
        let mut len = buf.len();
        for opt in [RL_SUBSCRIBE, RL_UNSUBSCRIBE] {
            assert_eq!(rl_getsockopt(d, opt, buf.as_mut_ptr().cast(), &mut len), -1);
            assert_eq!(rl_errno(), libc::EINVAL);
            assert_eq!(rl_setsockopt(d, opt, null(), 3), -1);
            assert_eq!(rl_errno(), libc::EFAULT);
        }
        let sub = rl_socket(ctx, RL_SUB);
        if !sub.is_null() {
            assert_eq!(rl_setsockopt(sub, RL_SUBSCRIBE, null(), 0), 0);
            assert_eq!(
                rl_setsockopt(sub, RL_SUBSCRIBE, b"topic".as_ptr().cast(), 5),
                0
            );
            assert_eq!(
                rl_setsockopt(sub, RL_UNSUBSCRIBE, b"topic".as_ptr().cast(), 5),
                0
            );
            assert_eq!(rl_close(sub), 0);
        }
        let xpub = rl_socket(ctx, RL_XPUB);
        if !xpub.is_null() {
            assert_eq!(
                rl_setsockopt(xpub, RL_XPUB_WELCOME_MSG, b"hi".as_ptr().cast(), 2),
                0
            );
            let mut len = buf.len();
            assert_eq!(
                rl_getsockopt(xpub, RL_XPUB_WELCOME_MSG, buf.as_mut_ptr().cast(), &mut len),
                0
            );
            assert_eq!(&buf[..len], b"hi");
            assert_eq!(rl_close(xpub), 0);
        }
        assert_eq!(rl_close(d), 0);
        assert_eq!(rl_ctx_term(ctx), 0);
    }
}

// ----- lifecycle: nothing stays allocated per terminated context ---------------------------
