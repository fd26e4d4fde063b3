'use strict';
// Errors: EBUSY, closed sockets, close while pending, bind/connect errors, timeouts,
// EHOSTUNREACH, error shape (.code string, .errno number), the loop is never starved.
const test = require('node:test');
const assert = require('node:assert/strict');
const os = require('node:os');
const { rl, track, closeAll, within, connected } = require('../testlib/helpers');

test.afterEach(closeAll);

test('a second pending receive or send rejects with EBUSY', async () => {
  const [a, b] = await connected(rl.Pair, rl.Pair, { client: { sendHighWaterMark: 1 }, server: { receiveHighWaterMark: 1 } });
  const first = a.receive();
  await assert.rejects(a.receive(), (e) => e.code === 'EBUSY' && e.errno === os.constants.errno.EBUSY && /busy reading/.test(e.message));
  await assert.rejects(a.receiveMany(), { code: 'EBUSY' });
  await assert.rejects(a.receiveManyInto(Buffer.alloc(64), new Uint32Array(4)), { code: 'EBUSY' });
  await b.send('x');
  assert.deepEqual((await first).map(String), ['x']);
  // Fill the pipe until a send has to wait, then a second send is EBUSY.
  let pending = null;
  for (let i = 0; i < 100000 && !pending; i++) {
    let settled = false;
    const p = b.send(Buffer.alloc(1024));
    p.then(() => { settled = true; }, () => { settled = true; });
    await Promise.resolve();
    if (!settled) pending = p;
  }
  assert.ok(pending, 'a send eventually had to wait');
  await assert.rejects(b.send('again'), (e) => e.code === 'EBUSY' && /busy writing/.test(e.message));
  // Draining the receiver lets the pending send complete.
  const draining = (async () => { for (;;) { const got = await a.receiveMany(); if (!got.length) break; } })();
  await within(pending, 10000, 'pending send completes');
  a.close();
  await draining.catch((e) => assert.equal(e.code, 'EAGAIN'));
});

test('closing rejects pending operations with EAGAIN and ends for-await', async () => {
  const s = track(new rl.Pull({ linger: 0 }));
  const p = s.receive();
  const iter = (async () => { const got = []; for await (const m of track(new rl.Pull({ linger: 0 }))) got.push(m); return got; })();
  s.close();
  await assert.rejects(p, (e) => e.code === 'EAGAIN' && /closed/.test(e.message));
  // for await over a socket closed while waiting ends without an error
  const t = track(new rl.Pull({ linger: 0 }));
  const loop = (async () => { let n = 0; for await (const _ of t) n++; return n; })();
  await Promise.resolve();
  t.close();
  assert.equal(await within(loop, 5000, 'loop ends'), 0);
  closeAll();
  assert.deepEqual(await within(iter, 5000, 'iter ends'), []);
});

test('operations on a closed socket: EBADF', async () => {
  const s = new rl.Dealer();
  s.close();
  await assert.rejects(s.send('x'), { code: 'EBADF' });
  await assert.rejects(s.receive(), { code: 'EBADF' });
  await assert.rejects(s.receiveMany(), { code: 'EBADF' });
  await assert.rejects(s.bind('tcp://127.0.0.1:*'), { code: 'EBADF' });
  assert.throws(() => s.connect('tcp://127.0.0.1:1'), { code: 'EBADF' });
  assert.throws(() => s.sendManyConst('x', 1), { code: 'EBADF' });
  assert.throws(() => s.recvManyInto(Buffer.alloc(8), new Uint32Array(1)), { code: 'EBADF' });
  assert.throws(() => s.events, { code: 'EBADF' });
});

test('bind / connect / unbind errors carry code and errno', async () => {
  const s = track(new rl.Pair({ linger: 0 }));
  await assert.rejects(s.bind('nonsense'), { code: 'EINVAL' });
  await assert.rejects(s.bind('foo://x'), { code: 'EPROTONOSUPPORT' });
  await s.bind('tcp://127.0.0.1:*');
  const other = track(new rl.Pair({ linger: 0 }));
  await assert.rejects(other.bind(s.lastEndpoint), (e) => e.code === 'EADDRINUSE' && e.errno === os.constants.errno.EADDRINUSE && e.message.includes(s.lastEndpoint));
  assert.throws(() => other.bindSync(s.lastEndpoint), { code: 'EADDRINUSE' });
  await assert.rejects(other.unbind('tcp://127.0.0.1:1'), { code: 'ENOENT' });
  assert.throws(() => other.disconnect('tcp://127.0.0.1:1'), { code: 'ENOENT' });
  assert.throws(() => other.connect(42), TypeError);
  await s.unbind(s.lastEndpoint);
  await assert.rejects(s.send(), { code: 'EINVAL' });
  await assert.rejects(s.send({}), TypeError);
  await assert.rejects(s.send([]), TypeError);
});

test('receiveTimeout / sendTimeout reject with EAGAIN', async () => {
  const pull = track(new rl.Pull({ linger: 0, receiveTimeout: 50 }));
  const t0 = process.hrtime.bigint();
  await assert.rejects(pull.receive(), (e) => e.code === 'EAGAIN' && /timed out/.test(e.message));
  assert.ok(process.hrtime.bigint() - t0 >= 40_000_000n);
  await assert.rejects(pull.receiveMany(), { code: 'EAGAIN' });
  pull.receiveTimeout = 0; // never wait: immediate EAGAIN
  await assert.rejects(pull.receive(), { code: 'EAGAIN' });
  const push = track(new rl.Push({ linger: 0, sendTimeout: 30 })); // no peer: cannot send
  await assert.rejects(push.send('x'), { code: 'EAGAIN' });
  push.sendTimeout = 0;
  await assert.rejects(push.send('x'), { code: 'EAGAIN' });
});

test('ROUTER mandatory: unroutable sends reject with EHOSTUNREACH', async () => {
  const r = track(new rl.Router({ linger: 0, mandatory: true }));
  await assert.rejects(r.send(['nobody', 'x']), { code: 'EHOSTUNREACH', errno: os.constants.errno.EHOSTUNREACH });
  assert.throws(() => r.sendRoutedManyConst('nobody', 'x', 3), { code: 'EHOSTUNREACH' });
  const quiet = track(new rl.Router({ linger: 0 }));
  await quiet.send(['nobody', 'x']); // dropped silently without mandatory
});

test('the event loop keeps turning while messages pour in synchronously', async () => {
  const [pull, push] = await connected(rl.Pull, rl.Push, { server: { receiveHighWaterMark: 0 }, client: { sendHighWaterMark: 0 } });
  const n = 20000;
  assert.equal(push.sendManyConst(Buffer.alloc(8), n), n);
  let received = 0;
  let immediateAt = -1;
  setImmediate(() => { immediateAt = received; });
  while (received < n) {
    await pull.receive();
    received++;
  }
  assert.ok(immediateAt >= 0 && immediateAt < n, `setImmediate ran at ${immediateAt}`);
});

test('strerror and version', () => {
  assert.match(rl.version, /^\d+\.\d+\.\d+$/);
  assert.equal(typeof rl.strerror(11), 'string');
  assert.ok(rl.strerror(156384765).length > 0); // ETERM
});
