use crate::error::Error;
use crate::options::SocketOption;
use crate::protocol::SocketType;
use crate::socket::testutil::{recv_msg, send_msg, socket};

fn msg(s: &str) -> Vec<Vec<u8>> {
    vec![s.as_bytes().to_vec()]
}

#[test]
fn send_round_robins_and_keeps_multipart_together() {
    let mut s = socket(SocketType::Dealer);
    let mut peers: Vec<_> = (0..3).map(|_| s.attach_far(b"", 0).unwrap()).collect();
    for i in 0..6 {
        send_msg(&mut s, &[format!("m{i}").as_bytes()]).unwrap();
    }
    send_msg(&mut s, &[b"a", b"b"]).unwrap();
    assert_eq!(
        peers[0].recv_all(),
        vec![msg("m0"), msg("m3"), vec![b"a".to_vec(), b"b".to_vec()]]
    );
    assert_eq!(peers[1].recv_all(), vec![msg("m1"), msg("m4")]);
    assert_eq!(peers[2].recv_all(), vec![msg("m2"), msg("m5")]);
}

#[test]
fn full_peers_are_skipped_and_none_with_room_is_again() {
    let mut s = socket(SocketType::Dealer);
    let mut a = s.attach_far(b"", 1).unwrap();
    let mut b = s.attach_far(b"", 1).unwrap();
    send_msg(&mut s, &[b"1"]).unwrap();
    send_msg(&mut s, &[b"2"]).unwrap();
    // Both at HWM 1.
    assert!(matches!(send_msg(&mut s, &[b"3"]), Err(Error::Again)));
    assert_eq!(b.recv_all(), vec![msg("2")]);
    send_msg(&mut s, &[b"3"]).unwrap();
    assert_eq!(a.recv_all(), vec![msg("1")]);
    assert_eq!(b.recv_all(), vec![msg("3")]);
}

#[test]
fn no_peer_means_again() {
    let mut s = socket(SocketType::Dealer);
    assert!(matches!(send_msg(&mut s, &[b"x"]), Err(Error::Again)));
    assert!(matches!(recv_msg(&mut s), Err(Error::Again)));
}

#[test]
fn receive_is_fair_queued() {
    let mut s = socket(SocketType::Dealer);
    let mut a = s.attach_far(b"", 0).unwrap();
    let mut b = s.attach_far(b"", 0).unwrap();
    for i in 0..3 {
        a.send(&[format!("a{i}").as_bytes()]);
        b.send(&[format!("b{i}").as_bytes()]);
    }
    let got: Vec<_> = (0..6).map(|_| recv_msg(&mut s).unwrap()).collect();
    let want: Vec<_> = ["a0", "b0", "a1", "b1", "a2", "b2"].map(msg).to_vec();
    assert_eq!(got, want);
}

#[test]
fn conflate_keeps_the_newest() {
    let mut s = socket(SocketType::Dealer);
    s.set_option(SocketOption::Conflate(true)).unwrap();
    let mut a = s.attach_far(b"", 0).unwrap();
    a.send(&[b"old"]);
    a.send(&[b"new"]);
    assert_eq!(recv_msg(&mut s).unwrap(), msg("new"));
    assert!(matches!(recv_msg(&mut s), Err(Error::Again)));
}

#[test]
fn probe_router_greets_new_peers() {
    let mut s = socket(SocketType::Dealer);
    s.set_option(SocketOption::ProbeRouter(true)).unwrap();
    let mut a = s.attach_far(b"", 0).unwrap();
    assert_eq!(a.recv_all(), vec![vec![Vec::new()]]);
}
