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

#[test]
fn pub_multipart_messages_go_whole_to_each_match() {
    let mut s = socket(SocketType::Pub);
    let mut a = s.attach_far(b"", 0).unwrap();
    let mut b = s.attach_far(b"", 0).unwrap();
    let mut full = s.attach_far(b"", 1).unwrap();
    a.send(&[b"\x01t1"]);
    b.send(&[b"\x01t"]);
    full.send(&[b"\x01"]);
    let msgs = [[&b"t1"[..], b"x"], [b"t2", b""], [b"u", b"z"]];
    assert_eq!(s.send_batch_parts(&msgs, DONTWAIT).unwrap(), 3);
    assert_eq!(a.recv_all(), vec![frames(&[b"t1", b"x"])]);
    assert_eq!(
        b.recv_all(),
        vec![frames(&[b"t1", b"x"]), frames(&[b"t2", b""])]
    );
    // At its high-water mark a subscriber misses whole messages, never a part of one.
    assert_eq!(full.recv_all(), vec![frames(&[b"t1", b"x"])]);
    send_msg(&mut s, &[b"t3", b"a", b"b"]).unwrap();
    assert_eq!(b.recv_all(), vec![frames(&[b"t3", b"a", b"b"])]);
    assert_eq!(full.recv_all(), vec![frames(&[b"t3", b"a", b"b"])]);
    // A message needs a frame; nothing of the batch is sent.
    let bad: [&[&[u8]]; 2] = [&[b"t1"], &[]];
    assert!(matches!(
        s.send_batch_parts(&bad, DONTWAIT),
        Err(Error::InvalidArgument(_))
    ));
    assert!(a.recv_all().is_empty());
}

#[test]
fn pub_multipart_continues_a_started_message_and_shares_large_frames() {
    let mut s = socket(SocketType::Pub);
    let mut a = s.attach_far(b"", 0).unwrap();
    a.send(&[b"\x01t"]);
    s.send(b"t", crate::socket::SNDMORE).unwrap();
    send_msg(&mut s, &[b"rest", b"end"]).unwrap();
    // A message in progress cannot join a batch.
    s.send(b"t", crate::socket::SNDMORE).unwrap();
    assert!(matches!(
        s.send_batch_parts(&[[b"t"]], DONTWAIT),
        Err(Error::State)
    ));
    send_msg(&mut s, &[b"done"]).unwrap();
    let big = vec![7u8; 3 * super::SHARE_MIN];
    send_msg(&mut s, &[&b"t"[..], &big]).unwrap();
    assert_eq!(
        a.recv_all(),
        vec![
            frames(&[b"t", b"rest", b"end"]),
            frames(&[b"t", b"done"]),
            frames(&[b"t", &big])
        ]
    );
}

#[test]
fn xpub_nodrop_batch_of_multipart_messages_stops_at_the_high_water_mark() {
    let mut s = socket(SocketType::XPub);
    s.set_option(SocketOption::XpubNoDrop(true)).unwrap();
    let mut a = s.attach_far(b"", 1).unwrap();
    a.send(&[b"\x01"]);
    assert_eq!(recv_msg(&mut s).unwrap(), frames(&[b"\x01"]));
    let msgs = [[&b"t"[..], b"1"], [b"t", b"2"]];
    assert_eq!(s.send_batch_parts(&msgs, DONTWAIT).unwrap(), 1);
    assert!(matches!(
        s.send_batch_parts(&msgs, DONTWAIT),
        Err(Error::Again)
    ));
    assert_eq!(a.recv_all(), vec![frames(&[b"t", b"1"])]);
}

#[test]
fn repeated_topics_follow_every_subscription_change() {
    let mut s = socket(SocketType::Pub);
    let mut a = s.attach_far(b"", 0).unwrap();
    a.send(&[b"\x01t"]);
    send_msg(&mut s, &[b"t1", b"1"]).unwrap();
    // A second subscriber of the same topic, then one of another prefix of it.
    let mut b = s.attach_far(b"", 0).unwrap();
    send_msg(&mut s, &[b"t1", b"2"]).unwrap();
    b.send(&[b"\x01t1"]);
    send_msg(&mut s, &[b"t1", b"3"]).unwrap();
    a.send(&[b"\x00t"]);
    send_msg(&mut s, &[b"t1", b"4"]).unwrap();
    assert_eq!(
        a.recv_all(),
        vec![
            frames(&[b"t1", b"1"]),
            frames(&[b"t1", b"2"]),
            frames(&[b"t1", b"3"])
        ]
    );
    assert_eq!(
        b.recv_all(),
        vec![frames(&[b"t1", b"3"]), frames(&[b"t1", b"4"])]
    );
    // A subscriber leaves; one that takes its place starts with no subscriptions.
    b.close();
    send_msg(&mut s, &[b"t1", b"5"]).unwrap();
    let mut c = s.attach_far(b"", 0).unwrap();
    send_msg(&mut s, &[b"t1", b"6"]).unwrap();
    c.send(&[b"\x01"]);
    send_msg(&mut s, &[b"t1", b"7"]).unwrap();
    assert_eq!(c.recv_all(), vec![frames(&[b"t1", b"7"])]);
    assert!(a.recv_all().is_empty());
}
