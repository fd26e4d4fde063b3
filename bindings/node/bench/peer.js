'use strict';
/*
 * One side of a benchmark run, in its own process (spawned by bench/run.js).
 *
 *   node bench/peer.js recv IMPL PATTERN COUNT SIZE            -> prints "READY <endpoint>",
 *                                                                 then "RESULT <json>"
 *   node bench/peer.js send IMPL PATTERN COUNT SIZE ENDPOINT
 *   node bench/peer.js echo IMPL [PATTERN]                      -> "READY <endpoint>" (latency)
 *   node bench/peer.js ping IMPL COUNT SIZE ENDPOINT [PATTERN]  -> "RESULT <json>"
 *
 * PATTERN GATEWAY and SPOT (ringlink's service layer, rl-async / rl-fast only) are in
 * bench/services.js; latency without PATTERN is PAIR.
 *
 * IMPL: rl-async (ringlink, await send()/receive() per message), rl-fast (ringlink fast
 * paths: sendManyConst / sendRoutedManyConst, awaited receiveManyInto / recvPairDrainInto),
 * zmq (zeromq.js 6, await send()/receive() per message: its fastest documented usage).
 *
 * Method (as bench/c/rl_bench.c and ringlink-bench): the receiver binds tcp://127.0.0.1:*,
 * the sender connects. Byte 0 of each message is 'W' (warm-up, 1000 messages first) or 'M'
 * (measured); the receiver's clock runs from the first to the last measured arrival. STREAM
 * has no message boundaries: the receiver counts bytes (warm-up bytes first).
 */
const WARMUP = 1000;
const RX_IDLE_MS = 20000;

const [role, impl, ...rest] = process.argv.slice(2);
const lib = impl === 'zmq' ? require('zeromq') : require('..');
const fast = impl === 'rl-fast';

const now = () => Number(process.hrtime.bigint());

/* sender kind, receiver kind, options */
const PATTERNS = {
  PAIR: ['Pair', 'Pair'],
  PUBSUB: ['XPublisher', 'Subscriber'],
  DEALER_DEALER: ['Dealer', 'Dealer'],
  DEALER_ROUTER: ['Dealer', 'Router'],
  ROUTER_ROUTER: ['Router', 'Router'],
  ROUTER_ROUTER_POLL: ['Router', 'Router'],
  STREAM: ['Stream', 'Stream'],
};

function socketOptions(pattern, side) {
  const o = { linger: side === 'send' ? 5000 : 0 };
  if (pattern === 'PUBSUB') {
    // nothing dropped (as zlink's and ringlink-bench's PUBSUB)
    if (side === 'send') o.sendHighWaterMark = 0;
    else o.receiveHighWaterMark = 0;
  }
  if (pattern.startsWith('ROUTER_ROUTER') && side === 'recv') o.routingId = 'RX';
  if (pattern.startsWith('ROUTER_ROUTER') && side === 'send') o.mandatory = true;
  if (pattern === 'DEALER_ROUTER' && side === 'send') o.routingId = 'TX';
  return o;
}

const out = (line) => process.stdout.write(`${line}\n`);

async function receiver(pattern, count, size) {
  const sock = new lib[PATTERNS[pattern][1]](socketOptions(pattern, 'recv'));
  if (pattern === 'PUBSUB') sock.subscribe();
  await sock.bind('tcp://127.0.0.1:*');
  out(`READY ${sock.lastEndpoint}`);
  const idle = setTimeout(() => {
    out(`RESULT ${JSON.stringify({ error: 'receiver idle timeout' })}`);
    process.exit(1);
  }, RX_IDLE_MS);
  idle.unref();
  let t0 = 0;
  let t1 = 0;
  let got = 0;
  const routed = PATTERNS[pattern][1] === 'Router';
  if (pattern === 'STREAM') {
    const total = (WARMUP + count) * size;
    const warm = WARMUP * size;
    let bytes = 0;
    const add = (len) => {
      if (len === 0) return;
      if (bytes <= warm && bytes + len > warm && !t0) t0 = now();
      bytes += len;
      if (bytes >= total) t1 = now();
    };
    if (fast) {
      const buf = Buffer.alloc(1 << 20);
      const lens = new Uint32Array(4096);
      while (bytes < total) {
        const n = await sock.receiveManyInto(buf, lens);
        for (let i = 1; i < n; i += 2) add(lens[i]); // [id, bytes] frame pairs
      }
    } else {
      while (bytes < total) {
        const [, chunk] = await sock.receive();
        add(chunk.length);
      }
    }
    got = Math.floor((bytes - warm) / size);
  } else if (fast) {
    const buf = Buffer.alloc(1 << 20);
    const lens = new Uint32Array(8192);
    const count1 = (b, off) => {
      if (b[off] === 77) { // 'M'
        if (got === 0) t0 = now();
        if (++got === count) t1 = now();
      }
    };
    if (pattern === 'ROUTER_ROUTER_POLL') {
      // wait (awaited receiveManyInto = fd wait + rl_drain), then drain with
      // rl_drain_routed until it returns 0, and wait again
      const ids = Buffer.alloc(255 * 4096);
      const idLens = new Uint32Array(4096);
      const plens = new Uint32Array(4096);
      while (got < count) {
        const n = await sock.receiveManyInto(buf, lens);
        let off = 0;
        for (let i = 0; i < n; i++) {
          if (i & 1) count1(buf, off);
          off += lens[i];
        }
        for (let k; got < count && (k = sock.recvPairDrainInto(ids, idLens, buf, plens)) > 0;) {
          let o = 0;
          for (let i = 0; i < k; i++) { count1(buf, o); o += plens[i]; }
        }
      }
    } else {
      while (got < count) {
        const n = await sock.receiveManyInto(buf, lens);
        let off = 0;
        for (let i = 0; i < n; i++) {
          if (!routed || (i & 1)) count1(buf, off);
          off += lens[i];
        }
      }
    }
  } else {
    while (got < count) {
      const msg = await sock.receive();
      const b = msg[routed ? 1 : 0];
      if (b[0] === 77) {
        if (got === 0) t0 = now();
        if (++got === count) t1 = now();
      }
    }
  }
  clearTimeout(idle);
  const secs = (t1 - t0) / 1e9;
  out(`RESULT ${JSON.stringify({ received: got, secs, kmsg_s: got / secs / 1000 })}`);
  sock.close();
}

