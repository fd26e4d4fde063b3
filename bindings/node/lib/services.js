'use strict';
/*
 * The service layer (zlink's registry / discovery / receiver / gateway / SPOT) over the
 * native classes of src/services*.c. See README.md "Services" and docs/services.md.
 *
 * Conventions as for sockets: ringlink errors are Errors with .code / .errno; calls that may
 * wait return promises (resolved at once when nothing had to wait); the batch calls are
 * synchronous and return counts; anything called after close() fails with EBADF; close()
 * rejects pending operations with EAGAIN.
 */

/** Whether buf[a..a+len] and buf[b..b+len] hold the same bytes (a < 0: no earlier topic). */
function sameBytes(buf, a, b, len) {
  if (a < 0) return false;
  for (let k = 0; k < len; k++) if (buf[a + k] !== buf[b + k]) return false;
  return true;
}

const { EventEmitter } = require('events');

const ServiceType = Object.freeze({ Gateway: 1, Spot: 2 });
const LoadBalance = Object.freeze({ RoundRobin: 0, Weighted: 1 });

function serviceType(t) {
  if (t === 'gateway' || t === ServiceType.Gateway) return ServiceType.Gateway;
  if (t === 'spot' || t === ServiceType.Spot) return ServiceType.Spot;
  throw new TypeError("service type must be 'gateway' or 'spot'");
}

function lbStrategy(s) {
  if (s === 'round-robin' || s === 'roundRobin' || s === LoadBalance.RoundRobin) return LoadBalance.RoundRobin;
  if (s === 'weighted' || s === LoadBalance.Weighted) return LoadBalance.Weighted;
  throw new TypeError("strategy must be 'round-robin' or 'weighted'");
}

const asPromise = (r) => (r instanceof Promise ? r : Promise.resolve(r));

function checkOptions(options, allowed, what) {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object') throw new TypeError(`${what} options must be an object`);
  for (const k of Object.keys(options)) {
    if (!allowed.includes(k)) throw new TypeError(`${what} has no option '${k}'`);
  }
  return options;
}

