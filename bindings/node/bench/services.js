'use strict';
/*
 * GATEWAY and SPOT rows of the Node benchmark (used by bench/peer.js; ringlink only), set up
 * as ringlink-bench's (bench/src/services.rs):
 *
 * GATEWAY: the receiving process runs a registry and a Receiver registered as 'bench' (its
 *   ROUTER is the measured socket) and announces the registry's endpoints; the sending
 *   process runs a Discovery of that registry and a Gateway and sends to the service by name.
 *   rl-async: `await gw.send()` per message, `await router.receive()` per message.
 *   rl-fast: gatewaySendManyConst in chunks of 1024 (one awaited send waits for room when a
 *   chunk is cut short), the router drained with receiveManyInto + recvPairDrainInto.
 * SPOT: both processes run a SpotNode registered with the receiver's registry and meshed
 *   through a Discovery; HWM 0 on the sending node's PUB and the receiving node's SUB (as
 *   ringlink-bench's Rust builder), so nothing is dropped and no flow control is needed. The
 *   sender publishes 'hello' on a control topic until the receiver's 'go' comes back (the
 *   subscription has reached it), then publishes everything; the receiver counts warm-up and
 *   measured messages (a shortfall is an error: nothing may be lost) and reports its count on
 *   'done', which the sender waits for before closing. rl-async: publish() /
 *   `await sub.recv()` per message. rl-fast: spotPublishManyConst in chunks of PUB_CHUNK /
 *   spotRecvManyInto into preallocated buffers (spotRecvMany(4096) awaited when none are
 *   queued).
 * Latency (ping/echo roles): GATEWAY send + recv through the receiver's ROUTER; SPOT ping
 *   on one topic, pong back on another.
 */
const rl = require('..');

const SERVICE = 'bench';
const TOPIC = 'bench';
const PUB_CHUNK = 16384;
const IDLE_MS = 10000; // the receiver gives up (messages lost) after this long without one
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(cond, ms, what) {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`set-up timed out: ${what}`);
    await sleep(2);
  }
}

function registry() {
  const reg = new rl.Registry();
  reg.start();
  return reg;
}

/** The receiving side's set-up; returns {ready, ...}. */
async function serverSide(pattern) {
  const reg = registry();
  const ready = `${reg.pubEndpoint},${reg.routerEndpoint}`;
  if (pattern === 'GATEWAY') {
    const rx = new rl.Receiver({ routingId: 'bench-rx' });
    rx.connectRegistry(reg.routerEndpoint);
    rx.bind('tcp://127.0.0.1:*');
    await rx.register(SERVICE);
    return { reg, rx, router: rx.router, ready };
  }
  const { node, disc } = await spotNode(reg.pubEndpoint, reg.routerEndpoint, 1, { receiveHighWaterMark: 0 });
  return { reg, node, disc, ready };
}

async function spotNode(pub, router, nodes = 2, options = undefined) {
  const disc = new rl.Discovery('spot');
  disc.connectRegistry(pub);
  const node = new rl.SpotNode(options);
  node.connectRegistry(router);
  node.bind('tcp://127.0.0.1:*');
  await node.register('bench-spot');
  node.setDiscovery(disc, 'bench-spot');
  await until(() => disc.providerCount('bench-spot') >= nodes, 20000, 'SPOT nodes listed');
  return { node, disc };
}

async function gatewayClient(ready) {
  const [pub] = ready.split(',');
  const disc = new rl.Discovery('gateway');
  disc.connectRegistry(pub);
  await disc.waitAvailable(SERVICE, 20000);
  const gw = new rl.Gateway(disc);
  await until(() => gw.connectionCount(SERVICE) >= 1, 20000, 'gateway connection');
  return { disc, gw };
}

/* ---------------------------------------------------------------- throughput */

