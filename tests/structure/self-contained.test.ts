/**
 * The project is self-contained: a user who clones it has everything its files point to
 * (issue 13 item 20). The protocol profile is docs/PROTOCOL.md, the design rules docs/DESIGN.md,
 * the facts about the stack docs/FACTS.md, the field faults docs/FIELD-FAULTS.md.
 *
 *   1. No file of the project (except .ci/ and this test) mentions the team's folder outside the
 *      repository (`../shared`, `shared/protocol`, `shared/DESIGN`) or the external profile's
 *      file name.
 *   2. Every relative link in the project's markdown files ([text](path), ![alt](path),
 *      [ref]: path) reaches a file or folder of the project, and a #fragment into a markdown file
 *      names one of its headings.
 *   3. Every `SOMETHING.md` a file names (a comment's "DESIGN.md rule 8", "see JOURNAL_FORMAT.md")
 *      is a markdown file of the project.
 *
 * The files are those git tracks (deleted ones skipped); outside a git checkout, every file
 * under the root except node_modules, dist and scratch folders.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, normalize, relative, sep } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const SELF = relative(ROOT, __filename).split(sep).join('/');

/** Strings that point outside the repository. */
export const FORBIDDEN: readonly string[] = ['../shared', 'shared/protocol', 'shared/DESIGN', 'host-8583'];
/** Paths (prefixes) the checks leave alone: the CI machinery, and this test, which names the strings. */
const EXEMPT_PREFIXES: readonly string[] = ['.ci/', SELF];
const SKIPPED_DIRS = new Set(['node_modules', 'dist', '.git', '.tmp', 'out']);
const BINARY_EXTENSIONS = /\.(png|jpe?g|gif|ico|bin|mdb|gz|zip|woff2?|ttf|otf|pcf|bdf)$/i;
const FILE_BYTES_MAX = 4 * 1024 * 1024;

function walk(dir: string, out: string[]): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) {
      if (!SKIPPED_DIRS.has(e.name)) walk(join(dir, e.name), out);
    } else if (e.isFile()) {
      out.push(relative(ROOT, join(dir, e.name)).split(sep).join('/'));
    }
  }
}

/** The project's files, relative to the root with forward slashes. */
export function projectFiles(): string[] {
  let files: string[];
  try {
    files = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\0').filter((f) => f !== '');
  } catch {
    files = [];
    walk(ROOT, files);
  }
  return files.filter((f) => !EXEMPT_PREFIXES.some((p) => f === p || f.startsWith(p)) && existsSync(join(ROOT, f)));
}

function textOf(file: string): string | undefined {
  if (BINARY_EXTENSIONS.test(file)) return undefined;
  const path = join(ROOT, file);
  if (statSync(path).size > FILE_BYTES_MAX) return undefined;
  return readFileSync(path, 'utf8');
}

const blank = (s: string): string => s.replace(/[^\n]/g, ' ');

/** Fenced code blocks blanked out (same length, lines kept). */
function withoutFences(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, blank);
}

/** Fenced code blocks and inline code spans blanked out (same length, lines kept). */
export function withoutCode(markdown: string): string {
  return withoutFences(markdown).replace(/`[^`\n]*`/g, blank);
}

/** The relative link targets of a markdown text, with their line numbers. */
export function relativeLinks(markdown: string): { target: string; line: number }[] {
  const text = withoutCode(markdown);
  const out: { target: string; line: number }[] = [];
  const lineAt = (index: number): number => text.slice(0, index).split('\n').length;
  const inline = /!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g;
  const reference = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$/gm;
  for (const re of [inline, reference]) {
    for (let m = re.exec(text); m; m = re.exec(text)) {
      const target = m[1];
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue; // http:, mailto:, ...
      out.push({ target, line: lineAt(m.index) });
    }
  }
  return out;
}

/** GitHub's anchors of a markdown file's headings. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of withoutFences(markdown).split('\n')) {
    const m = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const heading = m[1];
    const slug = heading.replace(/`/g, '').toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').trim().replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

