use crate::error::Error;
use crate::options::SocketOption;
use crate::protocol::SocketType;
use crate::socket::testutil::{recv_msg, send_msg, socket};
use crate::socket::DONTWAIT;

fn frames(f: &[&[u8]]) -> Vec<Vec<u8>> {
    f.iter().map(|x| x.to_vec()).collect()
}

#[test]
fn pub_sends_only_to_matching_subscribers() {
    let mut s = socket(SocketType::Pub);
    let mut a = s.attach_far(b"", 0).unwrap();
    let mut b = s.attach_far(b"", 0).unwrap();
    a.send(&[b"\x01ap"]);
    b.send(&[b"\x01b"]);
    b.send(&[b"\x01"]);
    send_msg(&mut s, &[b"apple", b"more"]).unwrap();
    send_msg(&mut s, &[b"banana"]).unwrap();
    send_msg(&mut s, &[b"cherry"]).unwrap();
    assert_eq!(a.recv_all(), vec![frames(&[b"apple", b"more"])]);
    // b holds "b" and "" (everything): each message once.
    assert_eq!(
        b.recv_all(),
        vec![
            frames(&[b"apple", b"more"]),
            frames(&[b"banana"]),
            frames(&[b"cherry"])
        ]
    );
    // Unsubscribing "" leaves b with "b" only.
    b.send(&[b"\x00"]);
    assert_eq!(
        s.send_batch(&[&b"apple"[..], b"bean"], DONTWAIT).unwrap(),
        2
    );
    assert_eq!(b.recv_all(), vec![frames(&[b"bean"])]);
    assert_eq!(a.recv_all(), vec![frames(&[b"apple"])]);
    assert!(matches!(recv_msg(&mut s), Err(Error::NotSupported)));
}

#[test]
fn pub_skips_full_subscribers() {
    let mut s = socket(SocketType::Pub);
    let mut a = s.attach_far(b"", 1).unwrap();
    a.send(&[b"\x01"]);
    send_msg(&mut s, &[b"1"]).unwrap();
    send_msg(&mut s, &[b"2"]).unwrap();
    assert_eq!(a.recv_all(), vec![frames(&[b"1"])]);
}

#[test]
fn xpub_reports_subscriptions_and_their_end() {
    let mut s = socket(SocketType::XPub);
    let mut a = s.attach_far(b"", 0).unwrap();
    let mut b = s.attach_far(b"", 0).unwrap();
    a.send(&[b"\x01t"]);
    b.send(&[b"\x01t"]);
    assert_eq!(recv_msg(&mut s).unwrap(), frames(&[b"\x01t"]));
    // The second subscriber to "t" is not news (without XPUB_VERBOSE).
    assert!(matches!(recv_msg(&mut s), Err(Error::Again)));
    a.close();
    b.close();
    // Peers leave once drained: the topic nobody holds any more is announced once.
    assert_eq!(recv_msg(&mut s).unwrap(), frames(&[b"\x00t"]));
    assert!(matches!(recv_msg(&mut s), Err(Error::Again)));
}

#[test]
fn xpub_verbose_and_welcome() {
    let mut s = socket(SocketType::XPub);
    s.set_option(SocketOption::XpubVerbose(true)).unwrap();
    s.set_option(SocketOption::XpubWelcomeMsg(b"hello".to_vec()))
        .unwrap();
    let mut a = s.attach_far(b"", 0).unwrap();
    assert_eq!(a.recv_all(), vec![frames(&[b"hello"])]);
    a.send(&[b"\x01t"]);
    a.send(&[b"\x01t"]);
    assert_eq!(recv_msg(&mut s).unwrap(), frames(&[b"\x01t"]));
    assert_eq!(recv_msg(&mut s).unwrap(), frames(&[b"\x01t"]));
}
