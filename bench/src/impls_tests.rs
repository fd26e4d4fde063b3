use super::*;

fn by_name(names: &[&str]) -> Vec<Impl> {
    names
        .iter()
        .map(|n| Impl::parse(n).expect("known implementation"))
        .collect()
}

fn names(p: &[(PairKind, Impl, Impl)]) -> Vec<String> {
    p.iter()
        .map(|(_, a, b)| format!("{}/{}", a.name, b.name))
        .collect()
}

#[test]
fn names_are_unique_and_parse() {
    for (i, a) in Impl::ALL.iter().enumerate() {
        assert_eq!(Impl::parse(a.name), Some(*a));
        assert!(Impl::ALL[i + 1..].iter().all(|b| b.name != a.name));
    }
}

#[test]
fn default_sets() {
    let set = |t| -> Vec<&str> {
        Impl::ALL
            .iter()
            .filter(|i| i.default_for(t))
            .map(|i| i.name)
            .collect()
    };
    assert_eq!(
        set(Test::Thr),
        [
            "ringlink-uring",
            "ringlink-epoll",
            "ringlink-uring-batch",
            "ringlink-epoll-batch",
            "ringlink-uring-inline",
            "ringlink-epoll-inline",
            "ringlink-uring-inline-batch",
            "ringlink-epoll-inline-batch",
            "libzmq",
            "rzmq",
            "zeromq"
        ]
    );
    assert_eq!(
        set(Test::Lat),
        [
            "ringlink-uring",
            "ringlink-epoll",
            "ringlink-uring-inline",
            "ringlink-epoll-inline",
            "ringlink-uring-inline-spin",
            "libzmq",
            "rzmq",
            "zeromq"
        ]
    );
}

#[test]
fn modes() {
    let m: Vec<String> = Impl::ALL.iter().map(Impl::mode).collect();
    assert_eq!(
        m,
        [
            "threaded",
            "threaded",
            "threaded-batch",
            "threaded-batch",
            "inline",
            "inline",
            "inline-batch",
            "inline-batch",
            "inline-spin",
            "inline-spin",
            "threaded-spin",
            "threaded-plain",
            "inline-plain",
            "threaded-sqpoll",
            "threaded-batch-sqpoll",
            "inline-sqpoll",
            "inline-batch-sqpoll",
            "libzmq",
            "rzmq-current_thread",
            "rzmq-multi_thread",
            "rzmq-current_thread-io_uring",
            "zeromq-current_thread",
            "zeromq-multi_thread"
        ]
    );
}

/// The (A, B) names of the pairs of kind `k`.
fn of_kind(p: &[(PairKind, Impl, Impl)], k: PairKind) -> Vec<(&'static str, &'static str)> {
    p.iter()
        .filter(|(kind, _, _)| *kind == k)
        .map(|(_, a, b)| (a.name, b.name))
        .collect()
}

#[test]
fn plain_rows_pair_only_with_their_featured_twin() {
    let p = pairs(&by_name(&[
        "ringlink-uring",
        "ringlink-epoll",
        "ringlink-uring-plain",
        "ringlink-uring-inline",
        "ringlink-uring-inline-plain",
    ]));
    let names = |k: PairKind| of_kind(&p, k);
    assert_eq!(
        names(PairKind::FeaturesVsPlain),
        [
            ("ringlink-uring", "ringlink-uring-plain"),
            ("ringlink-uring-inline", "ringlink-uring-inline-plain")
        ]
    );
    assert_eq!(
        names(PairKind::UringVsEpoll),
        [("ringlink-uring", "ringlink-epoll")]
    );
}

