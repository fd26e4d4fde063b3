use crate::error::Error;
use crate::protocol::SocketType;
use crate::socket::testutil::{recv_msg, send_msg, socket};

#[test]
fn one_live_peer_only() {
    let mut s = socket(SocketType::Pair);
    let mut a = s.attach_far(b"", 0).expect("first peer");
    assert!(
        s.attach_far(b"", 0).is_none(),
        "a second live peer is refused"
    );
    send_msg(&mut s, &[b"x", b"y"]).unwrap();
    assert_eq!(a.recv_all(), vec![vec![b"x".to_vec(), b"y".to_vec()]]);
    a.send(&[b"back"]);
    assert_eq!(recv_msg(&mut s).unwrap(), vec![b"back".to_vec()]);
    assert!(matches!(recv_msg(&mut s), Err(Error::Again)));
}

#[test]
fn closed_peer_makes_room_after_its_data_is_read() {
    let mut s = socket(SocketType::Pair);
    let mut a = s.attach_far(b"", 0).unwrap();
    a.send(&[b"last words"]);
    a.close();
    // Closed but not drained: it no longer blocks a new peer.
    let mut b = s.attach_far(b"", 0).expect("closed peer does not block");
    assert_eq!(recv_msg(&mut s).unwrap(), vec![b"last words".to_vec()]);
    b.send(&[b"hello"]);
    assert_eq!(recv_msg(&mut s).unwrap(), vec![b"hello".to_vec()]);
}
