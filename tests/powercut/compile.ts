/**
 * Child processes of the simulator (workloads under strace, checker processes restarted after
 * every crash) start in ~0.1 s as JavaScript and in over a second under ts-node. This
 * transpiles a script and the project files it imports (relative imports, followed
 * transitively) with `ts.transpileModule` — the same transpile-only emit ts-node uses — into
 * .tmp/powercut-js/ in the repository, mirroring its layout so package imports still resolve from
 * the repository's node_modules. Outputs are refreshed when a source is newer. Not under
 * node_modules/: a second clone that links node_modules to the first one's (a helper's working
 * copy) would share the folder, run the first clone's copies of files it had not changed (older
 * sources than the copies), and find its assets and addons above the first clone's path.
 * Set POWERCUT_TS_NODE=1 to run children under ts-node instead (also the fallback when the
 * cache cannot be written).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
// typescript is loaded on the first transpile, not with this module: checker processes import
// checker-host.ts, which imports this file, and loading the compiler cost each of them ~1.5 s of
// CPU (every checker start, and every restart after a state crashed one).
import type * as TS from 'typescript';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const CACHE_ROOT = path.join(REPO_ROOT, '.tmp', 'powercut-js');

let tsModule: typeof TS | undefined;
function typescript(): typeof TS {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (tsModule ??= require('typescript') as typeof TS);
}

function compilerOptions(): TS.CompilerOptions {
  const ts = typescript();
  return {
    module: ts.ModuleKind.CommonJS,
    target: ts.ScriptTarget.ES2022,
    esModuleInterop: true,
    resolveJsonModule: true,
    inlineSourceMap: true,
  };
}

function resolveLocal(fromFile: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(fromFile), spec);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts'), base]) {
    if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

function writeAtomic(file: string, content: string | Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, file);
}

/** Returns the .js to run for `script` (absolute or relative to the repository root). */
export function compiledScript(script: string): string {
  const entry = path.resolve(REPO_ROOT, script);
  if (!entry.endsWith('.ts')) return entry;
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const rel = path.relative(REPO_ROOT, file);
    if (rel.startsWith('..')) throw new Error(`compiledScript: ${file} is outside the repository`);
    const source = fs.readFileSync(file, 'utf8');
    if (file.endsWith('.json')) {
      const out = path.join(CACHE_ROOT, rel);
      if (!fs.existsSync(out) || fs.statSync(out).mtimeMs < fs.statSync(file).mtimeMs) writeAtomic(out, source);
      continue;
    }
    const out = path.join(CACHE_ROOT, rel.replace(/\.ts$/, '.js'));
    if (!fs.existsSync(out) || fs.statSync(out).mtimeMs < fs.statSync(file).mtimeMs) {
      const js = typescript().transpileModule(source, { compilerOptions: compilerOptions(), fileName: file }).outputText;
      writeAtomic(out, js);
    }
    for (const imp of typescript().preProcessFile(source, true, true).importedFiles) {
      if (!imp.fileName.startsWith('.')) continue;
      const target = resolveLocal(file, imp.fileName);
      if (target) queue.push(target);
    }
  }
  return path.join(CACHE_ROOT, path.relative(REPO_ROOT, entry).replace(/\.ts$/, '.js'));
}

/** node arguments that run `script` (a .ts file compiled by compiledScript, unless
 * POWERCUT_TS_NODE=1 asks for ts-node). */
export function nodeCommandFor(script: string, extraNodeArgs: readonly string[] = []): string[] {
  const abs = path.resolve(REPO_ROOT, script);
  if (!abs.endsWith('.ts')) return [...extraNodeArgs, abs];
  const tsNode = ['-r', 'ts-node/register/transpile-only', ...extraNodeArgs, abs];
  if (process.env.POWERCUT_TS_NODE === '1') return tsNode;
  try {
    return [...extraNodeArgs, compiledScript(abs)];
  } catch (e) {
    // e.g. a read-only node_modules: slower, but works
    process.stderr.write(`powercut: cannot transpile ${abs} (${e instanceof Error ? e.message : String(e)}); using ts-node\n`);
    return tsNode;
  }
}
