'use strict';
// index.d.ts: tsc --strict compiles an application-like sample against it, and its exported
// names, classes and members match the runtime exactly (in both directions).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFile } = require('node:child_process');
const rl = require('..');

const root = path.join(__dirname, '..');

test('tsc --strict accepts testlib/types/sample.ts (and its @ts-expect-error lines)', { timeout: 120000 }, async () => {
  let tsc;
  try {
    tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
  } catch (e) {
    throw new Error('the devDependency typescript is missing (npm install in bindings/node)');
  }
  const project = path.join(root, 'testlib', 'types', 'tsconfig.json');
  await new Promise((resolve, reject) => {
    execFile(process.execPath, [tsc, '-p', project], { timeout: 110000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`tsc failed:\n${stdout}${stderr}`));
      else resolve();
    });
  });
});

/** Parse the declarations: exported names, and for each class its members. */
function parseDts() {
  const src = fs.readFileSync(path.join(root, 'index.d.ts'), 'utf8').replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
  const exported = new Set();
  for (const m of src.matchAll(/export declare (?:abstract )?(?:const|function|class) (\w+)/g)) exported.add(m[1]);
  const classes = {};
  for (const m of src.matchAll(/export declare (?:abstract )?class (\w+)(?: extends (\w+))?\s*\{([\s\S]*?)\n\}/g)) {
    const members = new Set();
    for (const mm of m[3].matchAll(/^\s+(?:readonly |protected )?(\[Symbol\.asyncIterator\]|\w+)\??[(:<]/gm)) {
      if (mm[1] !== 'constructor') members.add(mm[1]);
    }
    classes[m[1]] = { base: m[2], members };
  }
  return { exported, classes };
}

function runtimeMembers(cls) {
  const out = new Set();
  for (let p = cls.prototype; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const k of Reflect.ownKeys(p)) {
      const name = k === Symbol.asyncIterator ? '[Symbol.asyncIterator]' : k;
      if (typeof name === 'string' && !name.startsWith('_') && name !== 'constructor') out.add(name);
    }
  }
  return out;
}

test('every declared export, class and member exists at runtime, and vice versa', () => {
  const { exported, classes } = parseDts();
  const runtime = new Set(Object.keys(rl));
  assert.deepEqual([...exported].sort(), [...runtime].sort());
  for (const [name, { base, members }] of Object.entries(classes)) {
    assert.equal(typeof rl[name], 'function', `${name} is a class at runtime`);
    // declared members, including those inherited in the declarations
    const declared = new Set(members);
    for (let b = base; b; b = classes[b] && classes[b].base) for (const m of classes[b].members) declared.add(m);
    const actual = runtimeMembers(rl[name]);
    // instance properties set in the constructor (not on the prototype)
    if (declared.has('context')) actual.add('context');
    const missing = [...declared].filter((m) => !actual.has(m));
    const undeclared = [...actual].filter((m) => !declared.has(m));
    assert.deepEqual(missing, [], `${name}: declared but missing at runtime`);
    assert.deepEqual(undeclared, [], `${name}: at runtime but not declared`);
  }
});