async function receiver(pattern, count, warmup, fast, out, now) {
  const side = await serverSide(pattern);
  let t0 = 0;
  let t1 = 0;
  let got = 0;
  const count1 = (first) => {
    if (first === 77) { // 'M'
      if (got === 0) t0 = now();
      if (++got === count) t1 = now();
    }
  };
  if (pattern === 'GATEWAY') {
    out(`READY ${side.ready}`);
    const { router } = side;
    if (fast) {
      const buf = Buffer.alloc(1 << 20);
      const lens = new Uint32Array(8192);
      const ids = Buffer.alloc(255 * 4096);
      const idLens = new Uint32Array(4096);
      const plens = new Uint32Array(4096);
      while (got < count) {
        const n = await router.receiveManyInto(buf, lens);
        let off = 0;
        for (let i = 0; i < n; i++) {
          if (i & 1) count1(buf[off]);
          off += lens[i];
        }
        for (let k; got < count && (k = router.recvPairDrainInto(ids, idLens, buf, plens)) > 0;) {
          let o = 0;
          for (let i = 0; i < k; i++) { count1(buf[o]); o += plens[i]; }
        }
      }
    } else {
      while (got < count) count1((await router.receive())[1][0]);
    }
  } else {
    const { node } = side;
    const sub = node.subscriber();
    sub.subscribe(TOPIC);
    sub.subscribe('ctl');
    out(`READY ${side.ready}`);
    for (;;) { // the sender's hello: its node has our subscription
      const m = await sub.recv(-1);
      if (m.topic === 'ctl') break;
    }
    node.publish('ctl-go', 'go');
    let seen = 0; // every data message, warm-up included
    const lost = () => {
      out(`RESULT ${JSON.stringify({ error: `SPOT: ${warmup + count - seen} of ${warmup + count} messages lost (received ${got} of ${count} measured)` })}`);
      process.exit(1);
    };
    if (fast) {
      // What is queued, straight into these buffers (spotRecvManyInto: no object per
      // message, the counterpart of zlink's Spot.recvMany, which returns a count); when
      // nothing is, the awaited list form waits for the next messages.
      const max = 4096;
      const tb = Buffer.alloc(64 * max);
      const tl = new Uint32Array(max);
      const pb = Buffer.alloc(1 << 20);
      const pl = new Uint32Array(max);
      const want = Buffer.from(TOPIC);
      const isData = (off, len) => {
        if (len !== want.length) return false;
        for (let k = 0; k < len; k++) if (tb[off + k] !== want[k]) return false;
        return true;
      };
      while (got < count) {
        const n = sub.spotRecvManyInto(tb, tl, pb, pl);
        if (n === 0) {
          const batch = await sub.spotRecvMany(max, IDLE_MS);
          if (batch.length === 0) lost();
          for (const m of batch) if (m.topic === TOPIC) { seen++; count1(m.payload[0]); }
          continue;
        }
        let toff = 0;
        let poff = 0;
        for (let i = 0; i < n; i++) {
          if (isData(toff, tl[i])) { seen++; count1(pb[poff]); }
          toff += tl[i];
          poff += pl[i];
        }
      }
    } else {
      while (got < count) {
        let m;
        try {
          m = await sub.recv(IDLE_MS);
        } catch (err) {
          if (err.code === 'EAGAIN') lost();
          throw err;
        }
        if (m.topic !== TOPIC) continue;
        seen++;
        count1(m.parts[0][0]);
      }
    }
    if (seen !== warmup + count) lost(); // a warm-up message missing
    node.publish('done', String(seen));
    await sleep(100); // let 'done' leave before the node goes
  }
  const secs = (t1 - t0) / 1e9;
  out(`RESULT ${JSON.stringify({ received: got, secs, kmsg_s: got / secs / 1000 })}`);
  closeAll(side);
}

function closeAll(o) {
  for (const k of ['router', 'rx', 'gw', 'sub', 'node', 'disc', 'reg']) if (o[k] && !o[k].closed) o[k].close();
}