async function waitEvent(sock, type) {
  for (;;) {
    const e = await sock.events.receive();
    if (e.type === type) return;
  }
}

async function sender(pattern, count, size, endpoint) {
  const sock = new lib[PATTERNS[pattern][0]](socketOptions(pattern, 'send'));
  const routerSend = pattern.startsWith('ROUTER_ROUTER');
  const handshake = routerSend ? waitEvent(sock, 'handshake') : null;
  if (routerSend) sock.connect(endpoint, { routingId: 'RX' });
  else sock.connect(endpoint);
  let peer = null;
  if (pattern === 'PUBSUB') await sock.receive(); // the subscription: nothing is sent into the void
  if (routerSend) await handshake;
  if (pattern === 'STREAM') {
    [peer] = await sock.receive(); // connect notification: [peer id, '']
  }
  const w = Buffer.alloc(size, 0x2e);
  w[0] = 87; // 'W'
  const m = Buffer.alloc(size, 0x2e);
  m[0] = 77; // 'M'
  const id = routerSend ? Buffer.from('RX') : peer;
  if (fast) {
    const burst = async (payload, n) => {
      let sent = 0;
      while (sent < n) {
        const k = Math.min(n - sent, 1024);
        const s = id ? sock.sendRoutedManyConst(id, payload, k) : sock.sendManyConst(payload, k);
        sent += s;
        if (s < k && sent < n) {
          // full: one awaited send waits for room on the fd (and counts as sent)
          await sock.send(id ? [id, payload] : payload);
          sent++;
        }
      }
    };
    await burst(w, WARMUP);
    await burst(m, count);
  } else {
    const msgW = id ? [id, w] : w;
    const msgM = id ? [id, m] : m;
    if (pattern === 'STREAM' && impl === 'zmq') {
      // libzmq's STREAM reports POLLOUT always and fails a send to a full peer with
      // EAGAIN, which zeromq.js passes on: retry after a loop turn.
      const send = async (msg) => {
        for (;;) {
          try {
            return await sock.send(msg);
          } catch (e) {
            if (e.code !== 'EAGAIN') throw e;
            await new Promise((r) => setImmediate(r));
          }
        }
      };
      for (let i = 0; i < WARMUP; i++) await send(msgW);
      for (let i = 0; i < count; i++) await send(msgM);
    } else {
      for (let i = 0; i < WARMUP; i++) await sock.send(msgW);
      for (let i = 0; i < count; i++) await sock.send(msgM);
    }
  }
  sock.close();
}

async function echo() {
  const sock = new lib.Pair({ linger: 0 });
  await sock.bind('tcp://127.0.0.1:*');
  out(`READY ${sock.lastEndpoint}`);
  for (;;) {
    const msg = await sock.receive();
    if (msg[0].length === 0) break;
    await sock.send(msg);
  }
  sock.close();
}

async function ping(count, size, endpoint) {
  const sock = new lib.Pair({ linger: 0 });
  sock.connect(endpoint);
  const payload = Buffer.alloc(size, 0x2e);
  const rtts = new Float64Array(count);
  for (let i = 0; i < WARMUP; i++) {
    await sock.send(payload);
    await sock.receive();
  }
  for (let i = 0; i < count; i++) {
    const t = now();
    await sock.send(payload);
    await sock.receive();
    rtts[i] = now() - t;
  }
  await sock.send(Buffer.alloc(0));
  rtts.sort();
  const q = (p) => rtts[Math.min(count - 1, Math.floor(p * count))] / 1000;
  out(`RESULT ${JSON.stringify({ count, rtt_p50_us: q(0.5), rtt_p99_us: q(0.99) })}`);
  sock.close();
}

const svc = () => require('./services');
const isSvc = (p) => p === 'GATEWAY' || p === 'SPOT';
const main = {
  recv: () => (isSvc(rest[0]) ? svc().receiver(rest[0], Number(rest[1]), WARMUP, fast, out, now)
    : receiver(rest[0], Number(rest[1]), Number(rest[2]))),
  send: () => (isSvc(rest[0]) ? svc().sender(rest[0], Number(rest[1]), WARMUP, fast, rest[3], Number(rest[2]))
    : sender(rest[0], Number(rest[1]), Number(rest[2]), rest[3])),
  echo: () => (isSvc(rest[0]) ? svc().echo(rest[0], out) : echo()),
  ping: () => (isSvc(rest[3]) ? svc().ping(rest[3], Number(rest[0]), WARMUP, Number(rest[1]), rest[2], out, now)
    : ping(Number(rest[0]), Number(rest[1]), rest[2])),
}[role];
if (!main) {
  process.stderr.write('usage: see the comment at the top of bench/peer.js\n');
  process.exit(2);
}
main().catch((e) => {
  process.stderr.write(`${role} ${impl}: ${e.stack || e}\n`);
  process.exit(1);
});
