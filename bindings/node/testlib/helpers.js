'use strict';
// Shared test helpers: unique endpoints, socket cleanup, bounded waits on events.
const fs = require('fs');
const os = require('os');
const path = require('path');
const rl = require('..');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ringlink-node-test-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
let seq = 0;

/** A fresh ipc endpoint in this process's temporary directory. */
function ipcEndpoint() {
  return `ipc://${path.join(tmp, `s${process.pid}-${seq++}.sock`)}`;
}

/** Sockets created through track() are closed by closeAll(). */
const open = new Set();
function track(sock) {
  open.add(sock);
  return sock;
}
function closeAll() {
  for (const s of open) if (!s.closed) s.close();
  open.clear();
}

/** Resolve `p`, or reject after `ms` (a safety net for a hang, never a readiness wait). */
function within(p, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** A bound + connected pair of sockets (receiver binds on tcp://127.0.0.1:* unless an
 *  endpoint is given). Resolves once the connection's handshake is done. */
async function connected(Server, Client, opts = {}) {
  const server = track(new Server({ linger: 0, ...(opts.server || {}) }));
  const client = track(new Client({ linger: 0, ...(opts.client || {}) }));
  const handshake = nextEvent(server, 'handshake');
  await server.bind(opts.endpoint || 'tcp://127.0.0.1:*');
  client.connect(server.lastEndpoint, opts.connect);
  await within(handshake, 10000, 'handshake');
  return [server, client];
}

/** The next monitor event of `type` on `sock`. */
async function nextEvent(sock, type) {
  for (;;) {
    const e = await sock.events.receive();
    if (e.type === type) return e;
    if (e.type === 'end') throw new Error(`observer ended before '${type}'`);
  }
}

module.exports = { rl, tmp, ipcEndpoint, track, closeAll, within, connected, nextEvent };
