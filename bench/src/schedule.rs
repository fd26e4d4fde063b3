//! The order of one repetition's runs. A service case's targets are ratios to another case
//! (GATEWAY / DEALER_ROUTER, SPOT / PUBSUB, SPOT's round trip / DEALER_ROUTER's), paired by
//! repetition. This VM slows down as a whole for seconds at a time; in plan order the two
//! runs of a pair were a dozen cases (tens of seconds) apart, so one could fall in a slow
//! spell and the other not. Here each service run sits next to its counterpart's run of the
//! same implementation, and the two swap places every other repetition (neither always
//! follows the other).

use crate::compare::Case;
use crate::impls::{Impl, Pattern, Test};

/// The pattern a service case is compared with: GATEWAY with DEALER_ROUTER; SPOT with
/// PUBSUB for throughput and with DEALER_ROUTER for the round trip (no PUBSUB ping-pong).
pub fn counterpart(c: &Case) -> Option<Pattern> {
    match (c.pattern, c.test) {
        (Pattern::Gateway, _) | (Pattern::Spot, Test::Lat) => Some(Pattern::DealerRouter),
        (Pattern::Spot, Test::Thr) => Some(Pattern::PubSub),
        _ => None,
    }
}

/// Whether `base` is the counterpart case of `svc` (same test, transport and size).
fn pairs_with(svc: &Case, base: &Case) -> bool {
    counterpart(svc) == Some(base.pattern)
        && (svc.test, svc.transport, svc.size) == (base.test, base.transport, base.size)
}

/// Repetition `rep`'s runs as (plan index, implementation): the plan's order, except that a
/// service case's run of an implementation its counterpart case also runs goes next to that
/// run (after it in even repetitions, before it in odd ones).
pub fn run_order(plan: &[(Case, Vec<Impl>)], rep: usize) -> Vec<(usize, Impl)> {
    let paired_with = |si: usize, imp: &Impl| {
        plan.iter()
            .position(|(base, impls)| pairs_with(&plan[si].0, base) && impls.contains(imp))
    };
    let mut order = Vec::new();
    for (ci, (case, impls)) in plan.iter().enumerate() {
        let partners: Vec<usize> = (0..plan.len())
            .filter(|&si| pairs_with(&plan[si].0, case))
            .collect();
        for imp in impls {
            if case.pattern.is_service() && paired_with(ci, imp).is_some() {
                continue; // runs beside its counterpart's run
            }
            let mut group = vec![(ci, *imp)];
            group.extend(
                partners
                    .iter()
                    .filter(|&&si| plan[si].1.contains(imp))
                    .map(|&si| (si, *imp)),
            );
            if rep % 2 == 1 {
                group.reverse();
            }
            order.extend(group);
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::impls::Transport;

    fn case(test: Test, pattern: Pattern) -> Case {
        Case {
            test,
            pattern,
            transport: Transport::Tcp,
            size: 64,
            count: 1000,
        }
    }

    fn names(plan: &[(Case, Vec<Impl>)], order: &[(usize, Impl)]) -> Vec<String> {
        order
            .iter()
            .map(|(ci, imp)| format!("{} {}", plan[*ci].0.pattern.name(), imp.name))
            .collect()
    }

    #[test]
    fn a_service_run_sits_beside_its_counterparts_run_of_the_same_implementation() {
        let imp = |n: &str| Impl::ALL.into_iter().find(|i| i.name == n).unwrap();
        let (u, e, z) = (imp("ringlink-uring"), imp("ringlink-epoll"), imp("libzmq"));
        let plan = vec![
            (case(Test::Thr, Pattern::DealerRouter), vec![u, e, z]),
            (case(Test::Thr, Pattern::PubSub), vec![u, z]),
            (case(Test::Thr, Pattern::Gateway), vec![u, e]),
            (case(Test::Thr, Pattern::Spot), vec![u, e]),
            (case(Test::Lat, Pattern::DealerRouter), vec![u]),
            (case(Test::Lat, Pattern::Spot), vec![u]),
        ];
        let even = names(&plan, &run_order(&plan, 0));
        assert_eq!(
            even,
            [
                "DEALER_ROUTER ringlink-uring",
                "GATEWAY ringlink-uring",
                "DEALER_ROUTER ringlink-epoll",
                "GATEWAY ringlink-epoll",
                "DEALER_ROUTER libzmq",
                "PUBSUB ringlink-uring",
                "SPOT ringlink-uring",
                "PUBSUB libzmq",
                // PUBSUB has no epoll run: SPOT's stays in plan order.
                "SPOT ringlink-epoll",
                "DEALER_ROUTER ringlink-uring",
                "SPOT ringlink-uring",
            ]
        );
        let odd = names(&plan, &run_order(&plan, 1));
        assert_eq!(odd.len(), even.len(), "every run exactly once");
        assert_eq!(
            odd[..4],
            [
                "GATEWAY ringlink-uring",
                "DEALER_ROUTER ringlink-uring",
                "GATEWAY ringlink-epoll",
                "DEALER_ROUTER ringlink-epoll",
            ],
            "the pair swaps places every other repetition"
        );
        // Without the counterpart case, a service case runs in plan order.
        let alone = vec![(case(Test::Thr, Pattern::Gateway), vec![u, e])];
        assert_eq!(
            names(&alone, &run_order(&alone, 0)),
            ["GATEWAY ringlink-uring", "GATEWAY ringlink-epoll"]
        );
    }
}
