//! The receiver (zlink-spec §5.4): the request-handler side. The application receives
//! `[gateway id][parts…]` on the receiver's ROUTER and replies with `[gateway id][parts…]` on
//! the same socket; a worker thread (the crate's registrar) keeps the registrations (acks,
//! heartbeats, failover between registries) on a DEALER whose routing id is the ROUTER's, so
//! the registry records the id gateways must connect with.

mod state;

use std::time::Duration;

use ringlink::{Context, Error, Result, Socket, SocketOption, SocketType};

use crate::registrar::{advertisable, Registrar};
use crate::wire::ServiceType;
pub use state::{Action, ReceiverState, Refusal};

/// Configures and starts a [`Receiver`].
#[derive(Debug)]
pub struct ReceiverBuilder {
    ctx: Context,
    routing_id: Option<Vec<u8>>,
    registries: Vec<String>,
    ack_timeout: Duration,
    heartbeat_interval: Duration,
}

impl ReceiverBuilder {
    /// The ROUTER's routing id, kept across restarts so gateways reach the new process
    /// (default: 5 random bytes, the first non-zero: zlink uses `0x00` + a random u32, but a
    /// leading zero byte is reserved for ids a ROUTER generates, as in libzmq).
    pub fn routing_id(mut self, id: &[u8]) -> Self {
        self.routing_id = Some(id.to_vec());
        self
    }

    /// A registry's ROUTER endpoint; several give failover, tried in order.
    pub fn registry(mut self, router_endpoint: &str) -> Self {
        self.registries.push(router_endpoint.to_string());
        self
    }

    /// How long a registry has to acknowledge a request before the next one is tried
    /// (default 2 s).
    pub fn ack_timeout(mut self, t: Duration) -> Self {
        self.ack_timeout = t;
        self
    }

    /// How often registered services send heartbeats (default 5 s; keep it well under the
    /// registry's heartbeat timeout, 15 s by default).
    pub fn heartbeat_interval(mut self, t: Duration) -> Self {
        self.heartbeat_interval = t;
        self
    }

    /// Create the sockets and start the worker.
    ///
    /// # Errors
    /// `InvalidArgument` without a registry, with an empty routing id or zero times;
    /// connect errors as [`Socket::connect`]; `Io` if the thread cannot be spawned.
    pub fn start(self) -> Result<Receiver> {
        if self.registries.is_empty() {
            return Err(Error::InvalidArgument("a receiver needs a registry".into()));
        }
        let rid = self.routing_id.unwrap_or_else(|| {
            let mut id = vec![fastrand::u8(1..)];
            id.extend_from_slice(&fastrand::u32(..).to_be_bytes());
            id
        });
        if rid.is_empty() {
            return Err(Error::InvalidArgument("empty receiver routing id".into()));
        }
        let mut router = self.ctx.socket(SocketType::Router)?;
        router.set_option(SocketOption::RoutingId(rid.clone()))?;
        // A restarted gateway with the same id takes its connection over.
        router.set_option(SocketOption::RouterHandover(true))?;
        let registrar = Registrar::start(
            &self.ctx,
            &rid,
            self.registries,
            self.ack_timeout,
            self.heartbeat_interval,
        )?;
        Ok(Receiver {
            router,
            routing_id: rid,
            binds: Vec::new(),
            registrar,
        })
    }
}

/// A request handler registered with registries; dropping it unregisters nothing (the
/// registry expires it by heartbeat) and stops the worker.
#[derive(Debug)]
pub struct Receiver {
    router: Socket,
    routing_id: Vec<u8>,
    binds: Vec<String>,
    registrar: Registrar,
}

impl Receiver {
    /// A builder on `ctx`.
    pub fn builder(ctx: &Context) -> ReceiverBuilder {
        ReceiverBuilder {
            ctx: ctx.clone(),
            routing_id: None,
            registries: Vec::new(),
            ack_timeout: Duration::from_secs(2),
            heartbeat_interval: Duration::from_secs(5),
        }
    }

    /// The ROUTER's routing id (what the registry lists and gateways connect with).
    pub fn routing_id(&self) -> &[u8] {
        &self.routing_id
    }

    /// Bind the ROUTER; returns the endpoint as bound (a wildcard port resolved).
    ///
    /// # Errors
    /// As [`Socket::bind`].
    pub fn bind(&mut self, endpoint: &str) -> Result<String> {
        self.router.bind(endpoint)?;
        let ep = self
            .router
            .last_endpoint()
            .unwrap_or_else(|| endpoint.to_string());
        self.binds.push(ep.clone());
        Ok(ep)
    }

    /// The ROUTER the application receives requests on and replies with.
    pub fn router(&mut self) -> &mut Socket {
        &mut self.router
    }

    /// Register `name` (a gateway service) and wait for the registry's answer. `advertise`
    /// is the endpoint gateways connect to; `None` takes the only bound endpoint with a
    /// wildcard host replaced by the loopback address. Weight 0 means 1.
    /// Returns the advertised endpoint.
    ///
    /// # Errors
    /// `InvalidArgument` when no endpoint can be advertised or a registry refuses (its
    /// reason in the message); `HostUnreachable` when no registry answered in time.
    pub fn register(&mut self, name: &str, advertise: Option<&str>, weight: u32) -> Result<String> {
        let endpoint = match advertise {
            Some(e) if !e.is_empty() => e.to_string(),
            _ => self.default_advertise()?,
        };
        self.registrar
            .register(ServiceType::Gateway, name, &endpoint, weight)?;
        Ok(endpoint)
    }

    /// Change a registered service's weight and wait for the registry's answer.
    ///
    /// # Errors
    /// `NotFound` if `name` is not registered here; otherwise as [`Receiver::register`].
    pub fn update_weight(&mut self, name: &str, weight: u32) -> Result<()> {
        self.registrar.update_weight(name, weight)
    }

    /// Unregister `name` (the registry does not answer; heartbeats for it stop).
    ///
    /// # Errors
    /// `Terminated` once the context is shut down.
    pub fn unregister(&mut self, name: &str) -> Result<()> {
        self.registrar.unregister(name)
    }

    /// Take the ROUTER out (to poll it with other sockets, hand it to a proxy, or own it in
    /// another structure); the returned [`Registration`] keeps the registrations alive
    /// (heartbeats, failover) until it is dropped.
    pub fn into_router(self) -> (Socket, Registration) {
        (
            self.router,
            Registration {
                registrar: self.registrar,
            },
        )
    }

    fn default_advertise(&self) -> Result<String> {
        let [ep] = &self.binds[..] else {
            return Err(Error::InvalidArgument(
                "no advertise endpoint given and not exactly one bind".into(),
            ));
        };
        Ok(advertisable(ep))
    }
}

/// A receiver's registrations without its ROUTER ([`Receiver::into_router`]): heartbeats
/// go on until it is dropped.
#[derive(Debug)]
pub struct Registration {
    registrar: Registrar,
}

impl Registration {
    /// As [`Receiver::update_weight`].
    ///
    /// # Errors
    /// As [`Receiver::update_weight`].
    pub fn update_weight(&mut self, name: &str, weight: u32) -> Result<()> {
        self.registrar.update_weight(name, weight)
    }

    /// As [`Receiver::unregister`].
    ///
    /// # Errors
    /// As [`Receiver::unregister`].
    pub fn unregister(&mut self, name: &str) -> Result<()> {
        self.registrar.unregister(name)
    }
}
