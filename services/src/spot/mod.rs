//! SPOT, zlink's location-transparent topic mesh (zlink-spec §5.6): [`SpotNode`] (one PUB,
//! a SUB mesh of manually connected peers, local subscribers) over a sans-IO core
//! ([`topics`]: topic and pattern rules, the node's reference-counted subscription table).
//! Registration and a Discovery-driven mesh are next (issue 14).

mod node;
pub mod topics;

pub use node::{SpotNode, SpotSub, SUB_QUEUE_LIMIT};
