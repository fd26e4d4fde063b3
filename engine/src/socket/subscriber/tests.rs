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

/// A batch receive's frames as messages (split by the `more` flags).
fn batch(
    s: &mut crate::socket::Socket,
    bytes: usize,
    cap: usize,
) -> crate::Result<Vec<Vec<Vec<u8>>>> {
    let (mut buf, mut lens, mut more) = (vec![0u8; bytes], vec![0usize; cap], vec![false; cap]);
    let n = s.recv_batch_parts(&mut buf, &mut lens, &mut more, crate::DONTWAIT)?;
    let (mut msgs, mut cur, mut off) = (Vec::new(), Vec::new(), 0);
    for i in 0..n {
        cur.push(buf[off..off + lens[i]].to_vec());
        off += lens[i];
        if !more[i] {
            msgs.push(std::mem::take(&mut cur));
        }
    }
    assert!(cur.is_empty(), "a batch holds whole messages");
    Ok(msgs)
}

#[test]
fn batch_runs_filter_whole_multipart_messages() {
    let mut s = socket(SocketType::Sub);
    s.set_option(SocketOption::Subscribe(b"ap".to_vec()))
        .unwrap();
    let mut a = s.attach_far(b"", 0).unwrap();
    // Runs of one topic, other topics between them, empty frames, one-frame messages.
    let sent: Vec<Vec<&[u8]>> = vec![
        vec![b"banana"],
        vec![b"apple", b"pie"],
        vec![b"apple", b"", b"tart"],
        vec![b"apple"],
        vec![b"b", b"apple"],
        vec![b"apricot", b"jam"],
        vec![b"a"],
        vec![b"apple", b"crumble"],
    ];
    for m in &sent {
        a.send(m);
    }
    let kept: Vec<Vec<Vec<u8>>> = sent
        .iter()
        .filter(|m| m[0].starts_with(b"ap"))
        .map(|m| frames(m))
        .collect();
    assert_eq!(batch(&mut s, 4096, 64).unwrap(), kept);
    assert!(matches!(batch(&mut s, 4096, 64), Err(Error::Again)));
    // The dropped and the delivered messages were all consumed and credited: the far end
    // may send as many again.
    a.send(&[b"apex"]);
    assert_eq!(batch(&mut s, 4096, 64).unwrap(), vec![frames(&[b"apex"])]);
}

#[test]
fn batch_runs_stop_where_the_caller_has_no_room() {
    let mut s = socket(SocketType::Sub);
    s.set_option(SocketOption::Subscribe(b"t".to_vec()))
        .unwrap();
    let mut a = s.attach_far(b"", 0).unwrap();
    a.send(&[b"t1", b"abc"]);
    a.send(&[b"x", b"dropped"]);
    a.send(&[b"t2", b"def"]);
    a.send(&[b"t3", b"0123456789"]);
    // Three lengths: one two-frame message, the next waits.
    assert_eq!(
        batch(&mut s, 4096, 3).unwrap(),
        vec![frames(&[b"t1", b"abc"])]
    );
    // 7 bytes: "t2def" fits, "t3..." does not.
    assert_eq!(batch(&mut s, 7, 8).unwrap(), vec![frames(&[b"t2", b"def"])]);
    // Too large for the whole buffer: an error, and the message stays queued.
    assert!(matches!(
        batch(&mut s, 7, 8),
        Err(Error::MessageTooLarge(12))
    ));
    assert!(matches!(
        batch(&mut s, 4096, 1),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(
        batch(&mut s, 4096, 8).unwrap(),
        vec![frames(&[b"t3", b"0123456789"])]
    );
}

#[test]
fn batch_runs_invert_matching() {
    let mut s = socket(SocketType::Sub);
    s.set_option(SocketOption::InvertMatching(true)).unwrap();
    s.set_option(SocketOption::Subscribe(b"x".to_vec()))
        .unwrap();
    let mut a = s.attach_far(b"", 0).unwrap();
    for m in [
        &[&b"xy"[..], b"1"][..],
        &[b"ab", b"2"],
        &[b"ab", b"3"],
        &[b"x"],
        &[b"c"],
    ] {
        a.send(m);
    }
    assert_eq!(
        batch(&mut s, 4096, 64).unwrap(),
        vec![
            frames(&[b"ab", b"2"]),
            frames(&[b"ab", b"3"]),
            frames(&[b"c"])
        ]
    );
}
