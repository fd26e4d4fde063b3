'use strict';
// Options: constructor + properties for every class, defaults, read-only/unknown names,
// bad values, context options.
const test = require('node:test');
const assert = require('node:assert/strict');
const { rl, track, closeAll } = require('../testlib/helpers');

test.afterEach(closeAll);

const common = {
  linger: [-1, 250], sendHighWaterMark: [1000, 17], receiveHighWaterMark: [1000, 23],
  sendTimeout: [-1, 40], receiveTimeout: [-1, 50], reconnectInterval: [100, 300],
  reconnectMaxInterval: [0, 5000], backlog: [100, 64], immediate: [false, true], ipv6: [false, true],
  heartbeatInterval: [0, 1000], heartbeatTimeToLive: [0, 3000], heartbeatTimeout: [-1, 2000],
  handshakeInterval: [30000, 5000], maxMessageSize: [-1, 1 << 20],
  sendBufferSize: [null, 65536], receiveBufferSize: [null, 65536],
};

const specific = {
  Publisher: { conflate: [false, true], invertMatching: [false, true] },
  Subscriber: { conflate: [false, true], invertMatching: [false, true] },
  XPublisher: { noDrop: [false, true], manual: [false, true], invertMatching: [false, true], welcomeMessage: [null, 'hi'], onlyFirstSubscribe: [false, true] },
  XSubscriber: { onlyFirstSubscribe: [false, true] },
  Request: { correlate: [false, true], relaxed: [false, true] },
  Dealer: { probeRouter: [false, true], conflate: [false, true] },
  Router: { mandatory: [false, true], handover: [false, true], probeRouter: [false, true] },
  Pull: { conflate: [false, true] },
  Stream: { notify: [true, false], framing: ['raw', 'length-prefixed'] },
  Pair: {}, Push: {}, Reply: {},
};

for (const [cls, opts] of Object.entries(specific)) {
  test(`${cls}: defaults, properties, constructor options`, () => {
    const all = { ...common, ...opts };
    const s = track(new rl[cls]());
    assert.equal(s.type, rl.SocketType[cls]);
    for (const [name, [def, val]] of Object.entries(all)) {
      if (def !== null) assert.deepEqual(s[name], def, `${cls}.${name} default`);
      s[name] = val;
      assert.deepEqual(s[name], val, `${cls}.${name} after set`);
    }
    const ctor = {};
    for (const [name, [, val]] of Object.entries(all)) ctor[name] = val;
    const t = track(new rl[cls](ctor));
    for (const [name, [, val]] of Object.entries(all)) assert.deepEqual(t[name], val, `${cls}({${name}})`);
  });
}

test('routingId, verbosity, lastEndpoint', async () => {
  const d = track(new rl.Dealer({ routingId: 'abc' }));
  assert.equal(d.routingId, 'abc');
  d.routingId = Buffer.from('xyz');
  assert.equal(d.routingId, 'xyz');
  assert.equal(new rl.Pair().routingId, null);
  const x = track(new rl.XPublisher({ verbosity: 'allSubs' }));
  assert.equal(x.verbosity, 'allSubs');
  x.verbosity = 'allSubsUnsubs';
  assert.equal(x.verbosity, 'allSubsUnsubs');
  x.verbosity = null;
  assert.equal(x.verbosity, null);
  assert.throws(() => { x.verbosity = 'loud'; }, TypeError);
  assert.equal(d.lastEndpoint, null);
  await d.bind('tcp://127.0.0.1:*');
  assert.match(d.lastEndpoint, /^tcp:\/\/127\.0\.0\.1:\d+$/);
});

test('unknown, read-only and badly typed options throw', () => {
  assert.throws(() => new rl.Pair({ lingr: 0 }), { name: 'TypeError', message: /lingr/ });
  assert.throws(() => new rl.Pair({ type: 3 }), TypeError); // read-only
  assert.throws(() => new rl.Push({ mandatory: true }), TypeError); // Router only
  assert.throws(() => new rl.Pair('linger'), TypeError);
  const s = track(new rl.Pair());
  assert.throws(() => { s.linger = -5; }, { code: 'EINVAL', errno: 22 });
  assert.throws(() => { s.linger = 'soon'; }, TypeError);
  assert.throws(() => { s.routingId = Buffer.alloc(0); }, { code: 'EINVAL' });
});

test('options on a closed socket throw EBADF', () => {
  const s = new rl.Pair();
  s.close();
  assert.equal(s.closed, true);
  assert.throws(() => s.linger, { code: 'EBADF' });
  assert.throws(() => { s.linger = 0; }, { code: 'EBADF' });
  s.close(); // idempotent
});

test('Context options: ioThreads, ipv6, blocky (default linger)', () => {
  const ctx = new rl.Context();
  assert.equal(ctx.ioThreads, 1);
  assert.equal(ctx.blocky, true);
  assert.equal(ctx.ipv6, false);
  ctx.ioThreads = 2;
  assert.equal(ctx.ioThreads, 2);
  assert.throws(() => { ctx.ioThreads = 0; }, RangeError); // inline mode cannot drive uv_poll
  ctx.ipv6 = true;
  assert.equal(ctx.ipv6, true);
  assert.equal(track(new rl.Pair({ context: ctx })).ipv6, true);
  assert.equal(track(new rl.Pair({ context: ctx })).linger, -1);
  ctx.blocky = false;
  assert.equal(track(new rl.Pair({ context: ctx })).linger, 0);
  // fixed once the context runs
  assert.throws(() => { ctx.ioThreads = 3; }, { code: 'EINVAL' });
  assert.throws(() => new rl.Context({ threads: 1 }), TypeError);
  assert.throws(() => new rl.Pair({ context: {} }), TypeError);
});