/** Where a link of `fromFile` lands, or why it does not. */
function linkProblem(fromFile: string, target: string, mdFiles: ReadonlyMap<string, string>): string | undefined {
  const hash = target.indexOf('#');
  const pathPart = decodeURI(hash === -1 ? target : target.slice(0, hash));
  const fragment = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
  const resolved = pathPart === '' ? fromFile : normalize(join(dirname(fromFile), pathPart)).split(sep).join('/').replace(/\/$/, '');
  if (resolved.startsWith('..')) return 'points outside the repository';
  if (!existsSync(join(ROOT, resolved))) return 'no such file';
  if (fragment !== undefined && fragment !== '' && resolved.endsWith('.md')) {
    const text = mdFiles.get(resolved) ?? readFileSync(join(ROOT, resolved), 'utf8');
    if (!headingAnchors(text).has(fragment.toLowerCase())) return `no heading #${fragment} in ${resolved}`;
  }
  return undefined;
}

/** The `*.md` file names a text mentions (outside URLs). */
export function mentionedMarkdown(text: string): string[] {
  const out: string[] = [];
  const re = /(?:https?:\/\/\S*)|([A-Za-z0-9_][A-Za-z0-9_./-]*\.md)\b/g;
  for (let m = re.exec(text); m; m = re.exec(text)) if (m[1] !== undefined) out.push(m[1]);
  return out;
}

describe('self-contained: nothing in the project points outside it', () => {
  const files = projectFiles();
  const mdFiles = new Map<string, string>();
  for (const f of files) if (f.endsWith('.md')) mdFiles.set(f, readFileSync(join(ROOT, f), 'utf8'));

  it('the checkers themselves: links, anchors, mentions', () => {
    const md = 'See [a](docs/A.md#two-words), ![img](x.png "t") and [web](https://x.org/a.md).\n'
      + '`[not](code.md)`\n```\n[not](fenced.md)\n```\n[ref]: ../up.md\n';
    assert.deepEqual(relativeLinks(md).map((l) => l.target), ['docs/A.md#two-words', 'x.png', '../up.md']);
    assert.ok(headingAnchors('# Title\n## Two words, and `code`!\n## Two words, and code\n').has('two-words-and-code-1'));
    assert.ok(headingAnchors('## 1. Framing\n').has('1-framing'));
    assert.deepEqual(mentionedMarkdown('DESIGN.md rule 8; see https://example.org/x/README.md and storage/JOURNAL_FORMAT.md.'), ['DESIGN.md', 'storage/JOURNAL_FORMAT.md']);
  });

  it('the project has its own protocol, design, facts and field-fault documents', () => {
    for (const doc of ['docs/PROTOCOL.md', 'docs/DESIGN.md', 'docs/FACTS.md', 'docs/FIELD-FAULTS.md']) {
      assert.ok(existsSync(join(ROOT, doc)), `${doc} is missing`);
    }
  });

  it(`no file mentions ${FORBIDDEN.join(', ')}`, () => {
    const bad: string[] = [];
    for (const f of files) {
      const text = textOf(f);
      if (text === undefined) continue;
      text.split('\n').forEach((line, i) => {
        for (const s of FORBIDDEN) if (line.includes(s)) bad.push(`${f}:${i + 1}: ${s}`);
      });
    }
    assert.deepEqual(bad, [], `these point outside the project; point them at docs/ instead:\n${bad.join('\n')}`);
  });

  it('every relative link in a markdown file reaches a file of the project', () => {
    const bad: string[] = [];
    for (const [f, text] of mdFiles) {
      for (const link of relativeLinks(text)) {
        const problem = linkProblem(f, link.target, mdFiles);
        if (problem) bad.push(`${f}:${link.line}: (${link.target}) ${problem}`);
      }
    }
    assert.deepEqual(bad, [], bad.join('\n'));
  });

  it('every *.md a file names is a markdown file of the project', () => {
    const names = new Set([...mdFiles.keys()].map((f) => basename(f)));
    const bad: string[] = [];
    for (const f of files) {
      const text = textOf(f);
      if (text === undefined || f === 'package-lock.json') continue;
      text.split('\n').forEach((line, i) => {
        for (const m of mentionedMarkdown(line)) {
          const asPath = normalize(m).split(sep).join('/');
          if (mdFiles.has(asPath) || mdFiles.has(normalize(join(dirname(f), m)).split(sep).join('/')) || names.has(basename(m))) continue;
          bad.push(`${f}:${i + 1}: ${m}`);
        }
      });
    }
    assert.deepEqual(bad, [], `these name markdown files the project does not have:\n${bad.join('\n')}`);
  });
});
