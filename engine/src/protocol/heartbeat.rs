//! ZMTP 3.1 heartbeating (PING/PONG) as a sans-IO timer set.
//!
//! Mirrors libzmq's three timers: every HEARTBEAT_IVL we send a PING; after
//! sending one, if no traffic at all arrives within HEARTBEAT_TIMEOUT the peer
//! is dead; and if the peer's PING announced a TTL, we give up when no
//! traffic arrives within it. Any received traffic disarms both deadlines.
//! The caller owns the clock and passes `now` in.

use std::time::{Duration, Instant};

use super::command::{Command, MAX_PING_CONTEXT};
use super::ProtocolError;

/// Heartbeat state for one connection.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    ivl: Option<Duration>,
    timeout: Option<Duration>,
    /// TTL announced in our PINGs, in deciseconds.
    ttl_ds: u16,
    /// When to send the next PING.
    next_ping: Option<Instant>,
    /// Armed after a PING: no traffic by then means the peer is gone.
    timeout_at: Option<Instant>,
    /// Armed by the peer's PING TTL.
    ttl_at: Option<Instant>,
}

/// Zero durations mean "off", as in libzmq.
fn nonzero(d: Option<Duration>) -> Option<Duration> {
    d.filter(|d| !d.is_zero())
}

impl Heartbeat {
    /// `ivl`: HEARTBEAT_IVL (None or zero = off). `ttl`: HEARTBEAT_TTL to
    /// announce in our PINGs (sent in deciseconds, truncated like libzmq,
    /// capped at 6553.5 s). `timeout`: HEARTBEAT_TIMEOUT (None = use `ivl`).
    pub fn new(
        ivl: Option<Duration>,
        ttl: Option<Duration>,
        timeout: Option<Duration>,
        now: Instant,
    ) -> Heartbeat {
        let ivl = nonzero(ivl);
        let ttl_ds = ttl.map_or(0, |t| {
            (t.as_millis() / 100).min(u128::from(u16::MAX)) as u16
        });
        Heartbeat {
            ivl,
            timeout: nonzero(timeout.or(ivl)),
            ttl_ds,
            next_ping: ivl.map(|i| now + i),
            timeout_at: None,
            ttl_at: None,
        }
    }

    /// The TTL (deciseconds) our PINGs announce.
    pub fn ttl_ds(&self) -> u16 {
        self.ttl_ds
    }

    /// Any bytes from the peer were received at `now` (resets liveness).
    pub fn on_traffic(&mut self, _now: Instant) {
        self.timeout_at = None;
        self.ttl_at = None;
    }

    /// The peer sent PING with this TTL: counts as traffic, arms the TTL
    /// deadline (0 = none) and returns the PONG to send (context cut to 16
    /// bytes, as libzmq does).
    pub fn on_ping(&mut self, ttl_ds: u16, context: &[u8], now: Instant) -> Command {
        self.on_traffic(now);
        if ttl_ds > 0 {
            self.ttl_at = Some(now + Duration::from_millis(u64::from(ttl_ds) * 100));
        }
        Command::Pong(context[..context.len().min(MAX_PING_CONTEXT)].to_vec())
    }

