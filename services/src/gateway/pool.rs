//! A service's providers and the choice among them, sans-IO: round-robin or weighted
//! (zlink-spec §5.5). The choice yields candidates in order, so a provider that is not
//! connected yet is skipped for the next one.

#![forbid(unsafe_code)]

use crate::wire::Provider;

/// How a gateway picks a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadBalance {
    /// Each provider in turn.
    #[default]
    RoundRobin,
    /// In proportion to the providers' weights (weights 1 and 3: A, B, B, B, ...).
    Weighted,
}

/// One service's providers.
#[derive(Debug, Default, Clone)]
pub struct Pool {
    providers: Vec<Provider>,
    /// The next turn, always below `period`, so a pick needs no division per message.
    turn: u64,
    /// Turns per cycle: the provider count (round-robin) or the weights' sum (weighted);
    /// 0 without providers.
    period: u64,
    strategy: LoadBalance,
}

impl Pool {
    /// Replace the providers (as discovery reports them).
    pub fn set_providers(&mut self, providers: Vec<Provider>) {
        self.providers = providers;
        self.reset_period();
    }

    /// The providers.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// Choose how to pick.
    pub fn set_strategy(&mut self, s: LoadBalance) {
        self.strategy = s;
        self.reset_period();
    }

    fn reset_period(&mut self) {
        self.period = match self.strategy {
            LoadBalance::RoundRobin => self.providers.len() as u64,
            LoadBalance::Weighted => self.providers.iter().map(weight).sum(),
        };
        self.turn = self.turn.checked_rem(self.period).unwrap_or(0);
    }

    /// The providers to try for the next message, best first: the chosen one, then the
    /// others in order (for when the chosen one cannot take it). Advances the turn.
    pub fn candidates(&mut self) -> impl Iterator<Item = &Provider> + '_ {
        let n = self.providers.len();
        let first = self.pick().unwrap_or(0);
        let providers = &self.providers;
        (0..n).map(move |i| {
            let j = first + i;
            &providers[if j >= n { j - n } else { j }]
        })
    }

    /// The index of the provider chosen for the next message (`None` without providers).
    /// Advances the turn.
    pub fn pick(&mut self) -> Option<usize> {
        if self.period == 0 {
            return None;
        }
        let first = match self.strategy {
            LoadBalance::RoundRobin => self.turn as usize,
            LoadBalance::Weighted => {
                let mut slot = self.turn;
                self.providers
                    .iter()
                    .position(|p| {
                        let w = weight(p);
                        if slot < w {
                            true
                        } else {
                            slot -= w;
                            false
                        }
                    })
                    .expect("the turn lies in the period")
            }
        };
        self.turn += 1;
        if self.turn == self.period {
            self.turn = 0;
        }
        Some(first)
    }

    /// The next `n` picks, as [`Pool::pick`] would make them one by one, appended to `out`
    /// (false without providers). Round robin fills them in one tight pass.
    pub fn pick_many(&mut self, n: usize, out: &mut Vec<usize>) -> bool {
        if self.period == 0 {
            return false;
        }
        match self.strategy {
            LoadBalance::RoundRobin => {
                let (period, mut turn) = (self.period as usize, self.turn as usize);
                out.extend((0..n).map(|_| {
                    let t = turn;
                    turn += 1;
                    if turn == period {
                        turn = 0;
                    }
                    t
                }));
                self.turn = turn as u64;
            }
            LoadBalance::Weighted => {
                for _ in 0..n {
                    out.extend(self.pick());
                }
            }
        }
        true
    }

    /// The provider of the next pick and how many picks in a row (at most `max`) choose it:
    /// all of them in a pool of one, what is left of the provider's share of the cycle when
    /// weighted, one in a round robin of several (`None` without providers). The turn does
    /// not move ([`Pool::skip`] moves it).
    pub fn peek_run(&self, max: usize) -> Option<(usize, usize)> {
        if self.period == 0 {
            return None;
        }
        if self.providers.len() == 1 {
            return Some((0, max));
        }
        match self.strategy {
            LoadBalance::RoundRobin => Some((self.turn as usize, max.min(1))),
            LoadBalance::Weighted => {
                let mut end = 0;
                self.providers.iter().enumerate().find_map(|(i, p)| {
                    end += weight(p);
                    let left = (end > self.turn).then(|| end - self.turn)?;
                    Some((i, max.min(usize::try_from(left).unwrap_or(usize::MAX))))
                })
            }
        }
    }

    /// Advance the turn by `n` picks (as `n` calls of [`Pool::pick`]).
    pub fn skip(&mut self, n: usize) {
        if self.period > 0 {
            self.turn = (self.turn + n as u64 % self.period) % self.period;
        }
    }

    /// Take back the last `turns` picks (their messages were not sent).
    pub fn unpick(&mut self, turns: u64) {
        if self.period > 0 {
            let back = turns % self.period;
            self.turn = (self.turn + self.period - back) % self.period;
        }
    }
}

