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

#[test]
fn same_id_compares_every_byte() {
    let base: Vec<u8> = (1..=20).collect();
    for n in 0..=base.len() {
        let a = &base[..n];
        let copy = a.to_vec();
        assert!(super::same_id(a, &copy));
        assert!(!super::same_id(a, &base[..n.saturating_sub(1)]) || n == 0);
        for i in 0..n {
            let mut b = a.to_vec();
            b[i] ^= 0x80;
            assert!(!super::same_id(a, &b), "length {n}, byte {i}");
        }
    }
}

#[test]
fn the_remembered_peer_follows_detach_reattach_and_handover() {
    let mut s = socket(SocketType::Router);
    let mut a = s.attach_far(b"a", 0).unwrap();
    let mut b = s.attach_far(b"b", 0).unwrap();
    // Warm the remembered slot on `a`, alternate, come back.
    for to in [b"a", b"a", b"b", b"a"] {
        send_msg(&mut s, &[to, b"m"]).unwrap();
    }
    assert_eq!((a.recv_all().len(), b.recv_all().len()), (3, 1));
    // `a` goes; a new peer takes its id (and maybe its slot): it gets what is sent to "a",
    // and "b" still reaches `b`.
    a.close();
    send_msg(&mut s, &[b"a", b"lost"]).unwrap();
    assert_eq!(
        s.stats().msgs_dropped,
        1,
        "a peer that is gone is not found"
    );
    // Drained: the peer leaves.
    assert!(matches!(recv_msg(&mut s), Err(Error::Again)));
    let mut a2 = s.attach_far(b"a", 0).unwrap();
    send_msg(&mut s, &[b"a", b"to a2"]).unwrap();
    send_msg(&mut s, &[b"b", b"to b"]).unwrap();
    assert_eq!(a2.recv_all(), vec![vec![b"to a2".to_vec()]]);
    assert_eq!(b.recv_all(), vec![vec![b"to b".to_vec()]]);
    // Handover while "a" is remembered: the newcomer gets it, the old owner nothing more.
    s.set_option(SocketOption::RouterHandover(true)).unwrap();
    send_msg(&mut s, &[b"a", b"warm"]).unwrap();
    let mut a3 = s.attach_far(b"a", 0).expect("handover");
    send_msg(&mut s, &[b"a", b"to a3"]).unwrap();
    assert_eq!(a2.recv_all(), vec![vec![b"warm".to_vec()]]);
    assert_eq!(a3.recv_all(), vec![vec![b"to a3".to_vec()]]);
}

#[test]
fn send_routed_sends_a_whole_message_routed_once() {
    let mut s = socket(SocketType::Router);
    let mut a = s.attach_far(b"a", 0).unwrap();
    s.send_routed(b"a", &[&b"p1"[..], b"p2"], 0).unwrap();
    s.send_routed(b"a", &[b"solo"], crate::socket::SNDMORE)
        .unwrap();
    assert_eq!(
        a.recv_all(),
        vec![vec![b"p1".to_vec(), b"p2".to_vec()], vec![b"solo".to_vec()]],
        "SNDMORE is ignored: the message ends with its last part"
    );
    // Unroutable: dropped (counted) without ROUTER_MANDATORY, an error with it.
    s.send_routed(b"?", &[b"x"], 0).unwrap();
    assert_eq!(s.stats().msgs_dropped, 1);
    s.set_option(SocketOption::RouterMandatory(true)).unwrap();
    assert!(matches!(
        s.send_routed(b"?", &[b"x"], 0),
        Err(Error::HostUnreachable)
    ));
    // No parts; a message begun with `send` and not finished.
    let none: [&[u8]; 0] = [];
    assert!(matches!(
        s.send_routed(b"a", &none, 0),
        Err(Error::InvalidArgument(_))
    ));
    s.send(b"a", crate::socket::SNDMORE).unwrap();
    assert!(matches!(s.send_routed(b"a", &[b"x"], 0), Err(Error::State)));
    s.send(b"end", 0).unwrap();
    assert_eq!(a.recv_all(), vec![vec![b"end".to_vec()]]);
    let mut d = socket(SocketType::Dealer);
    assert!(matches!(
        d.send_routed(b"a", &[b"x"], 0),
        Err(Error::NotSupported)
    ));
}

