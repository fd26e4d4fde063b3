use crate::error::Error;
use crate::options::SocketOption;
use crate::protocol::SocketType;
use crate::socket::testutil::{recv_msg, send_msg, socket};

fn frames(f: &[&[u8]]) -> Vec<Vec<u8>> {
    f.iter().map(|x| x.to_vec()).collect()
}

#[test]
fn request_gets_a_delimiter_and_the_reply_is_stripped() {
    let mut s = socket(SocketType::Req);
    let mut a = s.attach_far(b"", 0).unwrap();
    send_msg(&mut s, &[b"q"]).unwrap();
    assert_eq!(a.recv_all(), vec![frames(&[b"", b"q"])]);
    a.send(&[b"", b"r1", b"r2"]);
    assert_eq!(recv_msg(&mut s).unwrap(), frames(&[b"r1", b"r2"]));
}

#[test]
fn alternation_is_enforced() {
    let mut s = socket(SocketType::Req);
    let _a = s.attach_far(b"", 0).unwrap();
    assert!(matches!(recv_msg(&mut s), Err(Error::State)));
    send_msg(&mut s, &[b"q"]).unwrap();
    assert!(matches!(send_msg(&mut s, &[b"again"]), Err(Error::State)));
    s.set_option(SocketOption::ReqRelaxed(true)).unwrap();
    send_msg(&mut s, &[b"again"]).unwrap();
}

#[test]
fn only_the_asked_peer_answers_and_requests_round_robin() {
    let mut s = socket(SocketType::Req);
    let mut a = s.attach_far(b"", 0).unwrap();
    let mut b = s.attach_far(b"", 0).unwrap();
    send_msg(&mut s, &[b"q1"]).unwrap();
    assert_eq!(a.recv_all().len(), 1);
    // b was not asked: its reply is dropped; a's one (without delimiter first) too.
    b.send(&[b"", b"stray"]);
    a.send(&[b"no delimiter"]);
    a.send(&[b"", b"good"]);
    assert_eq!(recv_msg(&mut s).unwrap(), frames(&[b"good"]));
    send_msg(&mut s, &[b"q2"]).unwrap();
    assert_eq!(b.recv_all(), vec![frames(&[b"", b"q2"])]);
}

#[test]
fn correlate_drops_stale_replies() {
    let mut s = socket(SocketType::Req);
    s.set_option(SocketOption::ReqCorrelate(true)).unwrap();
    s.set_option(SocketOption::ReqRelaxed(true)).unwrap();
    let mut a = s.attach_far(b"", 0).unwrap();
    send_msg(&mut s, &[b"q1"]).unwrap();
    send_msg(&mut s, &[b"q2"]).unwrap();
    let sent = a.recv_all();
    assert_eq!(sent.len(), 2);
    let (id1, id2) = (sent[0][0].clone(), sent[1][0].clone());
    assert_ne!(id1, id2);
    a.send(&[&id1, b"", b"stale"]);
    a.send(&[&id2, b"", b"fresh"]);
    assert_eq!(recv_msg(&mut s).unwrap(), frames(&[b"fresh"]));
}