/// A provider's weight; 0 counts as 1.
fn weight(p: &Provider) -> u64 {
    u64::from(p.weight.max(1))
}

/// Every service's pool, by name. The last name looked up is remembered, so a run of sends
/// to one service compares a string instead of hashing it per message.
#[derive(Debug, Default)]
pub(crate) struct Pools {
    list: Vec<(String, Pool)>,
    index: std::collections::HashMap<String, usize>,
    last: usize,
}

impl Pools {
    #[inline]
    fn find(&mut self, name: &str) -> Option<usize> {
        if self.list.get(self.last).is_some_and(|(n, _)| n == name) {
            return Some(self.last);
        }
        let i = *self.index.get(name)?;
        self.last = i;
        Some(i)
    }

    /// `name`'s pool, if it has one.
    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut Pool> {
        let i = self.find(name)?;
        Some(&mut self.list[i].1)
    }

    /// `name`'s pool, if it has one (without remembering it).
    pub(crate) fn get(&self, name: &str) -> Option<&Pool> {
        self.index.get(name).map(|&i| &self.list[i].1)
    }

    /// `name`'s pool, created empty if needed (pools are never removed: indices stay).
    pub(crate) fn entry(&mut self, name: &str) -> &mut Pool {
        let i = match self.find(name) {
            Some(i) => i,
            None => {
                self.list.push((name.to_string(), Pool::default()));
                let i = self.list.len() - 1;
                self.index.insert(name.to_string(), i);
                i
            }
        };
        &mut self.list[i].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(weights: &[u32], strategy: LoadBalance) -> Pool {
        let mut p = Pool::default();
        p.set_providers(
            weights
                .iter()
                .enumerate()
                .map(|(i, &w)| Provider {
                    endpoint: format!("e{i}"),
                    routing_id: vec![b'a' + i as u8],
                    weight: w,
                })
                .collect(),
        );
        p.set_strategy(strategy);
        p
    }

    #[test]
    fn pick_many_makes_the_picks_one_by_one_would() {
        for strategy in [LoadBalance::RoundRobin, LoadBalance::Weighted] {
            for weights in [&[1][..], &[1, 3], &[2, 1, 1], &[1, 1, 1, 1, 1]] {
                let (mut a, mut b) = (pool(weights, strategy), pool(weights, strategy));
                for n in [0, 1, 3, 7, 11] {
                    let mut many = Vec::new();
                    assert!(a.pick_many(n, &mut many));
                    let one: Vec<usize> = (0..n).map(|_| b.pick().unwrap()).collect();
                    assert_eq!(many, one, "{strategy:?} {weights:?} n {n}");
                }
                a.unpick(2);
                b.unpick(2);
                assert_eq!(a.pick(), b.pick());
            }
        }
        let mut empty = pool(&[], LoadBalance::RoundRobin);
        let mut out = vec![9];
        assert!(!empty.pick_many(3, &mut out));
        assert_eq!(out, [9]);
    }

    #[test]
    fn a_run_is_the_picks_that_choose_one_provider_in_a_row() {
        for strategy in [LoadBalance::RoundRobin, LoadBalance::Weighted] {
            for weights in [&[1][..], &[5], &[1, 3], &[2, 1, 1], &[1, 1, 1]] {
                let (mut a, mut b) = (pool(weights, strategy), pool(weights, strategy));
                for max in [1, 2, 3, 7] {
                    let (first, run) = a.peek_run(max).unwrap();
                    assert!((1..=max).contains(&run));
                    a.skip(run);
                    let picks: Vec<usize> = (0..run).map(|_| b.pick().unwrap()).collect();
                    assert!(picks.iter().all(|&p| p == first), "{weights:?} {picks:?}");
                    if run < max {
                        // The run ends where the next pick chooses another provider.
                        assert_ne!(b.clone().pick(), Some(first), "{weights:?} max {max}");
                    }
                    assert_eq!(a.turn, b.turn, "{strategy:?} {weights:?} max {max}");
                }
            }
        }
        assert_eq!(
            pool(&[1, 3], LoadBalance::Weighted).peek_run(9),
            Some((0, 1))
        );
        let mut p = pool(&[1, 3], LoadBalance::Weighted);
        p.skip(1);
        assert_eq!(p.peek_run(9), Some((1, 3)), "b's share of the cycle");
        assert_eq!(p.peek_run(2), Some((1, 2)));
        p.skip(9);
        assert_eq!(p.pick(), Some(1), "9 turns from turn 1 of 4 is turn 2");
        assert_eq!(
            pool(&[1], LoadBalance::RoundRobin).peek_run(1000),
            Some((0, 1000))
        );
        assert_eq!(pool(&[], LoadBalance::Weighted).peek_run(3), None);
    }

    fn firsts(p: &mut Pool, n: usize) -> String {
        (0..n)
            .map(|_| p.candidates().next().unwrap().routing_id[0] as char)
            .collect()
    }

    #[test]
    fn round_robin_and_weighted_orders() {
        assert_eq!(
            firsts(&mut pool(&[1, 1, 1], LoadBalance::RoundRobin), 6),
            "abcabc"
        );
        assert_eq!(
            firsts(&mut pool(&[1, 3], LoadBalance::Weighted), 8),
            "abbbabbb"
        );
        assert_eq!(
            firsts(&mut pool(&[0, 1], LoadBalance::Weighted), 4),
            "abab",
            "0 counts as 1"
        );
        let mut p = pool(&[1, 1, 1], LoadBalance::RoundRobin);
        let all: String = p.candidates().map(|c| c.routing_id[0] as char).collect();
        assert_eq!(all, "abc", "every provider, the chosen one first");
        assert_eq!(pool(&[], LoadBalance::Weighted).candidates().count(), 0);
        let mut p = pool(&[1, 1, 1], LoadBalance::RoundRobin);
        let all: String = (0..4)
            .map(|_| {
                let c: String = p.candidates().map(|c| c.routing_id[0] as char).collect();
                c
            })
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            all, "abc bca cab abc",
            "the others follow the chosen one, wrapping"
        );
    }

