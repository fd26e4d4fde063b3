// ESM entry point: the same objects as the CommonJS one (one addon instance).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const rl = require('./lib/index.js');

export default rl;
export const {
  version,
  strerror,
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
  ROUTING_ID_MAX,
  ServiceType,
  LoadBalance,
  Registry,
  Discovery,
  Receiver,
  Gateway,
  SpotNode,
  SpotSub,
} = rl;
