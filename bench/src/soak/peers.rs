//! The two peer processes of a run (`__peer soak-send` / `__peer soak-recv`): the sender
//! pushes numbered messages for the run's duration, then the end marker; the receiver checks
//! them in order and samples its inbound backlog.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ringlink::{Socket, SocketOption, SocketType, UringFeatures};

use super::config::{Api, PeerOpts};
use super::sampler::{vm_kib, Counters, Sampler};
use super::wire::{stamp, template, SeqCheck, DATA, END};
use super::{RECV_ROLE, SEND_ROLE, SETUP_TIMEOUT};
use crate::net::ringlink_context;
use crate::peer::{announce, emit, exit_with, now_ns, wait_for_parent, Usage};

/// Per-message API: the sender stores its counter and checks the clock every this many.
const CHECK_EVERY: u64 = 256;
/// Receive buffer of the batch API.
const RECV_BUF: usize = 1 << 20;

/// Entry point of the soak roles of `__peer`. Exits without running destructors (as the
/// other peers do): teardown is not part of the soak.
pub fn peer_main(args: &[String]) -> Result<(), String> {
    let p = PeerOpts::from_args(args)?;
    exit_with(match p.role.as_str() {
        SEND_ROLE => sender(&p),
        RECV_ROLE => receiver(&p),
        other => Err(format!("peer: unknown role `{other}`")),
    })
}

fn rl(what: &'static str) -> impl Fn(ringlink::Error) -> String {
    move |e| format!("{what}: {e}")
}

fn open(p: &PeerOpts, ty: SocketType) -> Result<(ringlink::Context, Socket), String> {
    let ctx = ringlink_context(p.backend, false, None, UringFeatures::default())?;
    let mut s = ctx.socket(ty).map_err(rl("socket"))?;
    s.set_option(SocketOption::SndHwm(p.hwm))
        .map_err(rl("SNDHWM"))?;
    s.set_option(SocketOption::RcvHwm(p.hwm))
        .map_err(rl("RCVHWM"))?;
    Ok((ctx, s))
}

fn ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