    /// Next instant at which [`on_timer`](Self::on_timer) must be called
    /// (None = no timer).
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.next_ping, self.timeout_at, self.ttl_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Timer fired: `Ok(Some(ping))` = send this PING; `Err(HeartbeatTimeout)`
    /// = disconnect; `Ok(None)` = nothing due yet.
    pub fn on_timer(&mut self, now: Instant) -> Result<Option<Command>, ProtocolError> {
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if due(self.timeout_at) || due(self.ttl_at) {
            return Err(ProtocolError::HeartbeatTimeout);
        }
        if !due(self.next_ping) {
            return Ok(None);
        }
        self.next_ping = self.ivl.map(|i| now + i);
        if self.timeout_at.is_none() {
            self.timeout_at = self.timeout.map(|t| now + t);
        }
        Ok(Some(Command::Ping {
            ttl_ds: self.ttl_ds,
            context: Vec::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn ping(ttl_ds: u16) -> Command {
        Command::Ping {
            ttl_ds,
            context: Vec::new(),
        }
    }

    #[test]
    fn off_by_default() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(None, None, None, t0);
        assert_eq!(hb.next_deadline(), None);
        assert_eq!(hb.on_timer(t0 + ms(100_000)), Ok(None));
        let mut hb = Heartbeat::new(Some(Duration::ZERO), None, None, t0);
        assert_eq!(hb.next_deadline(), None);
        assert_eq!(hb.on_timer(t0 + ms(1)), Ok(None));
    }

    #[test]
    fn pings_every_interval_and_times_out_without_traffic() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(Some(ms(100)), Some(ms(1_550)), None, t0);
        assert_eq!(hb.ttl_ds(), 15);
        assert_eq!(hb.next_deadline(), Some(t0 + ms(100)));
        assert_eq!(hb.on_timer(t0 + ms(50)), Ok(None));
        assert_eq!(hb.on_timer(t0 + ms(100)), Ok(Some(ping(15))));
        // Next ping and the timeout (defaults to ivl) are both at 200.
        assert_eq!(hb.next_deadline(), Some(t0 + ms(200)));
        hb.on_traffic(t0 + ms(150));
        assert_eq!(hb.on_timer(t0 + ms(200)), Ok(Some(ping(15))));
        // No traffic after that PING: dead at 300.
        assert_eq!(hb.next_deadline(), Some(t0 + ms(300)));
        assert_eq!(hb.on_timer(t0 + ms(299)), Ok(None));
        assert_eq!(
            hb.on_timer(t0 + ms(300)),
            Err(ProtocolError::HeartbeatTimeout)
        );
    }

    #[test]
    fn explicit_timeout_longer_than_interval() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(Some(ms(100)), None, Some(ms(250)), t0);
        assert_eq!(hb.on_timer(t0 + ms(100)), Ok(Some(ping(0))));
        // The second PING does not push the pending timeout out.
        assert_eq!(hb.on_timer(t0 + ms(200)), Ok(Some(ping(0))));
        assert_eq!(hb.next_deadline(), Some(t0 + ms(300)));
        assert_eq!(
            hb.on_timer(t0 + ms(350)),
            Err(ProtocolError::HeartbeatTimeout)
        );
    }

    #[test]
    fn traffic_keeps_connection_alive() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(Some(ms(100)), None, Some(ms(50)), t0);
        for i in 1..=20u64 {
            let t = t0 + ms(100 * i);
            assert_eq!(hb.on_timer(t), Ok(Some(ping(0))));
            hb.on_traffic(t + ms(10));
        }
    }

    #[test]
    fn peer_ttl() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(None, None, None, t0);
        let pong = hb.on_ping(20, b"ctx", t0);
        assert_eq!(pong, Command::Pong(b"ctx".to_vec()));
        assert_eq!(hb.next_deadline(), Some(t0 + ms(2_000)));
        assert_eq!(hb.on_timer(t0 + ms(1_999)), Ok(None));
        assert_eq!(
            hb.on_timer(t0 + ms(2_000)),
            Err(ProtocolError::HeartbeatTimeout)
        );

        // Traffic disarms it; a new PING re-arms it from that moment.
        let mut hb = Heartbeat::new(None, None, None, t0);
        hb.on_ping(20, b"", t0);
        hb.on_traffic(t0 + ms(1_000));
        assert_eq!(hb.next_deadline(), None);
        hb.on_ping(10, b"", t0 + ms(1_500));
        assert_eq!(hb.next_deadline(), Some(t0 + ms(2_500)));

        // TTL 0 means none.
        let mut hb = Heartbeat::new(None, None, None, t0);
        hb.on_ping(0, b"", t0);
        assert_eq!(hb.next_deadline(), None);
    }

    #[test]
    fn pong_context_truncated() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(None, None, None, t0);
        let ctx = [7u8; 40];
        assert_eq!(hb.on_ping(0, &ctx, t0), Command::Pong(vec![7; 16]));
    }

    #[test]
    fn ttl_conversion() {
        let t0 = Instant::now();
        let ttl = |d| Heartbeat::new(None, Some(d), None, t0).ttl_ds();
        assert_eq!(ttl(ms(0)), 0);
        assert_eq!(ttl(ms(99)), 0);
        assert_eq!(ttl(ms(100)), 1);
        assert_eq!(ttl(ms(6_553_500)), 65_535);
        assert_eq!(ttl(ms(10_000_000)), 65_535);
        assert_eq!(Heartbeat::new(None, None, None, t0).ttl_ds(), 0);
    }

    #[test]
    fn deadline_is_earliest_timer() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(Some(ms(1_000)), None, None, t0);
        hb.on_ping(2, b"", t0);
        assert_eq!(hb.next_deadline(), Some(t0 + ms(200)));
        hb.on_traffic(t0 + ms(100));
        assert_eq!(hb.next_deadline(), Some(t0 + ms(1_000)));
    }
}
