//! zlink's service layer on ringlink's public socket API (zlink-spec §5): a registry that
//! receivers register with and that discoveries, gateways and SPOT nodes read.
//!
//! Built so far: the message codec ([`wire`], zlink's frame layouts), the
//! [`Registry`](registry::Registry), the [`Discovery`](discovery::Discovery), the
//! [`Receiver`](receiver::Receiver) and the [`Gateway`](gateway::Gateway), each a sans-IO core
//! ([`RegistryState`](registry::RegistryState), [`DiscoveryState`](discovery::DiscoveryState),
//! [`ReceiverState`](receiver::ReceiverState), [`Pool`](gateway::Pool)) driven by an
//! event-driven worker thread or, for the gateway, by its callers; and the
//! [`SpotNode`](spot::SpotNode) topic mesh (manual or Discovery-driven, registered with
//! registries) over the sans-IO [`spot::topics`] and [`spot::queue`].
//!
//! ```
//! use ringlink::Context;
//! use ringlink_services::registry::Registry;
//! let ctx = Context::new()?;
//! let mut reg = Registry::builder(&ctx)
//!     .endpoints("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
//!     .start()?;
//! assert!(reg.pub_endpoint().starts_with("tcp://127.0.0.1:"));
//! assert!(reg.list()?.services.is_empty());
//! # Ok::<(), ringlink::Error>(())
//! ```

#![warn(missing_docs)]

mod control;
pub mod discovery;
pub mod gateway;
pub mod receiver;
mod registrar;
pub mod registry;
pub mod spot;
mod waiting;
pub mod wire;