    #[test]
    fn unpick_takes_turns_back_and_provider_changes_keep_the_turn_in_range() {
        let mut p = pool(&[1, 3], LoadBalance::Weighted);
        assert_eq!(firsts(&mut p, 3), "abb");
        p.unpick(2);
        assert_eq!(firsts(&mut p, 3), "bbb", "turns 1 to 3 again");
        p.unpick(9);
        assert_eq!(
            firsts(&mut p, 4),
            "babb",
            "9 turns back in a cycle of 4 is 1 back"
        );
        p.set_providers(Vec::new());
        assert_eq!(p.pick(), None);
        p.unpick(3);
        let mut p = pool(&[1, 1, 1, 1, 1], LoadBalance::RoundRobin);
        assert_eq!(firsts(&mut p, 4), "abcd");
        p.set_providers(pool(&[1, 1], LoadBalance::RoundRobin).providers().to_vec());
        assert_eq!(firsts(&mut p, 3), "aba", "turn 4 of 2 providers: the first");
    }

    #[test]
    fn pools_by_name_with_the_last_one_remembered() {
        let mut p = Pools::default();
        assert!(p.get_mut("a").is_none());
        p.entry("a").set_strategy(LoadBalance::Weighted);
        p.entry("b");
        assert_eq!(p.get_mut("a").unwrap().strategy, LoadBalance::Weighted);
        assert_eq!(
            p.get_mut("a").unwrap().strategy,
            LoadBalance::Weighted,
            "cached"
        );
        assert_eq!(p.get_mut("b").unwrap().strategy, LoadBalance::RoundRobin);
        assert!(p.get("c").is_none() && p.get_mut("c").is_none());
        assert_eq!(p.get("a").unwrap().strategy, LoadBalance::Weighted);
    }
}
