//! The synchronisation primitives of the lock-free hand-offs (pipes, parkers), swapped for
//! loom's model-checked versions when built with `RUSTFLAGS="--cfg loom"` (see
//! `scripts/loom.sh`), so the tests in `loom_tests` explore every interleaving of the real
//! code.

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering},
    Arc, Mutex,
};

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering},
    Arc, Mutex,
};