#[test]
fn sqpoll_rows_pair_with_their_default_twin_and_their_batch_twin() {
    let p = pairs(&by_name(&[
        "ringlink-uring",
        "ringlink-epoll",
        "ringlink-uring-plain",
        "ringlink-uring-sqpoll",
        "ringlink-uring-batch",
        "ringlink-uring-batch-sqpoll",
    ]));
    let names = |k: PairKind| of_kind(&p, k);
    assert_eq!(
        names(PairKind::SqpollVsDefault),
        [
            ("ringlink-uring-sqpoll", "ringlink-uring"),
            ("ringlink-uring-batch-sqpoll", "ringlink-uring-batch")
        ]
    );
    assert_eq!(
        names(PairKind::BatchVsPerMessage),
        [
            ("ringlink-uring-batch", "ringlink-uring"),
            ("ringlink-uring-batch-sqpoll", "ringlink-uring-sqpoll")
        ]
    );
    assert_eq!(
        names(PairKind::FeaturesVsPlain),
        [("ringlink-uring", "ringlink-uring-plain")]
    );
    assert_eq!(
        names(PairKind::UringVsEpoll),
        [("ringlink-uring", "ringlink-epoll")]
    );
    let f = Impl::parse("ringlink-uring-sqpoll")
        .unwrap()
        .uring_features();
    assert_eq!(f.sqpoll_idle, Some(SQPOLL_IDLE));
    assert_eq!(
        Impl::parse("ringlink-uring")
            .unwrap()
            .uring_features()
            .sqpoll_idle,
        None
    );
}

#[test]
fn pairs_cover_libzmq_backends_batch_inline_and_spin() {
    let p = pairs(&by_name(&[
        "ringlink-uring",
        "ringlink-epoll",
        "ringlink-uring-batch",
        "ringlink-uring-inline",
        "ringlink-uring-inline-spin",
        "libzmq",
    ]));
    assert_eq!(
        names(&p),
        [
            "ringlink-uring/libzmq",
            "ringlink-epoll/libzmq",
            "ringlink-uring-batch/libzmq",
            "ringlink-uring-inline/libzmq",
            "ringlink-uring-inline-spin/libzmq",
            "ringlink-uring/ringlink-epoll",
            "ringlink-uring-batch/ringlink-uring",
            "ringlink-uring-inline/ringlink-uring",
            "ringlink-uring-inline-spin/ringlink-uring-inline",
        ]
    );
    assert_eq!(p[5].0, PairKind::UringVsEpoll);
    assert_eq!(p[8].0, PairKind::SpinVsNoSpin);
}

#[test]
fn patterns_parse_and_map_to_socket_kinds() {
    assert_eq!(Pattern::parse("dealer-router"), Some(Pattern::DealerRouter));
    assert_eq!(Pattern::parse("ROUTER_ROUTER"), Some(Pattern::RouterRouter));
    assert_eq!(Pattern::parse("pubsub"), Some(Pattern::PubSub));
    assert_eq!(Pattern::parse("PUSH-PULL"), Some(Pattern::PushPull));
    assert_eq!(Pattern::parse("nope"), None);
    assert!(!Pattern::ReqRep.supports(Test::Thr));
    assert!(Pattern::ReqRep.supports(Test::Lat));
    assert_eq!(Pattern::PubSub.hwm(1000), 0);
    assert_eq!(Pattern::Pair.hwm(1000), 1000);
    let batch = Impl::parse("ringlink-uring-batch").unwrap();
    let inline = Impl::parse("ringlink-uring-inline").unwrap();
    let runs = |i: &Impl, p: Pattern, t: Transport| i.unsupported(p, t, false).is_none();
    assert!(runs(&batch, Pattern::Stream, Transport::Tcp));
    assert!(!runs(&batch, Pattern::Stream, Transport::Inproc));
    assert!(!runs(&inline, Pattern::Pair, Transport::Inproc));
    assert!(runs(&batch, Pattern::Pair, Transport::Inproc));
    assert!(inline
        .unsupported(Pattern::Pair, Transport::Tcp, true)
        .is_some());
    assert_eq!(Pattern::RouterRouter.connect_kind(), Kind::Router);
    assert_eq!(Pattern::DealerRouter.bind_kind(), Kind::Router);
    assert_eq!(Pattern::DealerRouter.connect_kind(), Kind::Dealer);
    assert!(Pattern::DealerRouter.supports(Test::Lat));
    assert!(!Pattern::DealerDealer.supports(Test::Lat));
    assert!(Pattern::RouterRouter.supports(Test::Thr));
    assert_eq!(Transport::parse("ipc"), Some(Transport::Ipc));
    assert!(Transport::Ipc
        .bind_endpoint(3)
        .starts_with("ipc://@ringlink-bench-"));
}