async function sender(pattern, count, warmup, fast, endpoint, size) {
  const w = Buffer.alloc(size, 0x2e);
  w[0] = 87; // 'W'
  const m = Buffer.alloc(size, 0x2e);
  m[0] = 77; // 'M'
  if (pattern === 'GATEWAY') {
    const c = await gatewayClient(endpoint);
    const { gw } = c;
    if (fast) {
      const burst = async (payload, n) => {
        let sent = 0;
        while (sent < n) {
          const k = Math.min(n - sent, 1024);
          const s = gw.gatewaySendManyConst(SERVICE, payload, k);
          sent += s;
          if (s < k && sent < n) { await gw.send(SERVICE, payload); sent++; }
        }
      };
      await burst(w, warmup);
      await burst(m, count);
    } else {
      for (let i = 0; i < warmup; i++) await gw.send(SERVICE, w);
      for (let i = 0; i < count; i++) await gw.send(SERVICE, m);
    }
    await sleep(200); // lingering is the ROUTER's (LINGER 0 on a gateway): let it drain
    closeAll(c);
    return;
  }
  const [pub, router] = endpoint.split(',');
  const { node, disc } = await spotNode(pub, router, 2, { sendHighWaterMark: 0 });
  const sub = node.subscriber();
  sub.subscribe('ctl-go');
  sub.subscribe('done');
  for (;;) { // hello until go
    node.publish('ctl', 'hello');
    try {
      if ((await sub.recv(50)).topic === 'ctl-go') break;
    } catch (err) {
      if (err.code !== 'EAGAIN') throw err;
    }
  }
  const send = (payload, n) => {
    if (fast) {
      for (let sent = 0; sent < n;) sent += node.spotPublishManyConst(TOPIC, payload, Math.min(n - sent, PUB_CHUNK));
    } else {
      for (let i = 0; i < n; i++) node.publish(TOPIC, payload);
    }
  };
  send(w, warmup);
  send(m, count);
  for (;;) { // the receiver's count: everything arrived (HWM 0, nothing dropped on the way)
    const d = await sub.recv(60000);
    if (d.topic === 'done') break;
  }
  sub.close();
  closeAll({ node, disc });
}

/* ---------------------------------------------------------------- latency */

async function echo(pattern, out) {
  const side = await serverSide(pattern);
  out(`READY ${side.ready}`);
  if (pattern === 'GATEWAY') {
    for (;;) {
      const msg = await side.router.receive();
      if (msg[1].length === 0) break;
      await side.router.send(msg);
    }
  } else {
    const sub = side.node.subscriber();
    sub.subscribe('ping');
    for (;;) {
      const msg = await sub.recv(-1);
      if (msg.parts[0].length === 0) break;
      side.node.publish('pong', msg.parts);
    }
    sub.close();
  }
  closeAll(side);
}

async function ping(pattern, count, warmup, size, endpoint, out, now) {
  const payload = Buffer.alloc(size, 0x2e);
  const rtts = new Float64Array(count);
  let c;
  let once;
  let end;
  if (pattern === 'GATEWAY') {
    c = await gatewayClient(endpoint);
    once = async () => { await c.gw.send(SERVICE, payload); await c.gw.recv(); };
    end = () => c.gw.send(SERVICE, Buffer.alloc(0));
  } else {
    const [pub, router] = endpoint.split(',');
    c = await spotNode(pub, router);
    c.sub = c.node.subscriber();
    c.sub.subscribe('pong');
    for (;;) { // until the echo node has our subscription and we have its
      c.node.publish('ping', payload);
      try { await c.sub.recv(50); break; } catch (err) { if (err.code !== 'EAGAIN') throw err; }
    }
    for (;;) { try { await c.sub.recv(20); } catch (err) { if (err.code === 'EAGAIN') break; throw err; } }
    once = async () => { c.node.publish('ping', payload); await c.sub.recv(-1); };
    end = () => c.node.publish('ping', Buffer.alloc(0));
  }
  for (let i = 0; i < warmup; i++) await once();
  for (let i = 0; i < count; i++) {
    const t = now();
    await once();
    rtts[i] = now() - t;
  }
  await end();
  await sleep(100);
  rtts.sort();
  const q = (p) => rtts[Math.min(count - 1, Math.floor(p * count))] / 1000;
  out(`RESULT ${JSON.stringify({ count, rtt_p50_us: q(0.5), rtt_p99_us: q(0.99) })}`);
  closeAll(c);
}

module.exports = { receiver, sender, echo, ping, SERVICE_PATTERNS: ['GATEWAY', 'SPOT'] };
