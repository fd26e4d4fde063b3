'use strict';
/*
 * ringlink for Node.js: zeromq.js v6-shaped classes over the native addon (src/*.c).
 *
 * The native classes carry the work: NativeSocket (send/receive/fast paths/options),
 * NativeContext, NativeObserver. This file adds one class per socket type, the camelCase
 * option properties, bind() promises, async iteration and the event-emitter mode of the
 * observer.
 */
const path = require('path');
const { EventEmitter } = require('events');

function loadAddon() {
  const candidates = [
    path.join(__dirname, '..', 'build', 'Release', 'ringlink.node'),
    path.join(__dirname, '..', 'build', 'Debug', 'ringlink.node'),
  ];
  let lastError;
  for (const file of candidates) {
    try {
      return require(file);
    } catch (e) {
      if (e.code !== 'MODULE_NOT_FOUND') throw e;
      lastError = e;
    }
  }
  const err = new Error('ringlink: the native addon is not built; run `npm run build` in ' +
    path.join(__dirname, '..') + ' (needs cargo and a C compiler)');
  err.code = 'ERR_RINGLINK_NOT_BUILT';
  err.cause = lastError;
  throw err;
}

const native = loadAddon();
const { NativeContext, NativeSocket, NativeObserver } = native;

/* Option ids (ringlink.h, libzmq's numbers). */
const OPT = {
  ROUTING_ID: 5, SUBSCRIBE: 6, UNSUBSCRIBE: 7, SNDBUF: 11, RCVBUF: 12, TYPE: 16, LINGER: 17,
  RECONNECT_IVL: 18, BACKLOG: 19, RECONNECT_IVL_MAX: 21, MAXMSGSIZE: 22, SNDHWM: 23, RCVHWM: 24,
  RCVTIMEO: 27, SNDTIMEO: 28, LAST_ENDPOINT: 32, ROUTER_MANDATORY: 33, IMMEDIATE: 39,
  XPUB_VERBOSE: 40, IPV6: 42, PROBE_ROUTER: 51, REQ_CORRELATE: 52, REQ_RELAXED: 53,
  CONFLATE: 54, ROUTER_HANDOVER: 56, CONNECT_ROUTING_ID: 61, HANDSHAKE_IVL: 66,
  XPUB_NODROP: 69, XPUB_MANUAL: 71, XPUB_WELCOME_MSG: 72, STREAM_NOTIFY: 73,
  INVERT_MATCHING: 74, HEARTBEAT_IVL: 75, HEARTBEAT_TTL: 76, HEARTBEAT_TIMEOUT: 77,
  XPUB_VERBOSER: 78, XPUB_MANUAL_LAST_VALUE: 98, ONLY_FIRST_SUBSCRIBE: 108,
  STREAM_FRAMING: 1001,
};

const SocketType = Object.freeze({
  Pair: 0, Publisher: 1, Subscriber: 2, Request: 3, Reply: 4, Dealer: 5, Router: 6, Pull: 7,
  Push: 8, XPublisher: 9, XSubscriber: 10, Stream: 11,
});

/* Define camelCase accessors: spec is {name: [id, kind]} with kind int | bool | int64 |
 * string (bytes read back as a string, null when empty) | buffer. */
function defineOptions(cls, spec) {
  for (const [name, [id, kind]] of Object.entries(spec)) {
    let get, set;
    switch (kind) {
      case 'int':
        get = function () { return this._getInt(id); };
        set = function (v) { this._setInt(id, v); };
        break;
      case 'bool':
        get = function () { return this._getInt(id) !== 0; };
        set = function (v) { this._setInt(id, v ? 1 : 0); };
        break;
      case 'int64':
        get = function () { return this._getInt64(id); };
        set = function (v) { this._setInt64(id, v); };
        break;
      case 'string':
        get = function () { const b = this._getBytes(id); return b.length ? b.toString() : null; };
        set = function (v) { this._setBytes(id, v); };
        break;
      case 'buffer':
        get = function () { const b = this._getBytes(id); return b.length ? b : null; };
        set = function (v) { this._setBytes(id, v); };
        break;
      case 'wo': /* write-only */
        get = undefined;
        set = function (v) { this._setBytes(id, v); };
        break;
      default:
        throw new Error(`bad option kind ${kind}`);
    }
    Object.defineProperty(cls.prototype, name, { get, set, configurable: true, enumerable: true });
  }
}

