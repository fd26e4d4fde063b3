'use strict';
// No leaks over 100,000 socket cycles: descriptors and RSS flat (child process, --expose-gc).
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFile } = require('node:child_process');

test('100,000 socket cycles: fd count and RSS stay flat', { timeout: 120000 }, async () => {
  const out = await new Promise((resolve, reject) => {
    execFile(process.execPath, ['--expose-gc', path.join(__dirname, '..', 'testlib', 'fixtures', 'cycles.js')],
      { timeout: 110000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${err.message}\n${stderr}`));
        else if (stderr) reject(new Error(stderr));
        else resolve(stdout);
      });
  });
  const r = JSON.parse(out);
  assert.equal(r.cycles, 100000);
  assert.ok(r.end.fds <= r.warm.fds + 2, `descriptors: ${r.warm.fds} after warm-up, ${r.end.fds} at the end`);
  const growth = (r.end.rss - r.warm.rss) / (1 << 20);
  assert.ok(growth < 16, `RSS grew by ${growth.toFixed(1)} MiB over ${r.cycles} cycles (${JSON.stringify(r)})`);
});
