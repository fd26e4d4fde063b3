//! Thread-per-core runtime: the context, its reactor threads, and the hand-off between
//! application threads and reactors.
//!
//! Threads: each reactor thread owns one driver (io_uring ring or epoll set), the connections
//! assigned to it, and their timers. Application threads own their sockets. The two sides meet
//! only in pipes (`crate::pipe`, lock-free, batched) and in two small inboxes (reactor commands,
//! socket notifications) that are touched when a pipe changes between idle and busy, never per
//! message. A side is woken through its eventfd only if it announced that it is parked.

#![forbid(unsafe_code)]

pub(crate) mod context;
pub(crate) mod hub;
pub(crate) mod inline;
pub(crate) mod inproc;
pub(crate) mod parker;
pub(crate) mod reactor;
pub(crate) mod reactor_set;
pub(crate) mod shared;
pub(crate) mod stats;
