//! DEALER: round-robin send over peers with room (lb), fair-queued receive (fq).

#![forbid(unsafe_code)]

use super::core::{Core, Routing};
use super::lb::{Balanced, Lb};

#[derive(Default)]
pub(super) struct Dealer {
    lb: Lb,
}

impl Routing for Dealer {
    fn attached(&mut self, core: &mut Core, slot: usize) {
        self.lb.attach(slot);
        if core.opts.probe_router {
            core.greet(slot, &[]);
        }
    }

    fn detached(&mut self, _core: &mut Core, slot: usize) {
        self.lb.detach(slot);
    }

    #[inline]
    fn accept(&mut self, core: &mut Core, slot: usize) -> bool {
        !core.opts.conflate || core.conflate(slot)
    }
}

impl Balanced for Dealer {
    fn lb(&mut self) -> &mut Lb {
        &mut self.lb
    }
}

#[cfg(test)]
mod tests;
