#!/usr/bin/env node
'use strict';
/*
 * The Node benchmark: ringlink per-message async API, ringlink fast paths, zeromq.js 6, and
 * ringlink's C batch API (bench/c/rl_bench.c) as the ceiling; plus an awaited ping-pong
 * latency, ringlink vs zeromq.js.
 *
 *   node bench/run.js [--reps 5] [--count 200000] [--size 64]
 *                     [--patterns PAIR,PUBSUB,DEALER_DEALER,DEALER_ROUTER,ROUTER_ROUTER,ROUTER_ROUTER_POLL,STREAM,GATEWAY,SPOT]
 *                     [--impls rl-async,rl-fast,zmq,c] [--latency 20000] [--svc-latency 5000] [--out DIR]
 *
 * GATEWAY and SPOT (ringlink's service layer, bench/services.js) run rl-async (fast path
 * off: per-message send / receive) and rl-fast (gatewaySendManyConst + the receiver ROUTER's
 * batch receive; spotPublishManyConst + spotRecvMany); zeromq.js and C have no such rows.
 * Their latency (--svc-latency round trips, 0: none) is measured per repetition with the
 * per-message calls: p50 and p99.
 *
 * Each run is two processes (bench/peer.js: receiver binds tcp://127.0.0.1:*, sender
 * connects); throughput is measured at the receiver from the first to the last measured
 * message. Within a repetition every pattern runs every implementation, in an order that
 * rotates per repetition (interleaved), so drifts of a shared machine hit all alike. The C
 * ceiling is rl_bench (two threads of one process, `-a batch`), built as bench/c/run.sh
 * does (cc -O2 against the header and cargo's libringlink.a, which must exist: `npm run
 * build` makes it); it drives PAIR, DEALER_ROUTER and ROUTER_ROUTER_POLL only.
 * Reported: per-implementation medians, and paired ratios (the ratio within each
 * repetition, then the median of those). Output: DIR/results.json, DIR/results.md,
 * DIR/throughput.svg (DIR default bench/results). Wrap the whole run in the machine's
 * heavy-job lock where there is one (flock /work/.heavy.lock node bench/run.js).
 */
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { svgChart } = require('./svg');

const ALL_PATTERNS = ['PAIR', 'PUBSUB', 'DEALER_DEALER', 'DEALER_ROUTER', 'ROUTER_ROUTER', 'ROUTER_ROUTER_POLL', 'STREAM', 'GATEWAY', 'SPOT'];
const C_PATTERNS = ['PAIR', 'DEALER_ROUTER', 'ROUTER_ROUTER_POLL'];
const SVC_PATTERNS = ['GATEWAY', 'SPOT'];
const SEED_NODE = { PAIR: 4737.75, PUBSUB: 4938.34, DEALER_DEALER: 4697.84, DEALER_ROUTER: 4146.90, ROUTER_ROUTER: 3883.17, ROUTER_ROUTER_POLL: 3797.81, STREAM: 2432.78, GATEWAY: 4765.89, SPOT: 2106.73 };
const LABEL = { 'rl-async': 'ringlink async', 'rl-fast': 'ringlink fast path', zmq: 'zeromq.js', c: 'C batch API' };

