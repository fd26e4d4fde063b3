use crate::error::Error;
use crate::options::SocketOption;
use crate::protocol::SocketType;
use crate::socket::testutil::{recv_msg, send_msg, socket};

fn frames(f: &[&[u8]]) -> Vec<Vec<u8>> {
    f.iter().map(|x| x.to_vec()).collect()
}

#[test]
fn sub_filters_and_tells_inproc_peers() {
    let mut s = socket(SocketType::Sub);
    let mut a = s.attach_far(b"", 0).unwrap();
    s.set_option(SocketOption::Subscribe(b"ap".to_vec()))
        .unwrap();
    s.set_option(SocketOption::Subscribe(b"ap".to_vec()))
        .unwrap();
    assert_eq!(s.topics_count(), 1);
    // Each subscribe goes upstream; a later peer learns the set once.
    assert_eq!(
        a.recv_all(),
        vec![frames(&[b"\x01ap"]), frames(&[b"\x01ap"])]
    );
    let mut late = s.attach_far(b"", 0).unwrap();
    assert_eq!(late.recv_all(), vec![frames(&[b"\x01ap"])]);
    a.send(&[b"banana"]);
    a.send(&[b"apple", b"pie"]);
    assert_eq!(recv_msg(&mut s).unwrap(), frames(&[b"apple", b"pie"]));
    assert!(matches!(recv_msg(&mut s), Err(Error::Again)));
    assert!(matches!(
        send_msg(&mut s, &[b"x"]),
        Err(Error::NotSupported)
    ));
}

#[test]
fn unsubscribe_goes_upstream_when_the_count_drops_to_zero() {
    let mut s = socket(SocketType::Sub);
    let mut a = s.attach_far(b"", 0).unwrap();
    s.set_option(SocketOption::Subscribe(b"t".to_vec()))
        .unwrap();
    s.set_option(SocketOption::Subscribe(b"t".to_vec()))
        .unwrap();
    s.set_option(SocketOption::Unsubscribe(b"t".to_vec()))
        .unwrap();
    assert_eq!(a.recv_all().len(), 2);
    s.set_option(SocketOption::Unsubscribe(b"t".to_vec()))
        .unwrap();
    assert_eq!(a.recv_all(), vec![frames(&[b"\x00t"])]);
    assert_eq!(s.topics_count(), 0);
    a.send(&[b"t1"]);
    assert!(matches!(recv_msg(&mut s), Err(Error::Again)));
}

#[test]
fn invert_matching_delivers_the_rest() {
    let mut s = socket(SocketType::Sub);
    s.set_option(SocketOption::InvertMatching(true)).unwrap();
    s.set_option(SocketOption::Subscribe(b"x".to_vec()))
        .unwrap();
    let mut a = s.attach_far(b"", 0).unwrap();
    a.send(&[b"xy"]);
    a.send(&[b"ab"]);
    assert_eq!(recv_msg(&mut s).unwrap(), frames(&[b"ab"]));
    assert!(matches!(recv_msg(&mut s), Err(Error::Again)));
}

#[test]
fn xsub_sends_subscriptions_and_data_upstream_and_does_not_filter() {
    let mut s = socket(SocketType::XSub);
    let mut a = s.attach_far(b"", 0).unwrap();
    let mut b = s.attach_far(b"", 0).unwrap();
    send_msg(&mut s, &[b"\x01t"]).unwrap();
    send_msg(&mut s, &[b"data", b"\x01 not a subscription"]).unwrap();
    assert_eq!(s.topics_count(), 1);
    let want = vec![
        frames(&[b"\x01t"]),
        frames(&[b"data", b"\x01 not a subscription"]),
    ];
    assert_eq!(a.recv_all(), want);
    assert_eq!(b.recv_all(), want);
    a.send(&[b"anything"]);
    assert_eq!(recv_msg(&mut s).unwrap(), frames(&[b"anything"]));
}
