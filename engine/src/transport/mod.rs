//! Endpoint strings (`tcp://`, `ipc://`) to kernel addresses, and back for LAST_ENDPOINT.
//!
//! Parsing and name resolution happen in the calling thread so that `bind`/`connect` report
//! bad endpoints (EINVAL, EPROTONOSUPPORT, ENAMETOOLONG, unresolvable hosts) synchronously.

#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::sys::SockAddr;
use crate::error::{Error, Result};

/// A parsed endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `tcp://host:port`; `host` may be `*`, a name, an IPv4 or a bracketed IPv6 address;
    /// port 0 means "any" (written `*` or `0`).
    Tcp { host: String, port: u16 },
    /// `ipc://path`; `@name` is the abstract namespace.
    Ipc { path: String },
    /// `inproc://name`: between sockets of one context, no kernel involved.
    Inproc { name: String },
}

static IPC_WILDCARD: AtomicU64 = AtomicU64::new(0);

pub(crate) fn parse(ep: &str) -> Result<Endpoint> {
    let (scheme, rest) = ep.split_once("://").ok_or_else(|| {
        Error::invalid(format!("endpoint {ep:?} lacks a scheme (tcp://, ipc://)"))
    })?;
    match scheme {
        "tcp" => {
            let (host, port) = rest
                .rsplit_once(':')
                .ok_or_else(|| Error::invalid(format!("tcp endpoint {ep:?} lacks a port")))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() {
                return Err(Error::invalid(format!("tcp endpoint {ep:?} lacks a host")));
            }
            let port = match port {
                "*" | "0" => 0,
                p => p
                    .parse::<u16>()
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| Error::invalid(format!("bad port in {ep:?}")))?,
            };
            Ok(Endpoint::Tcp {
                host: host.to_string(),
                port,
            })
        }
        "ipc" => {
            if rest.is_empty() || rest == "@" {
                return Err(Error::invalid(format!("empty ipc path in {ep:?}")));
            }
            Ok(Endpoint::Ipc {
                path: rest.to_string(),
            })
        }
        "inproc" => {
            if rest.is_empty() {
                return Err(Error::invalid(format!("empty inproc name in {ep:?}")));
            }
            Ok(Endpoint::Inproc {
                name: rest.to_string(),
            })
        }
        "pgm" | "epgm" | "tipc" | "vmci" | "ws" | "wss" | "tls" | "udp" => {
            Err(Error::ProtocolNotSupported(scheme.to_string()))
        }
        _ => Err(Error::ProtocolNotSupported(scheme.to_string())),
    }
}

fn ipv6_allowed(ip: &IpAddr, ipv6: bool) -> Result<()> {
    if ip.is_ipv6() && !ipv6 {
        return Err(Error::invalid(
            "IPv6 address given but the IPV6 option is off",
        ));
    }
    Ok(())
}

/// The address to bind. For `ipc://*` a fresh unique path is chosen.
pub(crate) fn bind_addr(ep: &Endpoint, ipv6: bool) -> Result<(SockAddr, Option<String>)> {
    match ep {
        Endpoint::Tcp { host, port } => {
            let ip: IpAddr = if host == "*" {
                if ipv6 {
                    IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                } else {
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                }
            } else if let Ok(ip) = host.parse::<IpAddr>() {
                ipv6_allowed(&ip, ipv6)?;
                ip
            } else {
                resolve(host, *port, ipv6)?.ip()
            };
            Ok((SockAddr::from_inet(SocketAddr::new(ip, *port)), None))
        }
        Endpoint::Ipc { path } => {
            let path = if path == "*" {
                let n = IPC_WILDCARD.fetch_add(1, Ordering::Relaxed);
                format!("/tmp/ringlink-{}-{n}.ipc", std::process::id())
            } else {
                path.clone()
            };
            let addr = SockAddr::from_unix(&path)?;
            Ok((addr, Some(path)))
        }
        Endpoint::Inproc { .. } => Err(Error::invalid("inproc endpoints have no address")),
    }
}

fn resolve(host: &str, port: u16, ipv6: bool) -> Result<SocketAddr> {
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::invalid(format!("cannot resolve {host:?}: {e}")))?;
    let mut fallback = None;
    for a in addrs {
        if a.is_ipv4() {
            return Ok(a);
        }
        if ipv6 && fallback.is_none() {
            fallback = Some(a);
        }
    }
    fallback.ok_or_else(|| Error::invalid(format!("no usable address for {host:?}")))
}

/// Where a connection goes: an address, or a host name that the reactor resolves before
/// every attempt (a name that does not resolve yet is retried like a refused connection,
/// as libzmq does, and a changed DNS entry is picked up on reconnect).
#[derive(Clone)]
pub(crate) enum Target {
    Addr(SockAddr),
    Host { host: String, port: u16, ipv6: bool },
}

impl Target {
    /// The address now: resolves a host name (blocking; reactors call it off their thread).
    pub(crate) fn resolve(&self) -> Result<SockAddr> {
        match self {
            Target::Addr(a) => Ok(a.clone()),
            Target::Host { host, port, ipv6 } => {
                resolve(host, *port, *ipv6).map(SockAddr::from_inet)
            }
        }
    }
}

