//! SPOT, zlink's location-transparent topic mesh (zlink-spec §5.6): [`SpotNode`] (one PUB,
//! a SUB mesh of manual peers and/or the nodes a [`Discovery`](crate::discovery::Discovery)
//! lists, registration with registries) and its local subscribers [`SpotSub`] (blocking,
//! batch and in-place receives, handler callbacks), over sans-IO cores: [`topics`] (topic and
//! pattern rules, the node's reference-counted subscription table) and [`queue`] (a
//! subscriber's packed, bounded message queue).

mod node;
pub mod queue;
mod receive;
mod sub;
pub mod topics;

pub use node::{SpotNode, SpotNodeBuilder, DEFAULT_SERVICE};
pub use queue::{Record, QUEUE_BYTES, QUEUE_MESSAGES};
pub use sub::{Handler, SpotMessage, SpotSub};