module.exports = function defineServices(native, { context, Router, kAdopt, OPT }) {
  const {
    NativeRegistry, NativeDiscovery, NativeReceiver, NativeGateway, NativeSpotNode, NativeSpotSub,
  } = native;

  /** A registry: receivers and SPOT nodes register with it, discoveries follow its list. */
  class Registry extends NativeRegistry {
    /** options: pubEndpoint / routerEndpoint (default tcp://127.0.0.1:*), id,
     *  heartbeatTimeout (ms), broadcastInterval (ms), peers (PUB endpoints), context.
     *  Configure, then start(). */
    constructor(options) {
      const o = checkOptions(options, ['pubEndpoint', 'routerEndpoint', 'id', 'heartbeatTimeout', 'broadcastInterval', 'peers', 'context'], 'Registry');
      super(o.context || context, o.pubEndpoint || 'tcp://127.0.0.1:*', o.routerEndpoint || 'tcp://127.0.0.1:*');
      try {
        if (o.id !== undefined) this.setId(o.id);
        if (o.heartbeatTimeout !== undefined) this.setHeartbeat(o.heartbeatTimeout);
        if (o.broadcastInterval !== undefined) this.setBroadcastInterval(o.broadcastInterval);
        for (const p of o.peers || []) this.addPeer(p);
      } catch (err) {
        this.close();
        throw err;
      }
    }
    /** The PUB endpoint as bound (after start()): what discoveries connect to. */
    get pubEndpoint() { return this._pubEndpoint(); }
    /** The ROUTER endpoint as bound (after start()): what receivers and nodes register with. */
    get routerEndpoint() { return this._routerEndpoint(); }
  }

  const kEmitter = Symbol('emitter');

  /** A discovery of 'gateway' services (receivers) or 'spot' services (SPOT nodes). */
  class Discovery extends NativeDiscovery {
    constructor(type, options) {
      const o = checkOptions(options, ['context'], 'Discovery');
      super(o.context || context, serviceType(type));
    }
    /** Resolves with the number of providers once `name` has one (EAGAIN after timeoutMs;
     *  -1 or undefined: no limit). */
    waitAvailable(name, timeoutMs = -1) { return asPromise(this._waitAvailable(name, timeoutMs)); }
    /** fn(service, providers) for every change (null removes it). It runs on the JS thread;
     *  ringlink calls it on its own thread, forwarded by a threadsafe function. */
    onChange(fn) {
      if (this[kEmitter] && this[kEmitter].listenerCount('change')) {
        throw Object.assign(new Error("onChange() cannot be mixed with on('change')"), { code: 'EBUSY' });
      }
      this._setCallback(fn === undefined ? null : fn);
    }
    /** Event emitter mode: on('change', (service, providers) => ...). */
    on(event, listener) {
      if (event !== 'change') throw new TypeError("Discovery emits only 'change'");
      if (!this[kEmitter]) Object.defineProperty(this, kEmitter, { value: new EventEmitter() });
      const em = this[kEmitter];
      if (em.listenerCount('change') === 0) this._setCallback((s, n) => em.emit('change', s, n));
      em.on('change', listener);
      return this;
    }
    off(event, listener) {
      const em = this[kEmitter];
      if (!em) return this;
      em.off(event, listener);
      if (em.listenerCount('change') === 0 && !this.closed) this._setCallback(null);
      return this;
    }
  }

  const kRouter = Symbol('router');

  /** The request-handler side: register services, serve on `router` (a ringlink Router). */
  class Receiver extends NativeReceiver {
    /** options: routingId (string or bytes, 1..255; default random), context. */
    constructor(options) {
      const o = checkOptions(options, ['routingId', 'context'], 'Receiver');
      const ctx = o.context || context;
      super(ctx, o.routingId === undefined ? null : o.routingId);
      Object.defineProperty(this, 'context', { value: ctx, enumerable: false });
    }
    /** Register `name` (advertise: the endpoint gateways connect to, default the bound one;
     *  weight >= 1). Resolves once the registry accepted it. */
    register(name, advertise = null, weight = 1) { return this._register(name, advertise, weight); }
    updateWeight(name, weight) { return this._updateWeight(name, weight); }
    /** The receiver's ROUTER as a ringlink Router socket: requests arrive as
     *  [gateway id, ...parts], replies go out as [gateway id, ...parts]. Every socket call
     *  works on it (send/receive, fast paths, options, events). Closed with the receiver. */
    get router() {
      if (!this[kRouter] || this[kRouter].closed) {
        if (this.closed) throw Object.assign(new Error('Receiver is closed'), { code: 'EBADF', errno: 9 });
        const r = new Router({ context: this.context, [kAdopt]: this });
        Object.defineProperty(r, 'receiver', { value: this, enumerable: false });
        Object.defineProperty(this, kRouter, { value: r, writable: true, configurable: true });
      }
      return this[kRouter];
    }
  }

  /** Sends requests to the services a gateway Discovery sees, load-balanced. */
  class Gateway extends NativeGateway {
    /** options: routingId (the gateway's own id as providers see it), context. */
    constructor(discovery, options) {
      const o = checkOptions(options, ['routingId', 'context'], 'Gateway');
      super(o.context || context, discovery, o.routingId === undefined ? null : o.routingId);
      Object.defineProperty(this, 'discovery', { value: discovery, enumerable: false });
    }
    /** Send a request (a part or an array of parts) to a provider of `service`. Resolved at
     *  once when it went out; while every provider is full it waits on the event loop (the
     *  gateway's fd, rl_gateway_wait_fd), never blocking it. One pending send (EBUSY). */
    send(service, msg) { return this._send(service, msg, null); }
    /** Send to the provider of `service` whose routing id is `routingId`. */
    sendRid(service, routingId, msg) { return this._send(service, msg, routingId); }
    /** The next reply: {service, parts}. A wait happens on the event loop (as send's), never
     *  blocking it. One pending recv at a time (EBUSY). */
    recv() { return asPromise(this._recv()); }
    /** Send `payload` `count` times (each to the next provider); returns how many went out
     *  now (synchronous, never waits; fewer when every provider is full). */
    gatewaySendManyConst(service, payload, count) { return this.sendManyConst(service, payload, count); }
    /** 'round-robin' (default) or 'weighted'. */
    setLb(service, strategy) { this._setLb(service, lbStrategy(strategy)); }
  }

  /** A SPOT node: a topic mesh of PUB/SUB between nodes (manual peers or a discovery). */
  class SpotNode extends NativeSpotNode {
    /** options: context; sendHighWaterMark (the PUB's, per peer: a PUB drops past it,
     *  default 1000, 0 = no limit) and receiveHighWaterMark (the SUB's, per peer);
     *  sendBufferSize / receiveBufferSize (the PUB's / SUB's kernel socket buffers). */
    constructor(options) {
      const o = checkOptions(options, ['context', 'sendHighWaterMark', 'receiveHighWaterMark',
        'sendBufferSize', 'receiveBufferSize'], 'SpotNode');
      super(o.context || context);
      if (o.sendHighWaterMark !== undefined) this._setsockopt(1, OPT.SNDHWM, o.sendHighWaterMark);
      if (o.receiveHighWaterMark !== undefined) this._setsockopt(2, OPT.RCVHWM, o.receiveHighWaterMark);
      if (o.sendBufferSize !== undefined) this._setsockopt(1, OPT.SNDBUF, o.sendBufferSize);
      if (o.receiveBufferSize !== undefined) this._setsockopt(2, OPT.RCVBUF, o.receiveBufferSize);
    }
    /** Register this node as `service` (default 'spot-node') with the registries; resolves
     *  with the advertised endpoint. */
    register(service = null, advertise = null) { return this._register(service, advertise); }
    unregister(service = null) { this._unregister(service); }
    /** Publish `count` copies of `payload` on `topic` at once; returns count. */
    spotPublishManyConst(topic, payload, count) { return this.publishManyConst(topic, payload, count); }
    /** A new local subscriber. */
    subscriber() { return new SpotSub(this); }
  }

  const kMany = Symbol('many');

  /** A subscriber of a SpotNode: exact topics or 'prefix*' patterns. */
  class SpotSub extends NativeSpotSub {
    constructor(node) {
      super(node);
      Object.defineProperty(this, 'node', { value: node, enumerable: false });
    }
    /** The next message: {topic, parts}. Rejects with EAGAIN when none came within
     *  timeoutMs (-1: no limit). */
    recv(timeoutMs = -1) { return asPromise(this._recv(timeoutMs)); }
    /** The fast path, synchronous: one rl_spot_recv_many into the caller's buffers (topics
     *  and payloads back to back, lengths in the Uint32Arrays); returns the message count
     *  (0: none queued). */
    spotRecvManyInto(topicBuf, topicLens, payloadBuf, payloadLens) {
      return this._recvManyInto(topicBuf, topicLens, payloadBuf, payloadLens, 0);
    }
    /** Up to `max` messages as [{topic, payload}] from one rl_spot_recv_many call into this
     *  subscriber's preallocated buffers: waits up to timeoutMs (-1: no limit) for the first
     *  one, then takes what is queued; [] when none came in time. Multipart messages come
     *  with their parts concatenated (use recv() for those). */
    async spotRecvMany(max = 1024, timeoutMs = -1) {
      let m = this[kMany];
      if (!m || m.lens.length < max) {
        m = { tbuf: Buffer.allocUnsafe(Math.max(4096, 32 * max)), tlens: new Uint32Array(max), pbuf: Buffer.allocUnsafe(1 << 20), lens: new Uint32Array(max) };
        Object.defineProperty(this, kMany, { value: m, writable: true, configurable: true });
      }
      const tl = max === m.lens.length ? m.tlens : m.tlens.subarray(0, max);
      const pl = max === m.lens.length ? m.lens : m.lens.subarray(0, max);
      let n;
      for (;;) {
        try {
          n = await asPromise(this._recvManyInto(m.tbuf, tl, m.pbuf, pl, timeoutMs));
          break;
        } catch (err) {
          if (err.code !== 'EMSGSIZE' || m.pbuf.length >= 1 << 30) throw err;
          m.pbuf = Buffer.allocUnsafe(m.pbuf.length * 4); // the first message does not fit
          m.tbuf = Buffer.allocUnsafe(Math.max(m.tbuf.length, 256 * max));
        }
      }
      const out = new Array(n);
      let total = 0;
      for (let i = 0; i < n; i++) total += pl[i];
      const all = Buffer.from(m.pbuf.subarray(0, total)); // one copy for the batch
      let toff = 0;
      let poff = 0;
      // A run of one topic (the usual case) decodes its string once: each short topic is
      // compared byte by byte with the one before it (cheaper than decoding it again).
      let topic = '';
      let prevOff = -1;
      let prevLen = -1;
      for (let i = 0; i < n; i++) {
        const len = tl[i];
        if (len !== prevLen || len > 64 || !sameBytes(m.tbuf, prevOff, toff, len)) {
          topic = m.tbuf.toString('utf8', toff, toff + len);
        }
        out[i] = { topic, payload: all.subarray(poff, poff + pl[i]) };
        prevOff = toff;
        prevLen = len;
        toff += len;
        poff += pl[i];
      }
      return out;
    }
    /** fn(topic, parts) for every message, on the JS thread (null: back to recv()). While a
     *  handler is set, recv() and spotRecvMany() fail with EINVAL. */
    setHandler(fn) { this._setHandler(fn === undefined ? null : fn); }
  }

  return { ServiceType, LoadBalance, Registry, Discovery, Receiver, Gateway, SpotNode, SpotSub };
};