#[test]
fn peers_pair_with_every_ringlink_row_and_are_na_where_unsupported() {
    let p = pairs(&by_name(&[
        "ringlink-uring",
        "ringlink-uring-batch",
        "libzmq",
        "rzmq",
        "zeromq",
    ]));
    let kinds: Vec<(PairKind, String)> = p
        .iter()
        .map(|(k, a, b)| (*k, format!("{}/{}", a.name, b.name)))
        .collect();
    assert_eq!(
        &kinds[..6],
        [
            (PairKind::VsLibzmq, "ringlink-uring/libzmq".to_string()),
            (
                PairKind::VsLibzmq,
                "ringlink-uring-batch/libzmq".to_string()
            ),
            (PairKind::VsRzmq, "ringlink-uring/rzmq".to_string()),
            (PairKind::VsRzmq, "ringlink-uring-batch/rzmq".to_string()),
            (PairKind::VsZeromq, "ringlink-uring/zeromq".to_string()),
            (
                PairKind::VsZeromq,
                "ringlink-uring-batch/zeromq".to_string()
            ),
        ]
    );
    // Peers never pair with each other or with libzmq.
    assert!(kinds.iter().all(|(_, n)| n.starts_with("ringlink-")));
    let rzmq = Impl::parse("rzmq").unwrap();
    let tcp = Transport::Tcp;
    for p in [Pattern::Pair, Pattern::Stream, Pattern::RouterRouterPoll] {
        assert!(rzmq.unsupported(p, tcp, false).is_some(), "{p:?}");
    }
    for p in [
        Pattern::PubSub,
        Pattern::DealerDealer,
        Pattern::DealerRouter,
        Pattern::RouterRouter,
        Pattern::PushPull,
        Pattern::ReqRep,
    ] {
        assert_eq!(rzmq.unsupported(p, tcp, false), None, "{p:?}");
    }
    assert!(rzmq
        .unsupported(Pattern::PushPull, Transport::Ipc, false)
        .is_some());
    assert_eq!(Impl::parse("zeromq-mt").unwrap().lib.name(), "zeromq");
}

#[test]
fn no_pairs_without_partners() {
    assert!(pairs(&by_name(&["ringlink-uring-inline-batch"])).is_empty());
    assert!(pairs(&by_name(&["libzmq"])).is_empty());
}

#[test]
fn service_patterns_run_on_threaded_ringlink_only() {
    let tcp = Transport::Tcp;
    for p in [Pattern::Gateway, Pattern::Spot] {
        assert!(p.is_service() && p.supports(Test::Thr) && p.supports(Test::Lat));
        for name in ["ringlink-uring", "ringlink-epoll-batch"] {
            let i = Impl::parse(name).expect("known");
            assert_eq!(i.unsupported(p, tcp, false), None, "{name} {p:?}");
            assert!(i.unsupported(p, Transport::Inproc, false).is_some());
        }
        for name in ["ringlink-uring-inline", "libzmq", "rzmq", "zeromq"] {
            let i = Impl::parse(name).expect("known");
            assert!(i.unsupported(p, tcp, false).is_some(), "{name} {p:?}");
        }
    }
    assert_eq!(Pattern::Spot.hwm(1000), 0, "a PUB drops at the HWM");
    assert_eq!(Pattern::Gateway.hwm(1000), 1000);
}