function parseArgs(argv) {
  const o = { reps: 5, count: 200000, size: 64, patterns: ALL_PATTERNS, impls: ['rl-async', 'rl-fast', 'zmq', 'c'], latency: 20000, svcLatency: 5000, out: path.join(__dirname, 'results') };
  for (let i = 0; i < argv.length; i++) {
    const [k, v] = argv[i].includes('=') ? argv[i].split('=', 2) : [argv[i], argv[++i]];
    switch (k) {
      case '--reps': o.reps = Number(v); break;
      case '--count': o.count = Number(v); break;
      case '--size': o.size = Number(v); break;
      case '--patterns': o.patterns = v.split(',').map((s) => s.trim().toUpperCase()); break;
      case '--impls': o.impls = v.split(','); break;
      case '--latency': o.latency = Number(v); break;
      case '--svc-latency': o.svcLatency = Number(v); break;
      case '--out': o.out = path.resolve(v); break;
      default: throw new Error(`unknown option ${k} (see the comment at the top of bench/run.js)`);
    }
  }
  for (const p of o.patterns) if (!ALL_PATTERNS.includes(p)) throw new Error(`unknown pattern ${p}`);
  if (!(o.reps >= 1 && o.count >= 1 && o.size >= 9)) throw new Error('need --reps >= 1, --count >= 1, --size >= 9');
  return o;
}

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Spawn a peer; resolves {proc, lines} and lets the caller wait for a line. */
function peer(args) {
  const proc = spawn(process.execPath, [path.join(__dirname, 'peer.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const waiters = [];
  const lines = [];
  let buf = '';
  let err = '';
  proc.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      for (const w of waiters.splice(0)) w();
    }
  });
  proc.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code) => { for (const w of waiters.splice(0)) w(); resolve(code); }));
  const line = async (prefix) => {
    for (;;) {
      const l = lines.find((x) => x.startsWith(prefix));
      if (l) return l.slice(prefix.length);
      if (proc.exitCode !== null) throw new Error(`peer ${args.join(' ')} exited (${proc.exitCode}) without '${prefix}': ${err}`);
      await new Promise((r) => waiters.push(r));
    }
  };
  return { proc, line, exited, stderr: () => err };
}

async function throughput(impl, pattern, o) {
  const rx = peer(['recv', impl, pattern, String(o.count), String(o.size)]);
  const ep = await rx.line('READY ');
  const tx = peer(['send', impl, pattern, String(o.count), String(o.size), ep]);
  const result = JSON.parse(await rx.line('RESULT '));
  const [rc, tc] = await Promise.all([rx.exited, tx.exited]);
  if (result.error || rc !== 0 || tc !== 0 || result.received !== o.count) {
    return { error: result.error || `exit ${rc}/${tc}: ${rx.stderr()}${tx.stderr()}`.trim() };
  }
  return result;
}

async function latency(impl, o, pattern) {
  const srv = peer(['echo', impl, ...(pattern ? [pattern] : [])]);
  const ep = await srv.line('READY ');
  const cli = peer(['ping', impl, String(pattern ? o.svcLatency : o.latency), String(o.size), ep, ...(pattern ? [pattern] : [])]);
  const result = JSON.parse(await cli.line('RESULT '));
  await Promise.all([srv.exited, cli.exited]);
  return result;
}

