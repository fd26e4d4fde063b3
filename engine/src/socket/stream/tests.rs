use crate::error::Error;
use crate::options::{SocketOption, StreamFraming};
use crate::protocol::SocketType;
use crate::socket::testutil::{recv_msg, send_msg, socket};

#[test]
fn ids_notifications_and_routing() {
    let mut s = socket(SocketType::Stream);
    let mut a = s.attach_far(b"", 0).unwrap();
    let _b = s.attach_far(b"", 0).unwrap();
    // Connect notifications: [id][empty], one id per peer (0x00 + 4 bytes).
    let na = recv_msg(&mut s).unwrap();
    let nb = recv_msg(&mut s).unwrap();
    assert_eq!((na[0].len(), na[0][0], na[1].len()), (5, 0, 0));
    assert_ne!(na[0], nb[0]);
    a.send(&[b"raw bytes"]);
    assert_eq!(
        recv_msg(&mut s).unwrap(),
        vec![na[0].clone(), b"raw bytes".to_vec()]
    );
    assert!(matches!(
        send_msg(&mut s, &[b"\x00nope", b"x"]),
        Err(Error::HostUnreachable)
    ));
    assert!(matches!(
        send_msg(&mut s, &[b"", b"x"]),
        Err(Error::InvalidArgument(_))
    ));
    send_msg(&mut s, &[&na[0], b"out"]).unwrap();
    assert_eq!(a.recv_raw(), b"out");
    a.close();
    // Disconnect notification after the peer's data.
    assert_eq!(recv_msg(&mut s).unwrap(), vec![na[0].clone(), Vec::new()]);
    assert!(matches!(
        send_msg(&mut s, &[&na[0], b"gone"]),
        Err(Error::HostUnreachable)
    ));
}

#[test]
fn length_prefixed_ids_and_framing() {
    let mut s = socket(SocketType::Stream);
    s.set_option(SocketOption::StreamFraming(StreamFraming::LengthPrefixed))
        .unwrap();
    let mut a = s.attach_far(b"", 0).unwrap();
    assert_eq!(recv_msg(&mut s).unwrap(), vec![vec![0, 0, 0, 1], vec![1]]);
    let msgs: [(&[u8], &[u8]); 2] = [(&[0, 0, 0, 1], b"ab"), (&[0, 0, 0, 9], b"x")];
    assert!(matches!(
        s.send_routed_batch(&msgs[1..], crate::socket::DONTWAIT),
        Err(Error::HostUnreachable)
    ));
    assert_eq!(
        s.send_routed_batch(&msgs, crate::socket::DONTWAIT).unwrap(),
        1
    );
    assert_eq!(a.recv_raw(), [0, 0, 0, 2, b'a', b'b']);
}