/// The target of a connect (host names are left for the reactor to resolve).
pub(crate) fn connect_target(ep: &Endpoint, ipv6: bool) -> Result<Target> {
    match ep {
        Endpoint::Tcp { host, port } => {
            if *port == 0 {
                return Err(Error::invalid("cannot connect to a wildcard port"));
            }
            if host == "*" {
                return Err(Error::invalid("cannot connect to a wildcard host"));
            }
            match host.parse::<IpAddr>() {
                Ok(ip) => {
                    ipv6_allowed(&ip, ipv6)?;
                    Ok(Target::Addr(SockAddr::from_inet(SocketAddr::new(
                        ip, *port,
                    ))))
                }
                Err(_) => Ok(Target::Host {
                    host: host.clone(),
                    port: *port,
                    ipv6,
                }),
            }
        }
        Endpoint::Ipc { path } => {
            if path == "*" {
                return Err(Error::invalid("cannot connect to ipc://*"));
            }
            Ok(Target::Addr(SockAddr::from_unix(path)?))
        }
        Endpoint::Inproc { .. } => Err(Error::invalid("inproc endpoints have no address")),
    }
}

/// The endpoint string of a bound address, as LAST_ENDPOINT reports it.
pub(crate) fn endpoint_string(local: &SockAddr, ipc_path: Option<&str>) -> String {
    match (local.to_inet(), ipc_path) {
        (Some(SocketAddr::V4(a)), _) => format!("tcp://{}:{}", a.ip(), a.port()),
        (Some(SocketAddr::V6(a)), _) => format!("tcp://[{}]:{}", a.ip(), a.port()),
        (None, Some(p)) => format!("ipc://{p}"),
        (None, None) => "ipc://?".to_string(),
    }
}

/// A tcp/ipc endpoint being listened on.
pub(crate) struct Listening {
    pub(crate) fd: std::os::fd::OwnedFd,
    /// The endpoint with wildcards resolved (LAST_ENDPOINT).
    pub(crate) endpoint: String,
    pub(crate) ipc_path: Option<String>,
}

/// Open a listening socket for `ep` (tcp/ipc). A failure of the bind itself is reported to
/// `bind_failed(errno)` too (the monitor's BIND_FAILED event); bad addresses are not.
pub(crate) fn listen(
    ep: &Endpoint,
    ipv6: bool,
    backlog: i32,
    bind_failed: impl FnOnce(i32),
) -> Result<Listening> {
    let (addr, ipc_path) = bind_addr(ep, ipv6)?;
    if let Some(p) = ipc_path.as_deref() {
        // A stale socket file from an earlier run would make bind fail (libzmq removes it).
        if !p.starts_with('@') {
            let _ = std::fs::remove_file(p);
        }
    }
    let fd = crate::backend::sys::listen(&addr, backlog, !ipv6).inspect_err(|e| {
        bind_failed(e.raw_os_error().unwrap_or(libc::EIO));
    })?;
    let local = crate::backend::sys::local_addr(std::os::fd::AsRawFd::as_raw_fd(&fd))?;
    let endpoint = endpoint_string(&local, ipc_path.as_deref());
    Ok(Listening {
        fd,
        endpoint,
        ipc_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcp_and_ipc() {
        assert_eq!(
            parse("tcp://127.0.0.1:5555").unwrap(),
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 5555
            }
        );
        assert_eq!(
            parse("tcp://*:*").unwrap(),
            Endpoint::Tcp {
                host: "*".into(),
                port: 0
            }
        );
        assert_eq!(
            parse("tcp://[::1]:80").unwrap(),
            Endpoint::Tcp {
                host: "::1".into(),
                port: 80
            }
        );
        assert_eq!(
            parse("ipc://@x").unwrap(),
            Endpoint::Ipc { path: "@x".into() }
        );
    }

    #[test]
    fn rejects_bad_endpoints() {
        assert!(matches!(parse("tcp//x:1"), Err(Error::InvalidArgument(_))));
        assert!(matches!(parse("tcp://x"), Err(Error::InvalidArgument(_))));
        assert!(matches!(parse("tcp://:5"), Err(Error::InvalidArgument(_))));
        assert!(matches!(
            parse("tcp://h:99999"),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(parse("ipc://@"), Err(Error::InvalidArgument(_))));
        assert!(matches!(
            parse("foo://x"),
            Err(Error::ProtocolNotSupported(_))
        ));
        let long = format!("ipc:///tmp/{}", "a".repeat(200));
        assert!(matches!(
            bind_addr(&parse(&long).unwrap(), false),
            Err(Error::NameTooLong)
        ));
    }

    #[test]
    fn ipv6_needs_the_option() {
        let ep = parse("tcp://[::1]:5").unwrap();
        assert!(connect_target(&ep, false).is_err());
        assert!(connect_target(&ep, true).is_ok());
    }

    #[test]
    fn host_names_are_resolved_later() {
        let ep = parse("tcp://no-such-host.invalid:5555").unwrap();
        let t = connect_target(&ep, false).expect("a name is accepted at connect time");
        assert!(matches!(t, Target::Host { .. }));
        assert!(t.resolve().is_err());
        let t = connect_target(&parse("tcp://localhost:5555").unwrap(), false).unwrap();
        assert!(t.resolve().is_ok());
    }
}
