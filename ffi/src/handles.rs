//! Generation-checked handle tables: context and monitor handles are not pointers but ids,
//! `(generation, slot index, kind)` packed into the pointer value handed to C. Nothing stays
//! allocated for a closed or terminated handle: its slot is reused with the next generation, so
//! a stale id no longer matches (`EFAULT`) and is never dereferenced. Lookups take the table's
//! mutex and clone an `Arc`, so a call may go on using the object after the handle was closed
//! by another thread; context and monitor calls are rare enough for a lock (socket handles,
//! used per message, stay pointers: see `socket.rs`).
//!
//! Layout of an id (64-bit): generation in the upper 38 bits, slot index in the next 24
//! (16,777,216 live handles of a kind), kind in the low 2 bits (`01` contexts, `11` monitors,
//! `10` service-layer objects: one table for the six kinds, `services/mod.rs`, which checks the
//! object's type on each lookup).
//! The low bits are never `00`, so an id is never NULL and never equal to a socket handle
//! (a `Box` pointer, 8-byte aligned): `socket.rs` rejects a non-zero low pair before touching
//! memory. On 32-bit targets the index has 12 bits and the generation 18; generations wrap,
//! so an id stale by that many reuses of one slot would match again.

use std::sync::{Arc, Mutex, MutexGuard};

/// Bits of an id that hold its kind; socket pointers have them all clear.
pub(crate) const KIND_MASK: usize = 0b11;
/// Kind bits of a context id.
pub(crate) const KIND_CTX: usize = 0b01;
/// Kind bits of a monitor id.
pub(crate) const KIND_MONITOR: usize = 0b11;
/// Kind bits of a service-layer object's id (registry, discovery, receiver, gateway, SPOT).
pub(crate) const KIND_SERVICE: usize = 0b10;

const KIND_BITS: u32 = 2;
const INDEX_BITS: u32 = if usize::BITS >= 64 { 24 } else { 12 };
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
const GEN_BITS: u32 = usize::BITS - INDEX_BITS - KIND_BITS;
const GEN_MASK: usize = (1 << GEN_BITS) - 1;

/// A table of `Arc<T>` addressed by ids of one kind.
pub(crate) struct HandleTable<T: ?Sized> {
    kind: usize,
    inner: Mutex<Slots<T>>,
}

struct Slots<T: ?Sized> {
    slots: Vec<Slot<T>>,
    /// Indices of empty slots, reused last-freed first.
    free: Vec<usize>,
}

struct Slot<T: ?Sized> {
    generation: usize,
    val: Option<Arc<T>>,
}

impl<T: ?Sized> HandleTable<T> {
    pub(crate) const fn new(kind: usize) -> Self {
        HandleTable {
            kind,
            inner: Mutex::new(Slots {
                slots: Vec::new(),
                free: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slots<T>> {
        // A panic while holding the lock leaves the table consistent (every update is one
        // assignment after the checks), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn id(&self, index: usize, generation: usize) -> usize {
        (generation << (INDEX_BITS + KIND_BITS)) | (index << KIND_BITS) | self.kind
    }

    /// (index, generation) of an id of this table's kind.
    fn split(&self, id: usize) -> Option<(usize, usize)> {
        if id & KIND_MASK != self.kind {
            return None;
        }
        Some((
            (id >> KIND_BITS) & INDEX_MASK,
            (id >> (INDEX_BITS + KIND_BITS)) & GEN_MASK,
        ))
    }

    /// Store `val` and return its id; `None` when every index is in use.
    pub(crate) fn insert(&self, val: Arc<T>) -> Option<usize> {
        let mut t = self.lock();
        let index = match t.free.pop() {
            Some(i) => i,
            None if t.slots.len() <= INDEX_MASK => {
                t.slots.push(Slot {
                    generation: 0,
                    val: None,
                });
                t.slots.len() - 1
            }
            None => return None,
        };
        let slot = &mut t.slots[index];
        slot.val = Some(val);
        let generation = slot.generation;
        Some(self.id(index, generation))
    }

    /// The object behind a live id.
    pub(crate) fn get(&self, id: usize) -> Option<Arc<T>> {
        let (index, generation) = self.split(id)?;
        let t = self.lock();
        let slot = t.slots.get(index)?;
        if slot.generation != generation {
            return None;
        }
        slot.val.clone()
    }

    /// Take the object out: the id (and every copy of it) is dead from now on and its slot
    /// free for the next `insert`, under the next generation.
    pub(crate) fn remove(&self, id: usize) -> Option<Arc<T>> {
        let (index, generation) = self.split(id)?;
        let mut t = self.lock();
        let slot = t.slots.get_mut(index)?;
        if slot.generation != generation {
            return None;
        }
        let val = slot.val.take()?;
        slot.generation = (slot.generation + 1) & GEN_MASK;
        t.free.push(index);
        Some(val)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_and_slots_reused() {
        let t: HandleTable<u32> = HandleTable::new(KIND_CTX);
        let a = t.insert(Arc::new(1)).unwrap();
        let b = t.insert(Arc::new(2)).unwrap();
        assert_ne!(a, 0);
        assert_eq!(a & KIND_MASK, KIND_CTX);
        assert_eq!(t.get(a).as_deref(), Some(&1));
        assert_eq!(t.get(b).as_deref(), Some(&2));
        assert_eq!(t.remove(a).as_deref(), Some(&1));
        assert!(t.get(a).is_none() && t.remove(a).is_none());
        // The slot comes back under a new generation: the old id stays dead.
        let c = t.insert(Arc::new(3)).unwrap();
        assert_ne!(c, a);
        assert_eq!((c >> KIND_BITS) & INDEX_MASK, (a >> KIND_BITS) & INDEX_MASK);
        assert!(t.get(a).is_none());
        assert_eq!(t.get(c).as_deref(), Some(&3));
        // Other kinds, unknown indices and pointers are rejected without a lookup.
        assert!(t.get(c ^ KIND_MASK).is_none());
        assert!(t.get(c & !KIND_MASK).is_none());
        assert!(t.get(KIND_CTX | (1000 << KIND_BITS)).is_none());
        assert_eq!(t.lock().slots.len(), 2);
    }

    #[test]
    fn generations_wrap_within_their_bits() {
        let t: HandleTable<()> = HandleTable::new(KIND_MONITOR);
        let a = t.insert(Arc::new(())).unwrap();
        t.lock().slots[0].generation = GEN_MASK;
        assert!(t.get(a).is_none());
        let top = t.id(0, GEN_MASK);
        assert!(t.remove(top).is_some());
        let wrapped = t.insert(Arc::new(())).unwrap();
        assert_eq!(wrapped, t.id(0, 0));
        assert!(t.get(wrapped).is_some());
    }
}
