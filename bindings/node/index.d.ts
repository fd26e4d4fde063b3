/// <reference types="node" />
// Hand-written types for the `ringlink` package (checked by test/types.test.js: tsc on
// test/types/sample.ts, and a comparison of the exported classes/methods with the runtime).

/** The library version, "MAJOR.MINOR.PATCH". */
export declare const version: string;
/** ringlink's text for an error number. */
export declare function strerror(errno: number): string;
/** Largest routing id in bytes (sizes the id buffer of recvPair*Into: 255 per message). */
export declare const ROUTING_ID_MAX: 255;

/** Errors thrown or rejected by ringlink carry the error name and number. */
export interface ErrnoError extends Error {
  /** e.g. 'EAGAIN', 'EBUSY', 'EHOSTUNREACH', 'ETERM', 'EMSGSIZE'. */
  code: string;
  errno: number;
}
/** EMSGSIZE from a fast-path receive: the next message needs `needed` bytes of buffer. */
export interface MessageSizeError extends ErrnoError {
  code: 'EMSGSIZE';
  needed: number;
}

export type Message = Buffer;
export type MessageLike = ArrayBufferView | ArrayBuffer | string | number | null;

export declare const SocketType: {
  readonly Pair: 0;
  readonly Publisher: 1;
  readonly Subscriber: 2;
  readonly Request: 3;
  readonly Reply: 4;
  readonly Dealer: 5;
  readonly Router: 6;
  readonly Pull: 7;
  readonly Push: 8;
  readonly XPublisher: 9;
  readonly XSubscriber: 10;
  readonly Stream: 11;
};

export interface ContextOptions {
  /** Reactor (I/O) threads, >= 1 (default 1); settable before the first socket. */
  ioThreads?: number;
  ipv6?: boolean;
  /** true (default): new sockets linger -1; false: new sockets linger 0. */
  blocky?: boolean;
}

export declare class Context {
  constructor(options?: ContextOptions);
  ioThreads: number;
  ipv6: boolean;
  blocky: boolean;
}
/** The shared default context. */
export declare const context: Context;

export type EventType =
  | 'accept' | 'accept:error' | 'bind' | 'bind:error' | 'connect' | 'connect:delay'
  | 'connect:retry' | 'close' | 'close:error' | 'disconnect' | 'end' | 'handshake'
  | 'handshake:error:protocol' | 'handshake:error:other' | 'unknown';

export interface Event {
  type: EventType;
  /** The endpoint (absent on 'end'). */
  address?: string;
  /** 'connect:retry': ms until the next attempt. */
  interval?: number;
  /** The '*:error' events. */
  error?: ErrnoError | (Error & { code: string });
  /** 'disconnect': who ended the connection. */
  reason?: 'remote' | 'local' | 'handshake' | 'transport' | 'unknown';
  /** A description (disconnects, handshake failures). */
  detail?: string;
  /** 'handshake': the peer's routing id. */
  peerRoutingId?: Buffer;
}

/** A socket's monitor (zeromq.js's Observer). */
export declare class Observer {
  constructor(socket: Socket);
  readonly closed: boolean;
  /** The next event; rejects with EAGAIN once the observer is closed. */
  receive(): Promise<Event>;
  close(): void;
  on(type: EventType | 'error', listener: (event: Event) => void): this;
  off(type: EventType | 'error', listener: (event: Event) => void): this;
  [Symbol.asyncIterator](): AsyncIterator<Event, undefined>;
}

export interface SocketOptions {
  context?: Context;
  routingId?: string | Buffer | null;
  sendBufferSize?: number;
  receiveBufferSize?: number;
  linger?: number;
  reconnectInterval?: number;
  backlog?: number;
  reconnectMaxInterval?: number;
  maxMessageSize?: number;
  sendHighWaterMark?: number;
  receiveHighWaterMark?: number;
  receiveTimeout?: number;
  sendTimeout?: number;
  immediate?: boolean;
  ipv6?: boolean;
  handshakeInterval?: number;
  heartbeatInterval?: number;
  heartbeatTimeToLive?: number;
  heartbeatTimeout?: number;
}

export declare abstract class Socket {
  protected constructor(type: number, options?: SocketOptions);
  readonly context: Context;
  readonly closed: boolean;
  readonly type: number;
  readonly lastEndpoint: string | null;
  /** RL_EVENTS: a message can be received / sent now. */
  readonly readable: boolean;
  readonly writable: boolean;
  /** Monitor events (created on first access). */
  readonly events: Observer;

