'use strict';
// Monitor events (socket.events): async iteration, event shapes, emitter mode, 'end'.
const test = require('node:test');
const assert = require('node:assert/strict');
const { rl, track, closeAll, within } = require('../testlib/helpers');

test.afterEach(closeAll);

async function until(observer, type) {
  const seen = [];
  for await (const e of observer) {
    seen.push(e);
    if (e.type === type) return seen;
  }
  throw new Error(`observer ended before '${type}' (saw ${seen.map((e) => e.type)})`);
}

test('bind, accept, handshake, connect, disconnect, close and end', async () => {
  const server = track(new rl.Router({ linger: 0 }));
  const client = track(new rl.Dealer({ linger: 0, routingId: 'me' }));
  const sev = server.events;
  const cev = client.events;
  assert.equal(server.events, sev); // one observer per socket
  await server.bind('tcp://127.0.0.1:*');
  const ep = server.lastEndpoint;
  client.connect(ep);
  const s1 = await within(until(sev, 'handshake'), 10000, 'server handshake');
  assert.deepEqual(s1.map((e) => e.type).filter((t) => t !== 'connect:delay'), ['bind', 'accept', 'handshake']);
  assert.equal(s1[0].address, ep);
  const hs = s1[2];
  assert.equal(hs.peerRoutingId.toString(), 'me');
  const c1 = await within(until(cev, 'handshake'), 10000, 'client handshake');
  assert.ok(c1.some((e) => e.type === 'connect' && e.address === ep));
  client.close();
  const c2 = await within(until(cev, 'end'), 10000, 'client end');
  assert.equal(c2.at(-1).type, 'end');
  assert.equal(c2.at(-1).address, undefined);
  assert.equal(cev.closed, true);
  await assert.rejects(cev.receive(), { code: 'EAGAIN' });
  const s2 = await within(until(sev, 'disconnect'), 10000, 'server disconnect');
  const d = s2.at(-1);
  assert.equal(d.reason, 'remote');
  assert.equal(typeof d.detail, 'string');
  await server.unbind(ep);
  const s3 = await within(until(sev, 'close'), 10000, 'server close');
  assert.equal(s3.at(-1).address, ep);
  server.close();
  await within(until(sev, 'end'), 10000, 'server end');
});

test('connect:retry carries the interval; emitter mode', async () => {
  const probe = track(new rl.Pair({ linger: 0 }));
  await probe.bind('tcp://127.0.0.1:*');
  const ep = probe.lastEndpoint;
  probe.close(); // nothing listens there any more
  const c = track(new rl.Pair({ linger: 0, reconnectInterval: 20 }));
  const retried = new Promise((resolve) => c.events.on('connect:retry', resolve));
  await assert.rejects(c.events.receive(), { code: 'EBUSY' });
  c.connect(ep);
  const e = await within(retried, 10000, 'connect:retry');
  assert.equal(e.type, 'connect:retry');
  assert.equal(e.address, ep);
  assert.equal(typeof e.interval, 'number');
  const ended = new Promise((resolve) => c.events.on('end', resolve));
  c.close();
  assert.equal((await within(ended, 10000, 'end')).type, 'end');
});

test('observer close ends iteration; a closed socket has no observer', async () => {
  const s = track(new rl.Pair({ linger: 0 }));
  const obs = s.events;
  const loop = (async () => { let n = 0; for await (const _ of obs) n++; return n; })();
  await Promise.resolve();
  obs.close();
  assert.equal(await within(loop, 5000, 'loop'), 0);
  assert.equal(obs.closed, true);
  s.close();
  const t = new rl.Pair();
  t.close();
  assert.throws(() => new rl.Observer(t), { code: 'EBADF' });
  assert.throws(() => new rl.Observer({}), TypeError);
});
