//! PUSH (lb send only) and PULL (fq receive only).

#![forbid(unsafe_code)]

use super::core::{Core, Routing};
use super::lb::{Balanced, Lb};

#[derive(Default)]
pub(super) struct Push {
    lb: Lb,
}

impl Routing for Push {
    fn attached(&mut self, _core: &mut Core, slot: usize) {
        self.lb.attach(slot);
    }

    fn detached(&mut self, _core: &mut Core, slot: usize) {
        self.lb.detach(slot);
    }
}

impl Balanced for Push {
    fn lb(&mut self) -> &mut Lb {
        &mut self.lb
    }
}

#[derive(Default)]
pub(super) struct Pull;

impl Routing for Pull {
    #[inline]
    fn accept(&mut self, core: &mut Core, slot: usize) -> bool {
        !core.opts.conflate || core.conflate(slot)
    }
}

#[cfg(test)]
mod tests;
