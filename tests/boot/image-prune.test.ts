/**
 * The release image's node_modules pruning (scripts/image/prune-modules.ts) on a small made-up
 * tree: ES-module copies, browser and development builds, docs and lint files go; licences stay; a
 * package's CommonJS entry stays whatever its name (a main of index.min.js, an entry inside an
 * `esm` folder); a file the remaining JavaScript requires is never taken silently: the build fails
 * naming it. The whole image (sizes before and after) is tests/boot/image-build.test.ts.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { removeDir, tempDir } from '../../storage/testing';
import { packageEntries, pruneNodeModules, unresolvedRequires } from '../../scripts/image/prune-modules';

function tree(root: string, files: Record<string, string>): void {
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), content);
  }
}

describe('release image: node_modules pruning', () => {
  let nm: string;
  beforeEach(() => { nm = tempDir('pos-prune-'); });
  afterEach(() => removeDir(nm));

  it('takes ES-module, browser and development copies, docs and lint files; keeps licences and every package entry', () => {
    tree(nm, {
      'a/package.json': JSON.stringify({ name: 'a', main: 'dist/index.min.js' }),
      'a/dist/index.min.js': 'module.exports = require("./part");',
      'a/dist/part.js': 'module.exports = 1;',
      'a/dist/index.mjs': 'export default 1;',
      'a/dist/a.esm.js': 'export default 1;',
      'a/dist/a.umd.min.js': '!function(){}()',
      'a/dist/a.development.cjs.js': 'module.exports = 1;',
      'a/dist/esm/index.js': 'export default 1;',
      'a/README.md': '# a', 'a/LICENSE': 'MIT', 'a/.eslintignore': 'x', 'a/build.tsbuildinfo': '{}', 'a/index.d.ts': 'export {}',
      'b/package.json': JSON.stringify({ name: 'b', exports: { '.': { import: './esm/index.js', require: './esm/index.cjs' } } }),
      'b/esm/index.cjs': 'module.exports = 2;',
      'mqtt/package.json': JSON.stringify({ name: 'mqtt', main: 'build/index.js' }),
      'mqtt/build/index.js': 'module.exports = 3;',
      'mqtt/dist/mqtt.min.js': '!function(){}()',
    });
    assert.deepEqual([...packageEntries(nm)].map((p) => p.slice(nm.length + 1)).sort(), ['a/dist/index.min.js', 'b/esm/index.cjs', 'mqtt/build/index.js']);
    pruneNodeModules(nm, 'x64', 115);
    const left = (p: string): boolean => existsSync(join(nm, p));
    for (const p of ['a/dist/index.min.js', 'a/dist/part.js', 'a/LICENSE', 'b/esm/index.cjs', 'mqtt/build/index.js']) assert.ok(left(p), `${p} kept`);
    for (const p of ['a/dist/index.mjs', 'a/dist/a.esm.js', 'a/dist/a.umd.min.js', 'a/dist/a.development.cjs.js', 'a/dist/esm', 'a/README.md', 'a/.eslintignore', 'a/build.tsbuildinfo', 'a/index.d.ts', 'mqtt/dist']) {
      assert.ok(!left(p), `${p} taken`);
    }
    assert.deepEqual(unresolvedRequires(nm), []);
  });

  it('keeps the @babel/runtime helpers packages require (and what those require), takes the others', () => {
    tree(nm, {
      'wt/package.json': JSON.stringify({ name: 'wt', main: 'index.js' }),
      'wt/index.js': 'var s = require("@babel/runtime/helpers/slicedToArray"); module.exports = s;',
      '@babel/runtime/package.json': JSON.stringify({ name: '@babel/runtime' }),
      '@babel/runtime/helpers/slicedToArray.js': 'var a = require("./arrayWithHoles.js"); module.exports = a;',
      '@babel/runtime/helpers/arrayWithHoles.js': 'module.exports = 1;',
      '@babel/runtime/helpers/unused.js': 'module.exports = 2;',
      '@babel/runtime/regenerator/index.js': 'module.exports = require("../helpers/regeneratorRuntime")();',
      '@babel/runtime/helpers/regeneratorRuntime.js': 'module.exports = function () {};',
    });
    pruneNodeModules(nm, 'x64', 115);
    const helpers = join(nm, '@babel', 'runtime', 'helpers');
    for (const h of ['slicedToArray.js', 'arrayWithHoles.js', 'regeneratorRuntime.js']) assert.ok(existsSync(join(helpers, h)), `${h} kept`);
    assert.equal(existsSync(join(helpers, 'unused.js')), false, 'a helper nothing requires is taken');
  });

  it('fails naming the file when the JavaScript left requires one a rule would take', () => {
    tree(nm, {
      'c/package.json': JSON.stringify({ name: 'c', main: 'index.js' }),
      'c/index.js': 'module.exports = require("./lib/c.esm.js");',
      'c/lib/c.esm.js': 'module.exports = 4;',
      // Unresolved before pruning (a bundle's internal names): not the pruning's doing, not a failure.
      'd/package.json': JSON.stringify({ name: 'd', main: 'd.js' }),
      'd/d.js': 'var x = typeof require === "function" && require("./not-here");',
    });
    assert.throws(() => pruneNodeModules(nm, 'x64', 115), (e: Error) => /c\/index\.js: require\('\.\/lib\/c\.esm\.js'\)/.test(e.message) && !/d\/d\.js/.test(e.message));
  });
});
