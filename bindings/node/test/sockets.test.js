'use strict';
// Every socket type moves messages; multipart, frame types, async iteration, ipc.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { rl, track, closeAll, within, connected, ipcEndpoint, nextEvent } = require('../testlib/helpers');

test.afterEach(closeAll);

const strs = (msg) => msg.map((b) => b.toString());

test('PAIR both ways, multipart, every frame type', async () => {
  const [a, b] = await connected(rl.Pair, rl.Pair);
  await b.send('one');
  assert.deepEqual(strs(await a.receive()), ['one']);
  await a.send(['x', Buffer.from('y'), new Uint8Array([0x7a]), 42, null, new TextEncoder().encode('w').buffer]);
  const got = await b.receive();
  assert.equal(got.length, 6);
  assert.ok(got.every((f) => Buffer.isBuffer(f)));
  assert.deepEqual(strs(got), ['x', 'y', 'z', '42', '', 'w']);
  await b.send(Buffer.alloc(0));
  assert.deepEqual(await a.receive(), [Buffer.alloc(0)]);
  const big = Buffer.alloc(3 << 20, 7);
  await a.send(big);
  const [rx] = await b.receive();
  assert.ok(rx.equals(big));
});

test('PAIR over ipc', async () => {
  const [a, b] = await connected(rl.Pair, rl.Pair, { endpoint: ipcEndpoint() });
  assert.match(a.lastEndpoint, /^ipc:\/\//);
  await b.send('over ipc');
  assert.deepEqual(strs(await a.receive()), ['over ipc']);
});

test('PUSH -> PULL, async iteration in order', async () => {
  const [pull, push] = await connected(rl.Pull, rl.Push);
  const n = 500;
  const sending = (async () => { for (let i = 0; i < n; i++) await push.send(String(i)); })();
  let i = 0;
  for await (const [m] of pull) {
    assert.equal(m.toString(), String(i));
    if (++i === n) break;
  }
  await sending;
  assert.equal(i, n);
});

test('PUB -> SUB with prefix subscriptions and unsubscribe', async () => {
  const [sub, pub] = await connected(rl.Subscriber, rl.Publisher);
  sub.subscribe('keep');
  // The subscription travels asynchronously: publish until the first match arrives.
  const first = sub.receive();
  let arrived = false;
  first.then(() => { arrived = true; });
  while (!arrived) {
    await pub.send(['drop', 'x']);
    await pub.send(['keep', 'y']);
    await new Promise((r) => setImmediate(r));
  }
  assert.deepEqual(strs(await first), ['keep', 'y']);
  // Everything after is either keep (subscribed) — never drop.
  await pub.send(['drop', 'z']);
  await pub.send(['keep', 'last']);
  for (;;) {
    const m = strs(await within(sub.receive(), 5000, 'keep'));
    assert.equal(m[0], 'keep');
    if (m[1] === 'last') break;
  }
  sub.unsubscribe('keep');
  sub.subscribe();
  assert.throws(() => sub.subscribe(123n), /TypeError|frame must be/);
});

test('XPUB sees subscriptions from XSUB and SUB; XSUB subscribes by message', async () => {
  const [xpub, xsub] = await connected(rl.XPublisher, rl.XSubscriber);
  await xsub.send(Buffer.from('\x01topic'));
  assert.deepEqual(strs(await within(xpub.receive(), 5000, 'subscription')), ['\x01topic']);
  await xpub.send(['topic', 'payload']);
  assert.deepEqual(strs(await within(xsub.receive(), 5000, 'payload')), ['topic', 'payload']);
  const sub = track(new rl.Subscriber({ linger: 0 }));
  sub.connect(xpub.lastEndpoint);
  sub.subscribe('other');
  assert.deepEqual(strs(await within(xpub.receive(), 5000, 'sub subscription')), ['\x01other']);
});

test('REQ <-> REP round trips, REQ state machine error', async () => {
  const [rep, req] = await connected(rl.Reply, rl.Request);
  for (let i = 0; i < 20; i++) {
    await req.send(`q${i}`);
    const [q] = await rep.receive();
    await rep.send(`${q}!`);
    assert.deepEqual(strs(await req.receive()), [`q${i}!`]);
  }
  await assert.rejects(req.receive(), { code: 'EFSM' });
});

test('DEALER <-> ROUTER with routing ids, ROUTER connect with routingId', async () => {
  const [router, dealer] = await connected(rl.Router, rl.Dealer, { client: { routingId: 'dealer-1' } });
  assert.equal(dealer.routingId, 'dealer-1');
  await dealer.send('hello');
  const [id, m] = await router.receive();
  assert.equal(id.toString(), 'dealer-1');
  assert.equal(m.toString(), 'hello');
  await router.send([id, 'world']);
  assert.deepEqual(strs(await dealer.receive()), ['world']);

  const r2 = track(new rl.Router({ linger: 0, mandatory: true }));
  // ROUTER_MANDATORY: EHOSTUNREACH until the handshake is done; wait for the event (the
  // observer exists before connect, so the event cannot be missed).
  const handshake = nextEvent(r2, 'handshake');
  r2.connect(router.lastEndpoint, { routingId: 'peer-A' });
  await within(handshake, 10000, 'router-router handshake');
  await r2.send(['peer-A', 'via router']);
  const [from, body] = await within(router.receive(), 5000, 'router-router');
  assert.equal(body.toString(), 'via router');
  await router.send([from, 'reply']);
  assert.deepEqual(strs(await within(r2.receive(), 5000, 'reply')), ['peer-A', 'reply']);
});

test('STREAM talks raw TCP (net.Socket peer)', async () => {
  const stream = track(new rl.Stream({ linger: 0 }));
  await stream.bind('tcp://127.0.0.1:*');
  const port = Number(stream.lastEndpoint.split(':').pop());
  const client = net.connect(port, '127.0.0.1');
  await new Promise((r, j) => client.once('connect', r).once('error', j));
  const [id, hello] = await within(stream.receive(), 5000, 'connect notification');
  assert.equal(hello.length, 0); // raw framing: the connect notification is empty
  const data = new Promise((r) => client.once('data', r));
  await stream.send([id, 'raw bytes']);
  assert.equal((await within(data, 5000, 'tcp data')).toString(), 'raw bytes');
  client.write('from tcp');
  let text = '';
  while (text !== 'from tcp') {
    const [rid, chunk] = await within(stream.receive(), 5000, 'stream data');
    assert.ok(rid.equals(id));
    text += chunk.toString();
  }
  client.destroy();
  const [, bye] = await within(stream.receive(), 5000, 'disconnect notification');
  assert.equal(bye.length, 0);
});

test('a Context of its own, and the default context', async () => {
  const ctx = new rl.Context({ ioThreads: 2 });
  assert.equal(ctx.ioThreads, 2);
  const [a, b] = await connected(rl.Pair, rl.Pair, { server: { context: ctx }, client: { context: ctx } });
  assert.equal(a.context, ctx);
  await b.send('ctx');
  assert.deepEqual(strs(await a.receive()), ['ctx']);
  assert.equal(new rl.Pair().context, rl.context);
});

test('ESM entry point exposes the same objects', async () => {
  const esm = await import('../index.mjs');
  assert.equal(esm.Pair, rl.Pair);
  assert.equal(esm.default.context, rl.context);
  assert.equal(typeof esm.version, 'string');
});
