'use strict';
// Interop with zeromq.js 6 (libzmq 4.3.5, a devDependency) over tcp and ipc, both directions:
// ringlink binds / zeromq.js connects and the reverse, for PAIR, DEALER/ROUTER, PUB/SUB,
// REQ/REP and PUSH/PULL, multipart included.
const test = require('node:test');
const assert = require('node:assert/strict');
const { rl, track, closeAll, within, ipcEndpoint } = require('../testlib/helpers');

let zmq;
try {
  zmq = require('zeromq');
} catch (e) {
  throw new Error(`the interop tests need the devDependency zeromq@6 (npm install in bindings/node): ${e.message}`);
}

const zsocks = new Set();
const z = (s) => { zsocks.add(s); return s; };
test.afterEach(() => {
  closeAll();
  for (const s of zsocks) if (!s.closed) { s.linger = 0; s.close(); }
  zsocks.clear();
});

const strs = (m) => m.map(String);

/** Bind `server` on a fresh endpoint of `transport`; returns the address to connect to. */
async function bindOn(server, transport) {
  await server.bind(transport === 'tcp' ? 'tcp://127.0.0.1:*' : ipcEndpoint());
  return server.lastEndpoint;
}

for (const transport of ['tcp', 'ipc']) {
  for (const ringlinkBinds of [true, false]) {
    const dir = ringlinkBinds ? 'ringlink binds, zeromq.js connects' : 'zeromq.js binds, ringlink connects';

    test(`PAIR over ${transport}: ${dir}`, async () => {
      const r = track(new rl.Pair({ linger: 0 }));
      const q = z(new zmq.Pair({ linger: 0 }));
      if (ringlinkBinds) q.connect(await bindOn(r, transport));
      else r.connect(await bindOn(q, transport));
      await r.send(['hello', 'from ringlink']);
      assert.deepEqual(strs(await within(q.receive(), 10000, 'zmq receive')), ['hello', 'from ringlink']);
      await q.send(Buffer.alloc(100000, 9));
      const [big] = await within(r.receive(), 10000, 'ringlink receive');
      assert.ok(big.equals(Buffer.alloc(100000, 9)));
      // fast path to zeromq.js and back
      assert.equal(r.sendManyConst('x', 100), 100);
      for (let i = 0; i < 100; i++) assert.equal((await within(q.receive(), 10000, 'burst'))[0].toString(), 'x');
      for (let i = 0; i < 50; i++) await q.send(`n${i}`);
      const got = [];
      while (got.length < 50) got.push(...(await within(r.receiveMany(), 10000, 'many')).map((m) => m[0].toString()));
      assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => `n${i}`));
    });

    test(`DEALER/ROUTER over ${transport}: ${dir}`, async () => {
      // the binder is the ROUTER on one side, the DEALER on the other
      const router = ringlinkBinds ? track(new rl.Router({ linger: 0 })) : z(new zmq.Router({ linger: 0 }));
      const dealer = ringlinkBinds ? z(new zmq.Dealer({ linger: 0, routingId: 'zd' })) : track(new rl.Dealer({ linger: 0, routingId: 'rd' }));
      dealer.connect(await bindOn(router, transport));
      await dealer.send(['a', 'b']);
      const [id, ...rest] = await within(router.receive(), 10000, 'router receive');
      assert.equal(id.toString(), ringlinkBinds ? 'zd' : 'rd');
      assert.deepEqual(strs(rest), ['a', 'b']);
      await router.send([id, 'reply']);
      assert.deepEqual(strs(await within(dealer.receive(), 10000, 'dealer receive')), ['reply']);
    });

    test(`PUB/SUB over ${transport}: ${dir}`, async () => {
      const pub = ringlinkBinds ? track(new rl.Publisher({ linger: 0 })) : z(new zmq.Publisher({ linger: 0 }));
      const sub = ringlinkBinds ? z(new zmq.Subscriber({ linger: 0 })) : track(new rl.Subscriber({ linger: 0 }));
      sub.connect(await bindOn(pub, transport));
      sub.subscribe('t');
      const first = sub.receive();
      let done = false;
      first.then(() => { done = true; }, () => { done = true; });
      while (!done) { // the subscription travels asynchronously
        await pub.send(['x', 'not subscribed']);
        await pub.send(['t', 'news']);
        await new Promise((r) => setImmediate(r));
      }
      assert.deepEqual(strs(await first), ['t', 'news']);
    });

    test(`REQ/REP and PUSH/PULL over ${transport}: ${dir}`, async () => {
      const rep = ringlinkBinds ? track(new rl.Reply({ linger: 0 })) : z(new zmq.Reply({ linger: 0 }));
      const req = ringlinkBinds ? z(new zmq.Request({ linger: 0 })) : track(new rl.Request({ linger: 0 }));
      req.connect(await bindOn(rep, transport));
      for (let i = 0; i < 5; i++) {
        await req.send(`q${i}`);
        const [q] = await within(rep.receive(), 10000, 'rep receive');
        await rep.send([q, 'ok']);
        assert.deepEqual(strs(await within(req.receive(), 10000, 'req receive')), [`q${i}`, 'ok']);
      }
      const pull = ringlinkBinds ? track(new rl.Pull({ linger: 0 })) : z(new zmq.Pull({ linger: 0 }));
      const push = ringlinkBinds ? z(new zmq.Push({ linger: 0 })) : track(new rl.Push({ linger: 0 }));
      push.connect(await bindOn(pull, transport));
      for (let i = 0; i < 200; i++) await push.send(String(i));
      for (let i = 0; i < 200; i++) assert.equal((await within(pull.receive(), 10000, 'pull'))[0].toString(), String(i));
    });
  }
}
