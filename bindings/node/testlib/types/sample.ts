// Compiled (not run) by test/types.test.js with `tsc --noEmit --strict`: uses the whole
// declared API the way an application would; a wrong or missing declaration fails the build.
import * as rl from 'ringlink';
import { Pair, Publisher, Subscriber, XPublisher, XSubscriber, Request, Reply, Dealer, Router, Pull, Push, Stream, Context, Observer, context } from 'ringlink';
import type { ErrnoError, Event, MessageSizeError } from 'ringlink';

async function main(): Promise<void> {
  const ctx: Context = new Context({ ioThreads: 1, blocky: false, ipv6: false });
  const n: number = ctx.ioThreads;
  const shared: Context = context;
  const pair = new Pair({ linger: 0, sendHighWaterMark: 10, context: ctx, routingId: 'x' });
  await pair.bind('tcp://127.0.0.1:*');
  pair.bindSync('ipc:///tmp/x');
  const ep: string | null = pair.lastEndpoint;
  pair.connect('tcp://127.0.0.1:5555');
  pair.disconnect('tcp://127.0.0.1:5555');
  await pair.unbind('ipc:///tmp/x');
  await pair.send('a');
  await pair.send(['a', Buffer.alloc(1), new Uint8Array(2), 3, null]);
  const msg: Buffer[] = await pair.receive();
  for await (const [frame] of pair) { const b: Buffer = frame; void b; break; }
  const many: Buffer[][] = await pair.receiveMany(10);
  const buf = Buffer.alloc(1024);
  const lens = new Uint32Array(64);
  const k: number = await pair.receiveManyInto(buf, lens);
  const sent: number = pair.sendMany([Buffer.alloc(1), 'x']) + pair.sendManyConst(buf, 5) +
    pair.sendRoutedMany(['id'], ['p']) + pair.sendRoutedManyConst('id', 'p', 3) +
    pair.sendMultipartMany([['a', 'b'], ['c']]);
  const got: number = pair.recvManyInto(buf, lens) + pair.drainInto(buf, lens) +
    pair.recvMultipartManyInto(buf, lens, new Uint32Array(64));
  const router = new Router({ mandatory: true, handover: false, probeRouter: false });
  router.connect('tcp://127.0.0.1:1', { routingId: 'peer' });
  const ids = Buffer.alloc(255 * 64);
  const pairs: number = router.recvPairManyInto(ids, lens, buf, lens) + router.recvPairDrainInto(ids, lens, buf, lens);
  const sub = new Subscriber({ conflate: false, invertMatching: false });
  sub.subscribe('a', Buffer.from('b'));
  sub.subscribe();
  sub.unsubscribe('a');
  const xpub = new XPublisher({ noDrop: true, manual: false, welcomeMessage: 'hi', verbosity: 'allSubs' });
  xpub.verbosity = null;
  const welcome: string | null = xpub.welcomeMessage;
  const xsub = new XSubscriber({ onlyFirstSubscribe: true });
  xsub.subscribe('t');
  const req = new Request({ correlate: true, relaxed: true });
  const rep = new Reply();
  const dealer = new Dealer({ probeRouter: true, conflate: false });
  const pull = new Pull({ conflate: true, receiveTimeout: 100 });
  const push = new Push({ sendTimeout: 100, immediate: true });
  const pub = new Publisher({ conflate: false, invertMatching: false });
  const stream = new Stream({ notify: true, framing: 'length-prefixed' });
  stream.connect('tcp://127.0.0.1:1', { routingId: 's' });
  const obs: Observer = pair.events;
  const ev: Event = await obs.receive();
  const t: string = ev.type;
  obs.on('connect', (e: Event) => { void e.address; }).off('connect', () => {});
  for await (const e of pair.events) { void e.type; break; }
  try {
    await pair.send('x');
  } catch (e) {
    const err = e as ErrnoError;
    const code: string = err.code;
    const errno: number = err.errno;
    void code; void errno;
    const size = e as MessageSizeError;
    const needed: number = size.needed;
    void needed;
  }
  pair.linger = 5;
  pair.heartbeatInterval = pair.heartbeatTimeout + pair.heartbeatTimeToLive;
  const flags: boolean = pair.readable && pair.writable && pair.closed && pair.immediate && pair.ipv6;
  const v: string = rl.version + rl.strerror(11);
  const max: 255 = rl.ROUTING_ID_MAX;
  const ty: number = rl.SocketType.Router + pair.type;
  for (const s of [pair, router, sub, xpub, xsub, req, rep, dealer, pull, push, pub, stream]) s.close();
  void [n, shared, ep, msg, many, k, sent, got, pairs, welcome, t, flags, v, max, ty];
}
void main;

// @ts-expect-error: Publisher has no subscribe()
new Publisher().subscribe('x');
// @ts-expect-error: unknown option
new Pair({ lingr: 0 });
// @ts-expect-error: fast paths take a Uint32Array of lengths
new Pair().recvManyInto(Buffer.alloc(1), [1]);
