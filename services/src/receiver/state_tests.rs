use super::*;

const ACK: Duration = Duration::from_secs(2);
const HB: Duration = Duration::from_secs(5);

fn rx(registries: usize) -> ReceiverState {
    ReceiverState::new(registries, ACK, HB, fastrand::Rng::with_seed(7))
}

fn ok(endpoint: &str) -> Vec<Vec<u8>> {
    Message::RegisterAck {
        status: status::OK,
        endpoint: endpoint.into(),
        error: String::new(),
    }
    .encode()
}

fn sends(a: &[Action]) -> Vec<&Message> {
    a.iter()
        .filter_map(|a| match a {
            Action::Send(m) => Some(m),
            _ => None,
        })
        .collect()
}

#[test]
fn register_waits_for_the_ack_then_heartbeats_every_interval() {
    let t0 = Instant::now();
    let mut r = rx(1);
    let a = r.register(ServiceType::Gateway, "echo", "tcp://h:1", 0, t0);
    assert!(matches!(
        &a[..],
        [Action::Send(Message::Register { weight: 1, .. })]
    ));
    assert_eq!(r.next_deadline(), Some(t0 + ACK));
    assert_eq!(r.on_message(&ok("tcp://h:1"), t0), [Action::Done(Ok(()))]);
    assert!(r.poll(t0 + HB - Duration::from_millis(1)).is_empty());
    let hb = r.poll(t0 + HB);
    assert!(
        matches!(sends(&hb)[..], [Message::Heartbeat { name, endpoint, .. }] if name == "echo" && endpoint == "tcp://h:1")
    );
    assert_eq!(r.next_deadline(), Some(t0 + HB * 2));
    // Unregistering stops the heartbeats.
    assert!(matches!(
        sends(&r.unregister("echo"))[..],
        [Message::Unregister { .. }]
    ));
    assert!(r.poll(t0 + HB * 3).is_empty());
    assert_eq!(r.next_deadline(), None);
}

#[test]
fn a_refusal_and_an_unanswered_request_fail_cleanly() {
    let t0 = Instant::now();
    let mut r = rx(1);
    r.register(ServiceType::Gateway, "", "tcp://h:1", 1, t0);
    let refused = Message::RegisterAck {
        status: status::EMPTY,
        endpoint: "tcp://h:1".into(),
        error: "empty".into(),
    }
    .encode();
    assert_eq!(
        r.on_message(&refused, t0),
        [Action::Done(Err(Refusal::Refused(
            status::EMPTY,
            "empty".into()
        )))]
    );
    r.register(ServiceType::Gateway, "echo", "tcp://h:1", 1, t0);
    assert_eq!(r.poll(t0 + ACK), [Action::Done(Err(Refusal::NoAnswer))]);
    assert!(r.update_weight("echo", 3, t0).is_none(), "never registered");
}

#[test]
fn an_unanswered_request_tries_the_next_registry() {
    let t0 = Instant::now();
    let mut r = rx(3);
    r.register(ServiceType::Gateway, "echo", "tcp://h:1", 1, t0);
    let a = r.poll(t0 + ACK);
    assert_eq!(a[0], Action::SwitchTo(1));
    assert!(matches!(sends(&a)[..], [Message::Register { .. }]));
    let a = r.poll(t0 + ACK * 2);
    assert_eq!(a[0], Action::SwitchTo(2));
    assert_eq!(r.poll(t0 + ACK * 3), [Action::Done(Err(Refusal::NoAnswer))]);
}

#[test]
fn losing_the_registry_switches_with_backoff_and_registers_again() {
    let t0 = Instant::now();
    let mut r = rx(2);
    r.register(ServiceType::Gateway, "echo", "tcp://h:1", 2, t0);
    r.on_message(&ok("tcp://h:1"), t0);
    r.on_disconnected(t0);
    let due = r.next_deadline().expect("a switch is scheduled");
    let d = due - t0;
    assert!(
        d >= BACKOFF_MIN.mul_f64(0.8) && d <= BACKOFF_MIN.mul_f64(1.2),
        "{d:?}"
    );
    let a = r.poll(due);
    assert_eq!(a[0], Action::SwitchTo(1));
    assert!(
        matches!(sends(&a)[..], [Message::Register { name, weight: 2, .. }] if name == "echo"),
        "{a:?}"
    );
    // Still no registry: the backoff doubles (and is capped at 5 s).
    r.on_disconnected(due);
    let d2 = r.next_deadline().unwrap().saturating_duration_since(due);
    assert!(d2 >= (BACKOFF_MIN * 2).mul_f64(0.8), "{d2:?}");
    // The backoff is capped at 5 s (+20 % jitter).
    let mut q = rx(2);
    let mut t = t0;
    q.on_disconnected(t);
    for _ in 0..12 {
        let next = q.next_deadline().unwrap();
        assert!(
            next - t <= BACKOFF_MAX.mul_f64(1.2),
            "capped: {:?}",
            next - t
        );
        assert!(matches!(q.poll(next)[..], [Action::SwitchTo(_)]));
        q.on_disconnected(next);
        t = next;
    }
    assert!(q.next_deadline().unwrap() - t >= BACKOFF_MAX.mul_f64(0.8));
}

#[test]
fn stray_and_late_acks_are_ignored() {
    let t0 = Instant::now();
    let mut r = rx(1);
    assert!(r.on_message(&ok("tcp://x:1"), t0).is_empty());
    assert!(r.on_message(&[b"junk".to_vec()], t0).is_empty());
    r.register(ServiceType::Gateway, "echo", "tcp://h:1", 1, t0);
    assert!(r.on_message(&ok("tcp://other:1"), t0).is_empty());
    assert_eq!(r.on_message(&ok("tcp://h:1"), t0), [Action::Done(Ok(()))]);
}
