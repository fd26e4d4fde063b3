use crate::error::Error;
use crate::protocol::SocketType;
use crate::socket::testutil::{recv_msg, send_msg, socket};

#[test]
fn push_batches_round_robin_and_does_not_receive() {
    let mut s = socket(SocketType::Push);
    let mut a = s.attach_far(b"", 0).unwrap();
    let mut b = s.attach_far(b"", 0).unwrap();
    assert_eq!(
        s.send_batch(&[b"1", b"2", b"3", b"4"], crate::socket::DONTWAIT)
            .unwrap(),
        4
    );
    assert_eq!(a.recv_all(), vec![vec![b"1".to_vec()], vec![b"3".to_vec()]]);
    assert_eq!(b.recv_all(), vec![vec![b"2".to_vec()], vec![b"4".to_vec()]]);
    assert!(matches!(recv_msg(&mut s), Err(Error::NotSupported)));
}

#[test]
fn pull_fair_queues_and_does_not_send() {
    let mut s = socket(SocketType::Pull);
    let mut a = s.attach_far(b"", 0).unwrap();
    let mut b = s.attach_far(b"", 0).unwrap();
    a.send(&[b"a1"]);
    a.send(&[b"a2"]);
    b.send(&[b"b1"]);
    let mut buf = [0u8; 64];
    let mut lens = [0usize; 8];
    // One batch takes everything queued, alternating between peers.
    assert_eq!(s.drain(&mut buf, &mut lens).unwrap(), 3);
    assert_eq!(&buf[..6], b"a1b1a2");
    assert!(matches!(
        send_msg(&mut s, &[b"x"]),
        Err(Error::NotSupported)
    ));
}

#[test]
fn push_batches_multipart_messages() {
    let mut s = socket(SocketType::Push);
    let mut a = s.attach_far(b"", 0).unwrap();
    // One peer: the run path (one commit for all).
    let msgs = [&[&b"k"[..], b"1"][..], &[b"k", b"", b"2"], &[b"3"]];
    assert_eq!(
        s.send_batch_parts(&msgs, crate::socket::DONTWAIT).unwrap(),
        3
    );
    let want: Vec<Vec<Vec<u8>>> = msgs
        .iter()
        .map(|m| m.iter().map(|f| f.to_vec()).collect())
        .collect();
    assert_eq!(a.recv_all(), want);
    // Two peers: round robin, whole messages.
    let mut b = s.attach_far(b"", 0).unwrap();
    assert_eq!(
        s.send_batch_parts(&msgs, crate::socket::DONTWAIT).unwrap(),
        3
    );
    let (ga, gb) = (a.recv_all(), b.recv_all());
    assert_eq!(ga.len() + gb.len(), 3);
    let mut all: Vec<_> = ga.into_iter().chain(gb).collect();
    all.sort();
    let mut sorted = want.clone();
    sorted.sort();
    assert_eq!(all, sorted);
    assert!(matches!(
        s.send_batch_parts(&[&[][..] as &[&[u8]]], crate::socket::DONTWAIT),
        Err(Error::InvalidArgument(_))
    ));
}
