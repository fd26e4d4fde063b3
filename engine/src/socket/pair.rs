//! PAIR: one peer at a time; a second connection is refused while the first is live.

#![forbid(unsafe_code)]

use super::core::{Core, Routing};
use super::lb::{Balanced, Lb};
use crate::runtime::shared::NewPeer;

#[derive(Default)]
pub(super) struct Pair {
    lb: Lb,
}

impl Routing for Pair {
    fn admit(&mut self, core: &mut Core, p: &NewPeer) -> Option<Vec<u8>> {
        // A peer whose connection already closed (and which is only draining what it
        // delivered) does not block a new one.
        if core.peers.iter().any(|(_, q)| !q.inn.is_closed()) {
            return None;
        }
        Some(p.identity.clone())
    }

    fn attached(&mut self, _core: &mut Core, slot: usize) {
        self.lb.attach(slot);
    }

    fn detached(&mut self, _core: &mut Core, slot: usize) {
        self.lb.detach(slot);
    }
}

impl Balanced for Pair {
    fn lb(&mut self) -> &mut Lb {
        &mut self.lb
    }
}

#[cfg(test)]
mod tests;
