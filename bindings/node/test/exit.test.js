'use strict';
// Process lifetime: idle sockets never keep a process alive, a pending receive does, close()
// ends a pending gateway recv and its worker thread, and garbage-collected sockets release
// their descriptors.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { rl, track, closeAll, within } = require('../testlib/helpers');

test.afterEach(closeAll);

function child(script, args = [], onLine = () => {}) {
  const p = spawn(process.execPath, [...args, path.join(__dirname, '..', 'testlib', 'fixtures', script)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => {
    const before = out.length;
    out += d;
    for (const line of out.slice(before ? out.lastIndexOf('\n', before - 1) + 1 : 0).split('\n').slice(0, -1)) onLine(line, p);
  });
  p.stderr.on('data', (d) => { err += d; });
  const done = new Promise((resolve) => p.on('exit', (code, signal) => resolve({ code, signal, out, err })));
  return { p, done: done.then((r) => ({ ...r, out, err })) };
}

test('a process with idle open sockets exits by itself', async () => {
  const { p, done } = child('idle-exit.js');
  const r = await within(done, 20000, 'child exit').catch((e) => { p.kill('SIGKILL'); throw e; });
  assert.equal(r.err, '');
  assert.equal(r.code, 0);
  assert.equal(r.out, 'ready bind\n');
});

test('a pending receive keeps the process alive until its message arrives', async () => {
  const push = track(new rl.Push({ linger: 0 }));
  let sentTo = null;
  const { p, done } = child('pending-receive.js', [], (line) => {
    const m = /^endpoint (.+)$/.exec(line);
    if (m && !sentTo) {
      sentTo = m[1];
      push.connect(sentTo);
      push.send('hello');
    }
  });
  const r = await within(done, 20000, 'child exit').catch((e) => { p.kill('SIGKILL'); throw e; });
  assert.equal(r.err, '');
  assert.match(r.out, /^endpoint tcp:\/\/127\.0\.0\.1:\d+\ngot hello\n$/);
  assert.equal(r.code, 0);
});

test('close() ends a pending gateway recv at once; its worker thread exits; so does the process', async () => {
  const t0 = Date.now();
  const { p, done } = child('gateway-close-exit.js');
  const r = await within(done, 20000, 'child exit').catch((e) => { p.kill('SIGKILL'); throw e; });
  assert.equal(r.err, '');
  const m = /^rejected EAGAIN in (\d+) ms\nworker exited\n$/.exec(r.out);
  assert.ok(m, `child output: ${r.out}`);
  // Generous for a loaded 2-core machine; without the 100 ms slices the worker never exits.
  assert.ok(Number(m[1]) < 10000, `rejected promptly: ${r.out}`);
  assert.equal(r.code, 0);
  assert.ok(Date.now() - t0 < 20000);
});

test('garbage-collected sockets release their descriptors; their context terminates', async () => {
  const { p, done } = child('gc-sockets.js', ['--expose-gc']);
  const r = await within(done, 30000, 'child exit').catch((e) => { p.kill('SIGKILL'); throw e; });
  assert.equal(r.err, '');
  const stats = JSON.parse(r.out);
  assert.ok(stats.during > stats.base + 100, `sockets held descriptors: ${r.out}`);
  assert.ok(stats.after <= stats.base + 2, `descriptors released: ${r.out}`);
  assert.equal(r.code, 0);
});