  routingId: string | null;
  sendBufferSize: number;
  receiveBufferSize: number;
  linger: number;
  reconnectInterval: number;
  backlog: number;
  reconnectMaxInterval: number;
  maxMessageSize: number;
  sendHighWaterMark: number;
  receiveHighWaterMark: number;
  receiveTimeout: number;
  sendTimeout: number;
  immediate: boolean;
  ipv6: boolean;
  handshakeInterval: number;
  heartbeatInterval: number;
  heartbeatTimeToLive: number;
  heartbeatTimeout: number;

  bind(address: string): Promise<void>;
  bindSync(address: string): void;
  unbind(address: string): Promise<void>;
  unbindSync(address: string): void;
  connect(address: string): void;
  disconnect(address: string): void;
  /** Close now; pending send/receive reject with EAGAIN ("Socket was closed"). */
  close(): void;

  /** Send one message (one frame or an array of frames). A second send while one is
   *  pending rejects with EBUSY. */
  send(message: MessageLike | MessageLike[]): Promise<void>;
  /** Receive one message, all its frames. */
  receive(): Promise<Message[]>;
  [Symbol.asyncIterator](): AsyncIterator<Message[], undefined>;

  // Fast paths: synchronous, never blocking, one ringlink batch call each.
  /** rl_send_batch: single-frame messages; returns how many were sent (0 if none could). */
  sendMany(messages: MessageLike[]): number;
  /** rl_send_repeat: `payload` `count` times; returns how many were sent. */
  sendManyConst(payload: MessageLike, count: number): number;
  /** rl_send_routed: [ids[i], payloads[i]] messages; returns how many were sent. */
  sendRoutedMany(ids: MessageLike[], payloads: MessageLike[]): number;
  /** rl_send_routed_repeat: [id, payload] `count` times; returns how many were sent. */
  sendRoutedManyConst(id: MessageLike, payload: MessageLike, count: number): number;
  /** rl_send_multipart_batch: whole multipart messages; returns how many were sent. */
  sendMultipartMany(messages: MessageLike[][]): number;
  /** rl_recv_batch (non-blocking): frames packed into `buf`, lengths into `lens`; returns
   *  the frame count (0: nothing queued). Throws EMSGSIZE (with `needed`) when the next
   *  message alone exceeds `buf`. */
  recvManyInto(buf: Uint8Array, lens: Uint32Array): number;
  /** rl_drain: as recvManyInto (meant to follow a readiness wait). */
  drainInto(buf: Uint8Array, lens: Uint32Array): number;
  /** rl_recv_batch_parts (non-blocking): frames into buf/lens, frame count of message j in
   *  parts[j]; returns the message count. */
  recvMultipartManyInto(buf: Uint8Array, lens: Uint32Array, parts: Uint32Array): number;
  /** ROUTER/STREAM, rl_recv_batch_routed (non-blocking): routing ids into idBuf/idLens
   *  (idBuf: 255 bytes per message), payloads into buf/lens; returns the message count. */
  recvPairManyInto(idBuf: Uint8Array, idLens: Uint32Array, buf: Uint8Array, lens: Uint32Array): number;
  /** rl_drain_routed: as recvPairManyInto. */
  recvPairDrainInto(idBuf: Uint8Array, idLens: Uint32Array, buf: Uint8Array, lens: Uint32Array): number;
  /** Wait until something is queued, then take up to `max` (default 1024) whole messages. */
  receiveMany(max?: number): Promise<Message[][]>;
  /** Wait until something is queued, then drain frames into buf/lens; resolves with the
   *  frame count. */
  receiveManyInto(buf: Uint8Array, lens: Uint32Array): Promise<number>;
}

export declare class Pair extends Socket {
  constructor(options?: SocketOptions);
}

export interface PublisherOptions extends SocketOptions {
  conflate?: boolean;
  invertMatching?: boolean;
}
export declare class Publisher extends Socket {
  constructor(options?: PublisherOptions);
  conflate: boolean;
  invertMatching: boolean;
}

export interface SubscriberOptions extends SocketOptions {
  conflate?: boolean;
  invertMatching?: boolean;
}
export declare class Subscriber extends Socket {
  constructor(options?: SubscriberOptions);
  conflate: boolean;
  invertMatching: boolean;
  /** Subscribe to each prefix; no argument: everything. */
  subscribe(...prefixes: Array<Buffer | string>): void;
  unsubscribe(...prefixes: Array<Buffer | string>): void;
}

