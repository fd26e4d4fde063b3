#!/usr/bin/env node
/*
 * Builds the addon (build/Release/ringlink.node) without downloading anything:
 *   1. cargo build --release -p ringlink-ffi (skipped when RINGLINK_LIB_DIR names a directory
 *      that already holds a distributable libringlink.a);
 *   2. ffi/dist.sh turns cargo's archive into the distributable one (only rl_* globals),
 *      written to <cargo target dir>/release/dist/libringlink.a;
 *   3. the node-gyp that ships with npm ($npm_config_node_gyp, else the copy next to npm's own
 *      install) runs `rebuild --nodedir=<prefix of the running node>`, so the headers come from
 *      the local Node installation (node_api.h, uv.h, common.gypi) and node-gyp never tries to
 *      fetch them.
 * Environment: RINGLINK_WORKSPACE (the ringlink checkout, default ../../ from this package),
 * RINGLINK_LIB_DIR (see 1), NODE_GYP (a node-gyp.js to use), RINGLINK_NODEDIR (headers prefix).
 * Used as the package's `install` script and as `npm run build`.
 */
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const pkg = path.resolve(__dirname, '..');

function run(cmd, args, opts = {}) {
  process.stderr.write(`ringlink build: ${cmd} ${args.join(' ')}\n`);
  return execFileSync(cmd, args, { stdio: ['ignore', opts.capture ? 'pipe' : 'inherit', 'inherit'], env: opts.env || process.env, cwd: opts.cwd, maxBuffer: 64 << 20 });
}

function fail(msg) {
  process.stderr.write(`ringlink build: ${msg}\n`);
  process.exit(1);
}

function staticLib() {
  const dir = process.env.RINGLINK_LIB_DIR;
  if (dir) {
    const lib = path.resolve(dir, 'libringlink.a');
    if (!fs.existsSync(lib)) fail(`RINGLINK_LIB_DIR=${dir} has no libringlink.a`);
    return lib;
  }
  const ws = path.resolve(process.env.RINGLINK_WORKSPACE || path.join(pkg, '..', '..'));
  const manifest = path.join(ws, 'Cargo.toml');
  if (!fs.existsSync(manifest) || !fs.existsSync(path.join(ws, 'ffi', 'dist.sh'))) {
    fail(`no ringlink workspace at ${ws} (install from a ringlink checkout, e.g. ` +
      '`npm install ./bindings/node`, or set RINGLINK_WORKSPACE / RINGLINK_LIB_DIR)');
  }
  run('cargo', ['build', '--release', '-p', 'ringlink-ffi', '--lib', '--manifest-path', manifest]);
  const meta = JSON.parse(run('cargo', ['metadata', '--format-version', '1', '--no-deps',
    '--manifest-path', manifest], { capture: true }).toString());
  const release = path.join(meta.target_directory, 'release');
  const out = path.join(release, 'dist', 'libringlink.a');
  run('bash', [path.join(ws, 'ffi', 'dist.sh'), path.join(release, 'libringlink.a'), out]);
  return out;
}

function nodeGyp() {
  const candidates = [
    process.env.NODE_GYP,
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules',
      'node-gyp', 'bin', 'node-gyp.js'),
  ];
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  try {
    return require.resolve('node-gyp/bin/node-gyp.js', { paths: [path.dirname(process.execPath)] });
  } catch (_) {
    fail('node-gyp not found: set NODE_GYP to node-gyp/bin/node-gyp.js (npm ships one)');
  }
  return null;
}

function nodeDir() {
  const dir = process.env.RINGLINK_NODEDIR || path.resolve(path.dirname(process.execPath), '..');
  if (!fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h'))) {
    fail(`no Node headers under ${dir}/include/node (set RINGLINK_NODEDIR to the Node prefix)`);
  }
  return dir;
}

const lib = staticLib();
const include = process.env.RINGLINK_INCLUDE ||
  path.resolve(process.env.RINGLINK_WORKSPACE || path.join(pkg, '..', '..'), 'ffi', 'include');
if (!fs.existsSync(path.join(include, 'ringlink.h'))) fail(`no ringlink.h in ${include} (set RINGLINK_INCLUDE)`);
const env = { ...process.env, RINGLINK_LIB: lib, RINGLINK_INCLUDE: include };
run(process.execPath, [nodeGyp(), 'rebuild', `--nodedir=${nodeDir()}`], { cwd: pkg, env });
const addon = path.join(pkg, 'build', 'Release', 'ringlink.node');
if (!fs.existsSync(addon)) fail(`node-gyp finished but ${addon} is missing`);
process.stderr.write(`ringlink build: ok (${addon})\n`);