#[test]
fn send_routed_to_a_full_peer() {
    let mut s = socket(SocketType::Router);
    let mut a = s.attach_far(b"a", 1).unwrap();
    // More than the pipe holds (HWM 1): the rest is dropped without ROUTER_MANDATORY.
    for _ in 0..100 {
        s.send_routed(b"a", &[b"m"], DONTWAIT).unwrap();
    }
    assert!(s.stats().msgs_dropped > 0);
    s.set_option(SocketOption::RouterMandatory(true)).unwrap();
    assert!(matches!(
        s.send_routed(b"a", &[b"m"], DONTWAIT),
        Err(Error::Again)
    ));
    assert!(!a.recv_all().is_empty());
}

#[test]
fn routed_batch_runs_stop_at_the_peer_room_and_the_next_id() {
    let mut s = socket(SocketType::Router);
    let mut a = s.attach_far(b"a", 3).unwrap();
    let mut b = s.attach_far(b"b", 0).unwrap();
    let a_id = b"a".to_vec();
    // Runs for `a` (the same slice, and equal ids in other slices), broken by `b`.
    let msgs: Vec<(&[u8], &[u8])> = vec![
        (&a_id, b"1"),
        (&a_id, b"2"),
        (b"a", b"3"),
        (&a_id, b"4"),
        (b"b", b"5"),
        (b"b", b"6"),
        (&a_id, b"7"),
    ];
    // Without ROUTER_MANDATORY a full peer drops: `a` holds 3 messages.
    assert_eq!(s.send_routed_batch(&msgs, DONTWAIT).unwrap(), 7);
    let texts = |far: &mut super::super::testutil::Far| -> Vec<Vec<u8>> {
        far.recv_all()
            .into_iter()
            .map(|mut m| m.remove(0))
            .collect()
    };
    assert_eq!(texts(&mut a), [b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);
    assert_eq!(texts(&mut b), [b"5".to_vec(), b"6".to_vec()]);
    assert_eq!(s.stats().msgs_dropped, 2);
    // With it, the batch ends where `a` is full (its pipe was drained above: room 3).
    s.set_option(SocketOption::RouterMandatory(true)).unwrap();
    assert_eq!(s.send_routed_batch(&msgs, DONTWAIT).unwrap(), 3);
    assert_eq!(texts(&mut a), [b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);
}

#[test]
fn a_run_for_one_peer_stops_at_its_room_or_drops_past_it() {
    let mut s = socket(SocketType::Router);
    let mut a = s.attach_far(b"a", 3).unwrap();
    let texts = |far: &mut super::super::testutil::Far| -> Vec<Vec<u8>> {
        far.recv_all()
            .into_iter()
            .map(|mut m| m.remove(0))
            .collect()
    };
    // Without ROUTER_MANDATORY a full peer drops (counted): `a` holds 3 messages.
    assert_eq!(
        s.send_routed_many(b"a", &["1", "2", "3", "4", "5"], DONTWAIT)
            .unwrap(),
        5
    );
    assert_eq!(texts(&mut a), [b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);
    assert_eq!(s.stats().msgs_dropped, 2);
    // With it, the run ends at the peer's room, and an unknown id is refused.
    s.set_option(SocketOption::RouterMandatory(true)).unwrap();
    assert_eq!(s.send_routed_repeat(b"a", b"r", 5, DONTWAIT).unwrap(), 3);
    assert!(matches!(
        s.send_routed_repeat(b"a", b"r", 5, DONTWAIT),
        Err(Error::Again)
    ));
    assert_eq!(texts(&mut a), vec![b"r".to_vec(); 3]);
    assert!(matches!(
        s.send_routed_many(b"nobody", &["x"], DONTWAIT),
        Err(Error::HostUnreachable)
    ));
    assert_eq!(s.send_routed_many::<&[u8]>(b"a", &[], DONTWAIT).unwrap(), 0);
}