fn sender(p: &PeerOpts) -> Result<(), String> {
    let usage = Usage::now();
    let (ty, _) = p.pattern.types();
    let (_ctx, mut s) = open(p, ty)?;
    let ep = p.endpoint.as_deref().ok_or("peer: --endpoint missing")?;
    if ty == SocketType::XPub {
        s.set_option(SocketOption::XpubNoDrop(true))
            .map_err(rl("XPUB_NODROP"))?;
    }
    // The first send may wait for the connection; later ones only for room.
    s.set_option(SocketOption::SndTimeo(ms(SETUP_TIMEOUT)))
        .map_err(rl("SNDTIMEO"))?;
    s.connect(ep).map_err(rl("connect"))?;
    if ty == SocketType::XPub {
        s.set_option(SocketOption::RcvTimeo(ms(SETUP_TIMEOUT)))
            .map_err(rl("RCVTIMEO"))?;
        let mut sub = [0u8; 64];
        let n = s
            .recv(&mut sub, 0)
            .map_err(|e| format!("no subscription within {} s: {e}", SETUP_TIMEOUT.as_secs()))?;
        if n != 1 || sub[0] != 1 {
            return Err(format!(
                "expected the subscription to everything (0x01), got {:?}",
                &sub[..n.min(sub.len())]
            ));
        }
    }
    let counter = Arc::new(Counters::default());
    let duration = Duration::from_millis(p.duration_ms);
    let stall = Duration::from_millis(p.stall_ms);
    let t0 = now_ns();
    let end_ns = t0 + duration.as_nanos() as i64;
    emit(&format!("START t0_ns={t0}"))?;
    let sampler = Sampler::start(Arc::clone(&counter), Duration::from_millis(p.sample_ms));
    let mut seq: u64 = 0;
    let mut first = true;
    let blocked = |seq: u64, e: ringlink::Error| match e {
        ringlink::Error::Again => format!(
            "send blocked for {} s after {seq} messages (the receiver stopped taking them)",
            if seq == 0 {
                SETUP_TIMEOUT.as_secs()
            } else {
                stall.as_secs()
            }
        ),
        e => format!("send after {seq} messages: {e}"),
    };
    let after_first = |s: &mut Socket, first: &mut bool| -> Result<(), String> {
        if std::mem::take(first) {
            s.set_option(SocketOption::SndTimeo(ms(stall)))
                .map_err(rl("SNDTIMEO"))?;
        }
        Ok(())
    };
    match p.api {
        Api::Batch => {
            let mut chunk = template(p.batch * p.size);
            loop {
                for m in chunk.chunks_exact_mut(p.size) {
                    stamp(m, DATA, seq);
                    seq += 1;
                }
                let msgs: Vec<&[u8]> = chunk.chunks_exact(p.size).collect();
                let mut rest = &msgs[..];
                let base = seq - msgs.len() as u64;
                while !rest.is_empty() {
                    match s.send_batch(rest, 0) {
                        Ok(n) => rest = rest.get(n..).unwrap_or_default(),
                        Err(ringlink::Error::Interrupted) => {}
                        Err(e) => return Err(blocked(base + (msgs.len() - rest.len()) as u64, e)),
                    }
                    after_first(&mut s, &mut first)?;
                }
                counter.msgs.store(seq, Ordering::Relaxed);
                if now_ns() >= end_ns {
                    break;
                }
            }
        }
        Api::Message => {
            let mut msg = template(p.size);
            loop {
                for _ in 0..CHECK_EVERY {
                    stamp(&mut msg, DATA, seq);
                    loop {
                        match s.send(&msg, 0) {
                            Ok(()) => break,
                            Err(ringlink::Error::Interrupted) => {}
                            Err(e) => return Err(blocked(seq, e)),
                        }
                    }
                    seq += 1;
                    after_first(&mut s, &mut first)?;
                }
                counter.msgs.store(seq, Ordering::Relaxed);
                if now_ns() >= end_ns {
                    break;
                }
            }
        }
    }
    let mut end = template(p.size);
    stamp(&mut end, END, seq);
    loop {
        match s.send(&end, 0) {
            Ok(()) => break,
            Err(ringlink::Error::Interrupted) => {}
            Err(e) => return Err(format!("sending the end marker: {}", blocked(seq, e))),
        }
    }
    let tx_end = now_ns();
    sampler.finish();
    emit(&format!(
        "RESULT sent={seq} tx_end_ns={tx_end} vmhwm_kib={}",
        vm_kib("VmHWM")
    ))?;
    // The reactor thread still has to write what is queued: stay until the parent says the
    // receiver has everything (it closes our stdin).
    wait_for_parent();
    emit(&Usage::now().since(&usage))
}

