/**
 * The layering of the README's layout table, checked on every source file's imports (not tests or
 * benchmarks): a layer imports only the layers listed for it. `common/` (the error list, the
 * logger, package assets, child processes) is imported by every layer and imports none.
 * What ships to a device (hal, storage, runtime, ui-lcd, common) never imports sim/ or tests/.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/** layer -> the other layers it may import. */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  common: [],
  hal: ['common'],
  storage: ['common'],
  runtime: ['common', 'hal', 'storage'],
  'ui-lcd': ['common', 'hal', 'runtime'],
  // boot wires the layers together; the simulator board and `npm start` are entry points too.
  boot: ['common', 'hal', 'storage', 'runtime', 'ui-lcd', 'sim'],
  sim: ['common', 'hal', 'storage', 'runtime', 'ui-lcd', 'boot'],
};

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/** Every relative import of a file, as the top-level folder it reaches. */
export function importedLayers(file: string, text: string): { layer: string; spec: string }[] {
  const out: { layer: string; spec: string }[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const target = relative(ROOT, normalize(join(dirname(file), m[1])));
    out.push({ layer: target.split('/')[0], spec: m[1] });
  }
  return out;
}

describe('layers: each folder imports only what the README layout allows', () => {
  it('importedLayersSeesFromRequireAndDynamicImport (the checker itself)', () => {
    const f = join(ROOT, 'hal', 'x.ts');
    const got = importedLayers(f, `import a from '../runtime/a';\nconst b = require('../boot/b');\nawait import('./c');`).map((i) => i.layer);
    assert.deepEqual(got, ['runtime', 'boot', 'hal']);
  });

  for (const [layer, allowed] of Object.entries(ALLOWED)) {
    it(`${layer}/ imports only ${allowed.length ? allowed.join(', ') : 'packages and itself'}`, () => {
      const bad: string[] = [];
      for (const file of sourceFiles(join(ROOT, layer))) {
        for (const imp of importedLayers(file, readFileSync(file, 'utf8'))) {
          // package.json: the version, read from the sources or from dist/ (one level deeper).
          if (imp.layer !== layer && !imp.spec.endsWith('/package.json') && !allowed.includes(imp.layer)) bad.push(`${relative(ROOT, file)} imports ${imp.spec}`);
        }
      }
      assert.deepEqual(bad, [], `layering broken:\n${bad.join('\n')}`);
    });
  }
});