/** Build rl_bench the way bench/c/run.sh does (without cargo: the library is built). */
function buildCBench(o) {
  const ws = path.resolve(__dirname, '..', '..', '..');
  const meta = JSON.parse(execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps', '--manifest-path', path.join(ws, 'Cargo.toml')]).toString());
  const lib = path.join(meta.target_directory, 'release', 'libringlink.a');
  if (!fs.existsSync(lib)) throw new Error(`${lib} is missing: run npm run build first`);
  const exe = path.join(os.tmpdir(), `rl_bench-node-${process.pid}`);
  execFileSync(process.env.CC || 'cc', ['-std=c11', '-O2', '-Wall', '-Wextra', '-I', path.join(ws, 'ffi', 'include'), path.join(ws, 'bench', 'c', 'rl_bench.c'), lib, '-lpthread', '-ldl', '-lm', '-o', exe]);
  process.on('exit', () => fs.rmSync(exe, { force: true }));
  return exe;
}

function cBatch(exe, patterns, o) {
  const want = patterns.filter((p) => C_PATTERNS.includes(p));
  if (!want.length) return {};
  const text = execFileSync(exe, ['-p', want.join(','), '-a', 'batch', '-n', String(o.count), '-s', String(o.size), '-r', '1']).toString();
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^RESULT .*pattern=(\S+).*rx_kmsg_s=([\d.]+)/.exec(line);
    if (m && /api=batch|lib=ringlink-c-batch/.test(line)) out[m[1]] = { kmsg_s: Number(m[2]), received: o.count };
  }
  for (const p of want) if (!out[p]) out[p] = { error: `no RESULT line for ${p} in:\n${text}` };
  return out;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const impls = o.impls.filter((i) => i !== 'c');
  const exe = o.impls.includes('c') ? buildCBench(o) : null;
  const runs = []; // {rep, pattern, impl, kmsg_s | error}
  const lat = []; // {rep, impl, rtt_p50_us, rtt_p99_us}
  for (let rep = 0; rep < o.reps; rep++) {
    const order = impls.map((_, i) => impls[(i + rep) % impls.length]);
    for (const pattern of o.patterns) {
      for (const impl of order) {
        if (SVC_PATTERNS.includes(pattern) && !impl.startsWith('rl-')) continue; // ringlink only
        const r = await throughput(impl, pattern, o);
        runs.push({ rep, pattern, impl, ...r });
        process.stderr.write(`rep ${rep + 1}/${o.reps} ${pattern.padEnd(18)} ${impl.padEnd(8)} ${r.error ? `FAILED ${r.error}` : `${r.kmsg_s.toFixed(1)} Kmsg/s`}\n`);
      }
    }
    if (exe) {
      const c = cBatch(exe, o.patterns, o);
      for (const [pattern, r] of Object.entries(c)) {
        runs.push({ rep, pattern, impl: 'c', ...r });
        process.stderr.write(`rep ${rep + 1}/${o.reps} ${pattern.padEnd(18)} c        ${r.error ? `FAILED ${r.error}` : `${r.kmsg_s.toFixed(1)} Kmsg/s`}\n`);
      }
    }
    if (o.latency > 0) {
      for (const impl of rep % 2 ? ['zmq', 'rl-async'] : ['rl-async', 'zmq']) {
        if (!impls.includes(impl) && !(impl === 'rl-async' && impls.includes('rl-fast'))) continue;
        const r = await latency(impl, o);
        lat.push({ rep, impl, ...r });
        process.stderr.write(`rep ${rep + 1}/${o.reps} ping-pong          ${impl.padEnd(8)} p50 ${r.rtt_p50_us.toFixed(1)} us\n`);
      }
    }
    if (o.svcLatency > 0) {
      for (const pattern of o.patterns.filter((p) => SVC_PATTERNS.includes(p))) {
        const r = await latency('rl-async', o, pattern);
        lat.push({ rep, impl: `svc-${pattern}`, ...r });
        process.stderr.write(`rep ${rep + 1}/${o.reps} ${pattern} latency    p50 ${r.rtt_p50_us.toFixed(1)} us p99 ${r.rtt_p99_us.toFixed(1)} us\n`);
      }
    }
  }
  const summary = summarize(o, runs, lat);
  fs.mkdirSync(o.out, { recursive: true });
  const meta = { date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0] && os.cpus()[0].model, options: o };
  fs.writeFileSync(path.join(o.out, 'results.json'), JSON.stringify({ meta, summary, runs, latency: lat }, null, 2) + '\n');
  const md = markdown(o, summary, meta);
  fs.writeFileSync(path.join(o.out, 'results.md'), md);
  fs.writeFileSync(path.join(o.out, 'throughput.svg'), svgChart(summary, o.patterns, Object.keys(LABEL).filter((k) => o.impls.includes(k)), LABEL));
  process.stdout.write(md);
}

