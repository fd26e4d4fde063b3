use crate::error::Error;
use crate::options::SocketOption;
use crate::protocol::SocketType;
use crate::socket::testutil::{recv_msg, send_msg, socket};
use crate::socket::DONTWAIT;

#[test]
fn receive_prefixes_the_routing_id() {
    let mut s = socket(SocketType::Router);
    let mut a = s.attach_far(b"alice", 0).unwrap();
    let mut anon = s.attach_far(b"", 0).unwrap();
    a.send(&[b"hi"]);
    assert_eq!(
        recv_msg(&mut s).unwrap(),
        vec![b"alice".to_vec(), b"hi".to_vec()]
    );
    anon.send(&[b"yo"]);
    let m = recv_msg(&mut s).unwrap();
    // A generated id: 0x00 + 4 bytes.
    assert_eq!((m[0].len(), m[0][0]), (5, 0));
    assert_eq!(m[1], b"yo");
}

#[test]
fn send_routes_by_id_and_drops_unroutable_messages() {
    let mut s = socket(SocketType::Router);
    let mut a = s.attach_far(b"a", 0).unwrap();
    let mut b = s.attach_far(b"b", 0).unwrap();
    send_msg(&mut s, &[b"b", b"to b", b"part 2"]).unwrap();
    // Unknown id: the whole message vanishes, the next one is routed again.
    send_msg(&mut s, &[b"nobody", b"lost", b"also lost"]).unwrap();
    send_msg(&mut s, &[b"a", b"to a"]).unwrap();
    assert_eq!(a.recv_all(), vec![vec![b"to a".to_vec()]]);
    assert_eq!(
        b.recv_all(),
        vec![vec![b"to b".to_vec(), b"part 2".to_vec()]]
    );
}

#[test]
fn mandatory_reports_unroutable_and_full_peers() {
    let mut s = socket(SocketType::Router);
    let mut a = s.attach_far(b"a", 1).unwrap();
    send_msg(&mut s, &[b"a", b"1"]).unwrap();
    // Not mandatory: a full peer loses the message.
    send_msg(&mut s, &[b"a", b"dropped"]).unwrap();
    assert_eq!(a.recv_all(), vec![vec![b"1".to_vec()]]);
    s.set_option(SocketOption::RouterMandatory(true)).unwrap();
    assert!(matches!(
        send_msg(&mut s, &[b"zz", b"x"]),
        Err(Error::HostUnreachable)
    ));
    send_msg(&mut s, &[b"a", b"2"]).unwrap();
    assert!(matches!(
        s.send(b"a", DONTWAIT | crate::socket::SNDMORE),
        Err(Error::Again)
    ));
    assert_eq!(a.recv_all(), vec![vec![b"2".to_vec()]]);
    send_msg(&mut s, &[b"a", b"3"]).unwrap();
    assert_eq!(a.recv_all(), vec![vec![b"3".to_vec()]]);
}

#[test]
fn duplicate_identity_is_refused_unless_handover() {
    let mut s = socket(SocketType::Router);
    let _a = s.attach_far(b"x", 0).unwrap();
    assert!(s.attach_far(b"x", 0).is_none());
    s.set_option(SocketOption::RouterHandover(true)).unwrap();
    let mut b = s.attach_far(b"x", 0).expect("handover");
    send_msg(&mut s, &[b"x", b"new owner"]).unwrap();
    assert_eq!(b.recv_all(), vec![vec![b"new owner".to_vec()]]);
}

#[test]
fn routed_batch_counts_dropped_and_stops_when_mandatory() {
    let mut s = socket(SocketType::Router);
    let mut a = s.attach_far(b"a", 0).unwrap();
    let msgs: [(&[u8], &[u8]); 3] = [(b"a", b"1"), (b"?", b"2"), (b"a", b"3")];
    assert_eq!(s.send_routed_batch(&msgs, DONTWAIT).unwrap(), 3);
    assert_eq!(a.recv_all(), vec![vec![b"1".to_vec()], vec![b"3".to_vec()]]);
    s.set_option(SocketOption::RouterMandatory(true)).unwrap();
    assert_eq!(s.send_routed_batch(&msgs, DONTWAIT).unwrap(), 1);
    assert!(matches!(
        s.send_routed_batch(&msgs[1..], DONTWAIT),
        Err(Error::HostUnreachable)
    ));
}

#[test]
fn batch_receive_carries_the_id_frame() {
    let mut s = socket(SocketType::Router);
    let mut a = s.attach_far(b"a", 0).unwrap();
    a.send(&[b"p1", b"p2"]);
    let (mut buf, mut lens, mut more) = ([0u8; 32], [0usize; 4], [false; 4]);
    assert_eq!(
        s.recv_batch_parts(&mut buf, &mut lens, &mut more, DONTWAIT)
            .unwrap(),
        3
    );
    assert_eq!(
        (&buf[..5], &lens[..3], &more[..3]),
        (&b"ap1p2"[..], &[1, 2, 2][..], &[true, true, false][..])
    );
}