export interface XPublisherOptions extends SocketOptions {
  noDrop?: boolean;
  manual?: boolean;
  manualLastValue?: boolean;
  welcomeMessage?: string | Buffer | null;
  invertMatching?: boolean;
  onlyFirstSubscribe?: boolean;
  verbosity?: null | 'allSubs' | 'allSubsUnsubs';
}
export declare class XPublisher extends Socket {
  constructor(options?: XPublisherOptions);
  noDrop: boolean;
  manual: boolean;
  manualLastValue: boolean;
  welcomeMessage: string | null;
  invertMatching: boolean;
  onlyFirstSubscribe: boolean;
  verbosity: null | 'allSubs' | 'allSubsUnsubs';
  subscribe(...prefixes: Array<Buffer | string>): void;
  unsubscribe(...prefixes: Array<Buffer | string>): void;
}

export interface XSubscriberOptions extends SocketOptions {
  invertMatching?: boolean;
  onlyFirstSubscribe?: boolean;
}
export declare class XSubscriber extends Socket {
  constructor(options?: XSubscriberOptions);
  invertMatching: boolean;
  onlyFirstSubscribe: boolean;
  subscribe(...prefixes: Array<Buffer | string>): void;
  unsubscribe(...prefixes: Array<Buffer | string>): void;
}

export interface RequestOptions extends SocketOptions {
  correlate?: boolean;
  relaxed?: boolean;
}
export declare class Request extends Socket {
  constructor(options?: RequestOptions);
  correlate: boolean;
  relaxed: boolean;
}

export declare class Reply extends Socket {
  constructor(options?: SocketOptions);
}

export interface DealerOptions extends SocketOptions {
  probeRouter?: boolean;
  conflate?: boolean;
}
export declare class Dealer extends Socket {
  constructor(options?: DealerOptions);
  probeRouter: boolean;
  conflate: boolean;
}

export interface RouterOptions extends SocketOptions {
  mandatory?: boolean;
  handover?: boolean;
  probeRouter?: boolean;
}
export interface RouterConnectOptions {
  /** The routing id this router gives the peer of this connect. */
  routingId?: string | Buffer;
}
export declare class Router extends Socket {
  constructor(options?: RouterOptions);
  mandatory: boolean;
  handover: boolean;
  probeRouter: boolean;
  connect(address: string, options?: RouterConnectOptions): void;
}

export interface PullOptions extends SocketOptions {
  conflate?: boolean;
}
export declare class Pull extends Socket {
  constructor(options?: PullOptions);
  conflate: boolean;
}

export declare class Push extends Socket {
  constructor(options?: SocketOptions);
}

export interface StreamOptions extends SocketOptions {
  notify?: boolean;
  framing?: 'raw' | 'length-prefixed';
}
export declare class Stream extends Socket {
  constructor(options?: StreamOptions);
  notify: boolean;
  framing: 'raw' | 'length-prefixed';
  connect(address: string, options?: RouterConnectOptions): void;
}

// ---------------------------------------------------------------- service layer
// (registry, discovery, receiver, gateway, SPOT: README "Services", docs/services.md)

export declare const ServiceType: { readonly Gateway: 1; readonly Spot: 2 };
export declare const LoadBalance: { readonly RoundRobin: 0; readonly Weighted: 1 };

export interface RegistryOptions {
  /** PUB endpoint (the list); default tcp://127.0.0.1:* */
  pubEndpoint?: string;
  /** ROUTER endpoint (requests); default tcp://127.0.0.1:* */
  routerEndpoint?: string;
  id?: number;
  /** ms without a heartbeat before a provider is removed (default 15000) */
  heartbeatTimeout?: number;
  /** ms between list broadcasts (default 30000) */
  broadcastInterval?: number;
  /** peer registries' PUB endpoints (HA cluster) */
  peers?: string[];
  context?: Context;
}
export declare class Registry {
  constructor(options?: RegistryOptions);
  setId(id: number): void;
  setHeartbeat(timeoutMs: number): void;
  setBroadcastInterval(intervalMs: number): void;
  addPeer(pubEndpoint: string): void;
  /** Bind both endpoints and start the worker. */
  start(): void;
  /** As bound (after start()). */
  readonly pubEndpoint: string;
  readonly routerEndpoint: string;
  readonly closed: boolean;
  close(): void;
}