function summarize(o, runs, lat) {
  const get = (pattern, impl, rep) => {
    const r = runs.find((x) => x.pattern === pattern && x.impl === impl && x.rep === rep);
    return r && !r.error ? r.kmsg_s : NaN;
  };
  const rows = {};
  for (const pattern of o.patterns) {
    const row = { seed_node: SEED_NODE[pattern], median: {}, failed: {}, ratios: {} };
    for (const impl of o.impls) {
      row.median[impl] = median(Array.from({ length: o.reps }, (_, rep) => get(pattern, impl, rep)));
      row.failed[impl] = runs.filter((x) => x.pattern === pattern && x.impl === impl && x.error).length;
    }
    const ratio = (a, b) => median(Array.from({ length: o.reps }, (_, rep) => get(pattern, a, rep) / get(pattern, b, rep)));
    row.ratios = {
      fast_vs_c: ratio('rl-fast', 'c'),
      fast_vs_zmq: ratio('rl-fast', 'zmq'),
      async_vs_zmq: ratio('rl-async', 'zmq'),
      fast_vs_seed: row.median['rl-fast'] / SEED_NODE[pattern],
    };
    rows[pattern] = row;
  }
  const p50 = (impl) => median(lat.filter((x) => x.impl === impl).map((x) => x.rtt_p50_us));
  const pairedLat = median(Array.from({ length: o.reps }, (_, rep) => {
    const a = lat.find((x) => x.rep === rep && x.impl === 'rl-async');
    const b = lat.find((x) => x.rep === rep && x.impl === 'zmq');
    return a && b ? a.rtt_p50_us / b.rtt_p50_us : NaN;
  }));
  const svc = {};
  for (const p of SVC_PATTERNS) {
    const xs = lat.filter((x) => x.impl === `svc-${p}`);
    if (xs.length) svc[p] = { p50_us: median(xs.map((x) => x.rtt_p50_us)), p99_us: median(xs.map((x) => x.rtt_p99_us)) };
  }
  return { rows, latency: { rl_p50_us: p50('rl-async'), zmq_p50_us: p50('zmq'), rl_vs_zmq: pairedLat }, svc_latency: svc };
}

const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const f2 = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : 'n/a');

function markdown(o, s, meta) {
  const L = [];
  L.push(`## Node throughput, tcp, ${o.size} B, ${o.count} messages, ${o.reps} repetitions (median Kmsg/s)`, '');
  L.push(`${meta.date}, Node ${meta.node}, ${meta.cpus} CPUs (${meta.cpu}). Separate sender/receiver processes; C batch = rl_bench -a batch (two threads of one process).`, '');
  L.push('| pattern | seed Node | ringlink async | ringlink fast path | zeromq.js | C batch API | fast/C | fast/zeromq.js | async/zeromq.js |');
  L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const p of o.patterns) {
    const r = s.rows[p];
    const cell = (impl) => (r.failed[impl] ? `${f1(r.median[impl])} (${r.failed[impl]} failed)` : f1(r.median[impl]));
    L.push(`| ${p} | ${f1(r.seed_node)} | ${cell('rl-async')} | ${cell('rl-fast')} | ${cell('zmq')} | ${cell('c')} | ${r.ratios.fast_vs_c ? (Number.isFinite(r.ratios.fast_vs_c) ? `${(100 * r.ratios.fast_vs_c).toFixed(0)} %` : 'n/a') : 'n/a'} | ${f2(r.ratios.fast_vs_zmq)} | ${f2(r.ratios.async_vs_zmq)} |`);
  }
  L.push('', 'Ratios are paired: the ratio within each repetition, then the median of the ratios.', '');
  if (o.latency > 0) {
    L.push(`## Awaited ping-pong (PAIR, tcp, ${o.size} B, ${o.latency} round trips, round-trip time)`, '');
    L.push('| | ringlink | zeromq.js | ringlink / zeromq.js (paired) |', '|---|---:|---:|---:|');
    L.push(`| p50 RTT (µs) | ${f1(s.latency.rl_p50_us)} | ${f1(s.latency.zmq_p50_us)} | ${f2(s.latency.rl_vs_zmq)} |`, '');
  }
  if (Object.keys(s.svc_latency).length) {
    L.push(`## Service round trip (per-message calls, tcp, ${o.size} B, ${o.svcLatency} round trips; median over repetitions)`, '');
    L.push('| pattern | p50 RTT (µs) | p99 RTT (µs) |', '|---|---:|---:|');
    for (const [p, v] of Object.entries(s.svc_latency)) L.push(`| ${p} | ${f1(v.p50_us)} | ${f1(v.p99_us)} |`);
    L.push('', 'GATEWAY: gateway send → receiver ROUTER → reply → gateway recv. SPOT: publish ping → the other node → publish pong → recv.', '');
  }
  return `${L.join('\n')}\n`;
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