fn receiver(p: &PeerOpts) -> Result<(), String> {
    let usage = Usage::now();
    let (_, ty) = p.pattern.types();
    let (_ctx, mut s) = open(p, ty)?;
    if ty == SocketType::Sub {
        s.set_option(SocketOption::Subscribe(Vec::new()))
            .map_err(rl("SUBSCRIBE"))?;
    }
    s.set_option(SocketOption::RcvTimeo(ms(SETUP_TIMEOUT)))
        .map_err(rl("RCVTIMEO"))?;
    s.bind("tcp://127.0.0.1:*").map_err(rl("bind"))?;
    announce(&s.last_endpoint().ok_or("bind: no last endpoint")?)?;
    let router = ty == SocketType::Router;
    let stall = Duration::from_millis(p.stall_ms);
    let mut chk = SeqCheck::new(p.size);
    let counter = Arc::new(Counters::default());
    let mut sampler: Option<Sampler> = None;
    let mut t_last = 0i64;
    let mut next_queue_check = 0u64;
    // Touched up front, so the bench's own buffers never show as RSS growth.
    let slots = (RECV_BUF / p.size + 1) * if router { 2 } else { 1 };
    let (mut buf, mut lens, mut more) = match p.api {
        Api::Batch => (vec![1u8; RECV_BUF], vec![1usize; slots], vec![true; slots]),
        Api::Message => (vec![1u8; p.size.max(256)], Vec::new(), Vec::new()),
    };
    let started =
        |s: &mut Socket, sampler: &mut Option<Sampler>, chk: &mut SeqCheck| -> Result<(), String> {
            if sampler.is_none() {
                chk.t_first = now_ns();
                *sampler = Some(Sampler::start(
                    Arc::clone(&counter),
                    Duration::from_millis(p.sample_ms),
                ));
                s.set_option(SocketOption::RcvTimeo(ms(stall)))
                    .map_err(rl("RCVTIMEO"))?;
            }
            Ok(())
        };
    let stalled = |chk: &SeqCheck, e: ringlink::Error| match e {
        ringlink::Error::Again if chk.received == 0 && chk.end.is_none() => {
            format!("no message within {} s of binding", SETUP_TIMEOUT.as_secs())
        }
        ringlink::Error::Again => format!(
            "stalled: nothing received for {} s after {} messages (next expected seq {}; {})",
            stall.as_secs(),
            chk.received,
            chk.next,
            chk.result()
        ),
        e => format!("recv after {} messages: {e}", chk.received),
    };
    let mut done = false;
    while !done {
        match p.api {
            Api::Batch => {
                let n = match s.recv_batch_parts(&mut buf, &mut lens, &mut more, 0) {
                    Ok(n) => n,
                    Err(ringlink::Error::Interrupted) => continue,
                    Err(e) => return Err(stalled(&chk, e)),
                };
                started(&mut s, &mut sampler, &mut chk)?;
                let mut off = 0;
                let mut i = 0;
                while i < n {
                    let frame = &buf[off..off + lens[i]];
                    off += lens[i];
                    if router && i % 2 == 0 {
                        chk.routing_id(frame, more[i]);
                    } else {
                        if more[i] {
                            chk.corrupt += 1;
                            chk.anomaly("payload frame with more set".to_string());
                        }
                        if chk.payload(frame) {
                            done = true;
                            if i + 1 < n {
                                chk.corrupt += 1;
                                chk.anomaly(format!("{} frames after the end marker", n - i - 1));
                            }
                            break;
                        }
                    }
                    i += 1;
                }
            }
            Api::Message => {
                if router {
                    let n = match s.recv(&mut buf, 0) {
                        Ok(n) => n,
                        Err(ringlink::Error::Interrupted) => continue,
                        Err(e) => return Err(stalled(&chk, e)),
                    };
                    started(&mut s, &mut sampler, &mut chk)?;
                    let more = s.rcvmore();
                    chk.routing_id(&buf[..n.min(buf.len())], more);
                    if !more {
                        continue;
                    }
                }
                let n = loop {
                    match s.recv(&mut buf, 0) {
                        Ok(n) => break n,
                        Err(ringlink::Error::Interrupted) => continue,
                        Err(e) => return Err(stalled(&chk, e)),
                    }
                };
                started(&mut s, &mut sampler, &mut chk)?;
                if s.rcvmore() {
                    chk.corrupt += 1;
                    chk.anomaly("payload frame with more set".to_string());
                }
                done = chk.payload(&buf[..n.min(buf.len())]);
            }
        }
        counter.msgs.store(chk.received, Ordering::Relaxed);
        // The inbound backlog, every ~8 Ki messages (peers() allocates a little).
        if chk.received >= next_queue_check {
            next_queue_check = chk.received + 8192;
            let committed: u64 = s.peers().iter().map(|p| p.msgs_received).sum();
            let read = chk.received + u64::from(chk.end.is_some());
            counter
                .queued
                .fetch_max(committed.saturating_sub(read), Ordering::Relaxed);
        }
        if done {
            t_last = now_ns();
        }
    }
    if let Some(sm) = sampler {
        sm.finish();
    }
    emit(&format!(
        "RESULT {} rx_first_ns={} rx_last_ns={t_last} vmhwm_kib={}",
        chk.result(),
        chk.t_first,
        vm_kib("VmHWM")
    ))?;
    emit(&Usage::now().since(&usage))
}
