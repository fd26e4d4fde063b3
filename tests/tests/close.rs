//! Closing sockets at awkward moments must not leave a context unable to terminate.

use ringlink_tests::*;

// A ROUTER closed while its connections complete their handshakes (LINGER -1): the context
// must still terminate (the completed-but-untaken connections are released, not waited for).
both_backends!(
    close_during_handshake_does_not_hang_context_drop,
    |backend| {
        let ctx0 = ctx(backend);
        let mut server = ctx0.socket(SocketType::Dealer).unwrap();
        let ep = bind_tcp(&mut server);
        for i in 0..200 {
            let ctx = ctx(backend);
            let mut r = ctx.socket(SocketType::Router).unwrap();
            r.connect(&ep).unwrap();
            // Vary the moment of the close relative to the handshake.
            for _ in 0..(i % 20) * 50 {
                std::hint::spin_loop();
            }
            if i % 3 == 0 {
                std::thread::yield_now();
            }
            drop(r);
            drop(ctx);
        }
    }
);
