use crate::error::Error;
use crate::protocol::SocketType;
use crate::socket::testutil::{recv_msg, send_msg, socket};

fn frames(f: &[&[u8]]) -> Vec<Vec<u8>> {
    f.iter().map(|x| x.to_vec()).collect()
}

#[test]
fn envelope_is_kept_and_the_reply_goes_back_behind_it() {
    let mut s = socket(SocketType::Rep);
    let mut a = s.attach_far(b"", 0).unwrap();
    let mut b = s.attach_far(b"", 0).unwrap();
    b.send(&[b"hop1", b"hop2", b"", b"req"]);
    assert_eq!(recv_msg(&mut s).unwrap(), frames(&[b"req"]));
    send_msg(&mut s, &[b"rep"]).unwrap();
    assert_eq!(b.recv_all(), vec![frames(&[b"hop1", b"hop2", b"", b"rep"])]);
    assert!(a.recv_all().is_empty());
}

#[test]
fn alternation_is_enforced_and_bad_requests_dropped() {
    let mut s = socket(SocketType::Rep);
    let mut a = s.attach_far(b"", 0).unwrap();
    assert!(matches!(
        send_msg(&mut s, &[b"nothing asked"]),
        Err(Error::State)
    ));
    a.send(&[b"no delimiter"]);
    a.send(&[b"", b"q1"]);
    a.send(&[b"", b"q2"]);
    assert_eq!(recv_msg(&mut s).unwrap(), frames(&[b"q1"]));
    assert!(matches!(recv_msg(&mut s), Err(Error::State)));
    send_msg(&mut s, &[b"r1"]).unwrap();
    assert_eq!(recv_msg(&mut s).unwrap(), frames(&[b"q2"]));
    assert_eq!(a.recv_all(), vec![frames(&[b"", b"r1"])]);
}

#[test]
fn reply_to_a_departed_peer_is_dropped() {
    let mut s = socket(SocketType::Rep);
    let mut a = s.attach_far(b"", 0).unwrap();
    a.send(&[b"", b"q"]);
    assert_eq!(recv_msg(&mut s).unwrap(), frames(&[b"q"]));
    drop(a);
    send_msg(&mut s, &[b"lost", b"too"]).unwrap();
    // The state machine moved on: a new request can be received.
    let mut b = s.attach_far(b"", 0).unwrap();
    b.send(&[b"", b"q2"]);
    assert_eq!(recv_msg(&mut s).unwrap(), frames(&[b"q2"]));
}