export interface ProviderInfo {
  endpoint: string;
  routingId: Buffer;
  weight: number;
}
export declare class Discovery {
  constructor(type: 'gateway' | 'spot' | 1 | 2, options?: { context?: Context });
  connectRegistry(pubEndpoint: string): void;
  subscribe(service: string): void;
  unsubscribe(service: string): void;
  providers(service: string): ProviderInfo[];
  providerCount(service: string): number;
  serviceAvailable(service: string): boolean;
  /** Resolves with the provider count once there is one; rejects EAGAIN after timeoutMs. */
  waitAvailable(service: string, timeoutMs?: number): Promise<number>;
  /** Called on the JS thread for every change (null removes it). */
  onChange(fn: ((service: string, providers: number) => void) | null): void;
  on(event: 'change', listener: (service: string, providers: number) => void): this;
  off(event: 'change', listener: (service: string, providers: number) => void): this;
  readonly closed: boolean;
  close(): void;
}

export declare class Receiver {
  constructor(options?: { routingId?: string | Buffer; context?: Context });
  readonly context: Context;
  connectRegistry(routerEndpoint: string): void;
  /** Returns the endpoint as bound (wildcard port resolved). */
  bind(endpoint: string): string;
  register(service: string, advertise?: string | null, weight?: number): Promise<void>;
  updateWeight(service: string, weight: number): Promise<void>;
  unregister(service: string): void;
  /** The receiver's ROUTER: requests [gatewayId, ...parts], replies [gatewayId, ...parts]. */
  readonly router: Router;
  readonly closed: boolean;
  close(): void;
}

export interface ServiceReply {
  service: string;
  parts: Buffer[];
}
export declare class Gateway {
  constructor(discovery: Discovery, options?: { routingId?: string | Buffer; context?: Context });
  send(service: string, msg: MessageLike | MessageLike[]): Promise<void>;
  sendRid(service: string, routingId: string | Buffer, msg: MessageLike | MessageLike[]): Promise<void>;
  recv(): Promise<ServiceReply>;
  /** Synchronous batch: how many went out now (0 when every provider is full). */
  gatewaySendManyConst(service: string, payload: MessageLike, count: number): number;
  sendManyConst(service: string, payload: MessageLike, count: number): number;
  setLb(service: string, strategy: 'round-robin' | 'weighted' | 0 | 1): void;
  connectionCount(service: string): number;
  readonly closed: boolean;
  close(): void;
}

export interface SpotMessage {
  topic: string;
  parts: Buffer[];
}
export declare class SpotNode {
  /** sendHighWaterMark: the PUB's per-peer limit (a PUB drops past it; default 1000, 0: none);
   *  receiveHighWaterMark: the SUB's; sendBufferSize / receiveBufferSize: the PUB's / SUB's
   *  kernel socket buffers. */
  constructor(options?: { context?: Context; sendHighWaterMark?: number; receiveHighWaterMark?: number; sendBufferSize?: number; receiveBufferSize?: number });
  connectRegistry(routerEndpoint: string): void;
  /** Returns the endpoint as bound. */
  bind(endpoint: string): string;
  connectPeer(pubEndpoint: string): void;
  disconnectPeer(pubEndpoint: string): void;
  /** Resolves with the advertised endpoint. */
  register(service?: string | null, advertise?: string | null): Promise<string>;
  unregister(service?: string | null): void;
  setDiscovery(discovery: Discovery, service?: string | null): void;
  publish(topic: string | Buffer, msg: MessageLike | MessageLike[]): void;
  publishManyConst(topic: string | Buffer, payload: MessageLike, count: number): number;
  spotPublishManyConst(topic: string | Buffer, payload: MessageLike, count: number): number;
  /** Messages dropped because a local subscriber's queue was full. */
  dropped(): number;
  /** Messages the node's PUB dropped for a peer at its sendHighWaterMark. */
  publisherDropped(): number;
  subscriber(): SpotSub;
  readonly closed: boolean;
  close(): void;
}
export declare class SpotSub {
  constructor(node: SpotNode);
  subscribe(topic: string): void;
  /** 'prefix*' */
  subscribePattern(pattern: string): void;
  unsubscribe(topicOrPattern: string): void;
  recv(timeoutMs?: number): Promise<SpotMessage>;
  spotRecvMany(max?: number, timeoutMs?: number): Promise<Array<{ topic: string; payload: Buffer }>>;
  spotRecvManyInto(topicBuf: Buffer, topicLens: Uint32Array, payloadBuf: Buffer, payloadLens: Uint32Array): number;
  setHandler(fn: ((topic: string, parts: Buffer[]) => void) | null): void;
  readonly closed: boolean;
  close(): void;
}