/* Apply constructor options; an unknown or read-only name is a TypeError (zeromq.js seals
 * its objects for the same reason: a misspelt option must not be ignored silently). */
function assignOptions(target, options, what) {
  if (options === undefined || options === null) return;
  if (typeof options !== 'object') throw new TypeError(`${what} options must be an object`);
  for (const [key, value] of Object.entries(options)) {
    if (key === 'context') continue;
    let proto = Object.getPrototypeOf(target);
    let desc;
    while (proto && !(desc = Object.getOwnPropertyDescriptor(proto, key))) {
      proto = Object.getPrototypeOf(proto);
    }
    if (!desc || !desc.set) {
      throw new TypeError(`${what} has no writable option '${key}'`);
    }
    target[key] = value;
  }
}

class Context extends NativeContext {
  constructor(options) {
    super();
    assignOptions(this, options, 'Context');
  }
  /** Reactor (I/O) threads; default 1. Settable until the first socket is created. */
  get ioThreads() { return this._get(1); }
  set ioThreads(v) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError('ioThreads must be an integer >= 1 (the Node binding needs a reactor thread)');
    }
    this._set(1, v);
  }
  get ipv6() { return this._get(42) !== 0; }
  set ipv6(v) { this._set(42, v ? 1 : 0); }
  /** true (default): new sockets get linger -1 (wait for queued messages at exit);
   *  false: new sockets get linger 0. */
  get blocky() { return this._get(-1); }
  set blocky(v) { this._set(-1, v ? 1 : 0); }
}

const context = new Context();

function asyncIterator() {
  return {
    next: async () => {
      if (this.closed) return { value: undefined, done: true };
      try {
        return { value: await this.receive(), done: false };
      } catch (err) {
        if (this.closed && err.code === 'EAGAIN') return { value: undefined, done: true };
        throw err;
      }
    },
    return: async () => ({ value: undefined, done: true }),
    [Symbol.asyncIterator]() { return this; },
  };
}

class Observer extends NativeObserver {
  constructor(socket) {
    super(socket);
  }
  /** Event-emitter mode (as zeromq.js): after the first on(), events go to listeners and
   *  receive() is no longer available. */
  on(type, listener) {
    this._emitter().on(type, listener);
    return this;
  }
  off(type, listener) {
    this._emitter().off(type, listener);
    return this;
  }
  _emitter() {
    if (this.__emitter) return this.__emitter;
    const emitter = new EventEmitter();
    const receive = NativeObserver.prototype.receive.bind(this);
    Object.defineProperty(this, '__emitter', { value: emitter });
    Object.defineProperty(this, 'receive', {
      value: () => Promise.reject(Object.assign(new Error(
        'Observer is in event emitter mode: after on() events cannot be read with receive()'),
      { code: 'EBUSY' })),
    });
    (async () => {
      while (!this.closed) {
        let event;
        try {
          event = await receive();
        } catch (err) {
          if (this.closed && err.code === 'EAGAIN') return;
          emitter.emit('error', err);
          return;
        }
        emitter.emit(event.type, event);
      }
    })();
    return emitter;
  }
}
Observer.prototype[Symbol.asyncIterator] = asyncIterator;

const kEvents = Symbol('events');
const kAdopt = Symbol('adopt'); // internal: wrap a Receiver's ROUTER (lib/services.js)

class Socket extends NativeSocket {
  constructor(type, options) {
    const ctx = (options && options.context) || context;
    super(type, ctx, (options && options[kAdopt]) || undefined);
    Object.defineProperty(this, 'context', { value: ctx, enumerable: false });
    assignOptions(this, options, this.constructor.name);
  }
  /** Bind; resolves when listening (the bind itself is synchronous in ringlink). */
  bind(address) {
    try {
      this._bind(address);
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.resolve();
  }
  bindSync(address) { this._bind(address); }
  /** Receive one message: Buffer[]. The native calls return the result itself when it is
   *  there at once (much cheaper than a native promise), else a promise. */
  receive() {
    const r = this._receive();
    return r instanceof Promise ? r : Promise.resolve(r);
  }
  /** Wait until messages are queued, then take up to `max` (default 1024): Buffer[][]. */
  receiveMany(max) {
    const r = this._receiveMany(max);
    return r instanceof Promise ? r : Promise.resolve(r);
  }
  /** Wait until messages are queued, then drain frames into buf/lens: the frame count. */
  receiveManyInto(buf, lens) {
    const r = this._receiveManyInto(buf, lens);
    return r instanceof Promise ? r : Promise.resolve(r);
  }
  unbind(address) {
    try {
      this._unbind(address);
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.resolve();
  }
  unbindSync(address) { this._unbind(address); }
  get type() { return this._getInt(OPT.TYPE); }
  get lastEndpoint() {
    const b = this._getBytes(OPT.LAST_ENDPOINT);
    return b.length ? b.toString() : null;
  }
  get readable() { return (this._events() & 1) !== 0; }
  get writable() { return (this._events() & 2) !== 0; }
  /** The socket's monitor events (zeromq.js Observer): `for await (const e of sock.events)`. */
  get events() {
    if (!this[kEvents]) {
      Object.defineProperty(this, kEvents, { value: new Observer(this) });
    }
    return this[kEvents];
  }
}
Socket.prototype[Symbol.asyncIterator] = asyncIterator;

defineOptions(Socket, {
  routingId: [OPT.ROUTING_ID, 'string'],
  sendBufferSize: [OPT.SNDBUF, 'int'],
  receiveBufferSize: [OPT.RCVBUF, 'int'],
  linger: [OPT.LINGER, 'int'],
  reconnectInterval: [OPT.RECONNECT_IVL, 'int'],
  backlog: [OPT.BACKLOG, 'int'],
  reconnectMaxInterval: [OPT.RECONNECT_IVL_MAX, 'int'],
  maxMessageSize: [OPT.MAXMSGSIZE, 'int64'],
  sendHighWaterMark: [OPT.SNDHWM, 'int'],
  receiveHighWaterMark: [OPT.RCVHWM, 'int'],
  receiveTimeout: [OPT.RCVTIMEO, 'int'],
  sendTimeout: [OPT.SNDTIMEO, 'int'],
  immediate: [OPT.IMMEDIATE, 'bool'],
  ipv6: [OPT.IPV6, 'bool'],
  handshakeInterval: [OPT.HANDSHAKE_IVL, 'int'],
  heartbeatInterval: [OPT.HEARTBEAT_IVL, 'int'],
  heartbeatTimeToLive: [OPT.HEARTBEAT_TTL, 'int'],
  heartbeatTimeout: [OPT.HEARTBEAT_TIMEOUT, 'int'],
});

class Pair extends Socket {
  constructor(options) { super(SocketType.Pair, options); }
}

class Publisher extends Socket {
  constructor(options) { super(SocketType.Publisher, options); }
}
defineOptions(Publisher, {
  conflate: [OPT.CONFLATE, 'bool'],
  invertMatching: [OPT.INVERT_MATCHING, 'bool'],
});

function subscribeAll(sock, id, prefixes) {
  if (prefixes.length === 0) sock._setBytes(id, null);
  for (const p of prefixes) sock._setBytes(id, p);
}

class Subscriber extends Socket {
  constructor(options) { super(SocketType.Subscriber, options); }
  /** Subscribe to each prefix (no argument: to everything). */
  subscribe(...prefixes) { subscribeAll(this, OPT.SUBSCRIBE, prefixes); }
  unsubscribe(...prefixes) { subscribeAll(this, OPT.UNSUBSCRIBE, prefixes); }
}
defineOptions(Subscriber, {
  conflate: [OPT.CONFLATE, 'bool'],
  invertMatching: [OPT.INVERT_MATCHING, 'bool'],
});

class XPublisher extends Socket {
  constructor(options) { super(SocketType.XPublisher, options); }
  /** null (only new topics), 'allSubs' (XPUB_VERBOSE), 'allSubsUnsubs' (XPUB_VERBOSER). */
  set verbosity(value) {
    if (value === null || value === undefined) {
      this._setInt(OPT.XPUB_VERBOSER, 0);
      this._setInt(OPT.XPUB_VERBOSE, 0);
    } else if (value === 'allSubs') {
      this._setInt(OPT.XPUB_VERBOSER, 0);
      this._setInt(OPT.XPUB_VERBOSE, 1);
    } else if (value === 'allSubsUnsubs') {
      this._setInt(OPT.XPUB_VERBOSER, 1);
    } else {
      throw new TypeError("verbosity must be null, 'allSubs' or 'allSubsUnsubs'");
    }
  }
  get verbosity() {
    if (this._getInt(OPT.XPUB_VERBOSER)) return 'allSubsUnsubs';
    return this._getInt(OPT.XPUB_VERBOSE) ? 'allSubs' : null;
  }
  /** XPUB_MANUAL: subscribe the peer of the last subscription message. */
  subscribe(...prefixes) { subscribeAll(this, OPT.SUBSCRIBE, prefixes); }
  unsubscribe(...prefixes) { subscribeAll(this, OPT.UNSUBSCRIBE, prefixes); }
}
defineOptions(XPublisher, {
  noDrop: [OPT.XPUB_NODROP, 'bool'],
  manual: [OPT.XPUB_MANUAL, 'bool'],
  manualLastValue: [OPT.XPUB_MANUAL_LAST_VALUE, 'bool'],
  welcomeMessage: [OPT.XPUB_WELCOME_MSG, 'string'],
  invertMatching: [OPT.INVERT_MATCHING, 'bool'],
  onlyFirstSubscribe: [OPT.ONLY_FIRST_SUBSCRIBE, 'bool'],
});

class XSubscriber extends Socket {
  constructor(options) { super(SocketType.XSubscriber, options); }
  subscribe(...prefixes) { subscribeAll(this, OPT.SUBSCRIBE, prefixes); }
  unsubscribe(...prefixes) { subscribeAll(this, OPT.UNSUBSCRIBE, prefixes); }
}
defineOptions(XSubscriber, {
  invertMatching: [OPT.INVERT_MATCHING, 'bool'],
  onlyFirstSubscribe: [OPT.ONLY_FIRST_SUBSCRIBE, 'bool'],
});

class Request extends Socket {
  constructor(options) { super(SocketType.Request, options); }
}
defineOptions(Request, {
  correlate: [OPT.REQ_CORRELATE, 'bool'],
  relaxed: [OPT.REQ_RELAXED, 'bool'],
});

class Reply extends Socket {
  constructor(options) { super(SocketType.Reply, options); }
}

class Dealer extends Socket {
  constructor(options) { super(SocketType.Dealer, options); }
}
defineOptions(Dealer, {
  probeRouter: [OPT.PROBE_ROUTER, 'bool'],
  conflate: [OPT.CONFLATE, 'bool'],
});

function connectWithId(sock, address, options) {
  if (options && options.routingId !== undefined && options.routingId !== null) {
    sock._setBytes(OPT.CONNECT_ROUTING_ID, options.routingId);
  }
  NativeSocket.prototype.connect.call(sock, address);
}

class Router extends Socket {
  constructor(options) { super(SocketType.Router, options); }
  /** connect(address, {routingId}): the id this router routes the new peer by. */
  connect(address, options) { connectWithId(this, address, options); }
}
defineOptions(Router, {
  mandatory: [OPT.ROUTER_MANDATORY, 'bool'],
  handover: [OPT.ROUTER_HANDOVER, 'bool'],
  probeRouter: [OPT.PROBE_ROUTER, 'bool'],
});

class Pull extends Socket {
  constructor(options) { super(SocketType.Pull, options); }
}
defineOptions(Pull, { conflate: [OPT.CONFLATE, 'bool'] });

class Push extends Socket {
  constructor(options) { super(SocketType.Push, options); }
}

class Stream extends Socket {
  constructor(options) { super(SocketType.Stream, options); }
  connect(address, options) { connectWithId(this, address, options); }
  /** 'raw' (libzmq's STREAM) or 'length-prefixed' (4-byte big-endian length per message). */
  get framing() { return this._getInt(OPT.STREAM_FRAMING) === 1 ? 'length-prefixed' : 'raw'; }
  set framing(v) {
    if (v !== 'raw' && v !== 'length-prefixed') {
      throw new TypeError("framing must be 'raw' or 'length-prefixed'");
    }
    this._setInt(OPT.STREAM_FRAMING, v === 'raw' ? 0 : 1);
  }
}
defineOptions(Stream, { notify: [OPT.STREAM_NOTIFY, 'bool'] });

const services = require('./services')(native, { context, Router, kAdopt, OPT });

module.exports = {
  ...services,
  version: native.version(),
  strerror: native.strerror,
  context,
  Context,
  Socket,
  Observer,
  SocketType,
  Pair,
  Publisher,
  Subscriber,
  XPublisher,
  XSubscriber,
  Request,
  Reply,
  Dealer,
  Router,
  Pull,
  Push,
  Stream,
  ROUTING_ID_MAX: 255,
};
