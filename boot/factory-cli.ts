/**
 * `pos factory provision|test|station|flash`. Key components come from a file (one "HEX KCV" per
 * line) or the station's manifest, never argv. Exit codes: 0 pass; 2 operating error; 5 a
 * hardware test failed (station: any terminal not a pass, a skipped test included).
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { Command, CommandContext, UsageError, flagString, intFlag, need } from './cli';
import { PosError, isPosError } from '../common/errors';
import { completeFirstBootProvisioning } from './first-boot-seal';
import { deviceKeyProviderFor, keyDirFor } from '../runtime/device-key-provider';
import { loadBoard, readBoardFile, Board } from '../hal/board';
import { linuxFactories } from '../hal/board-linux';
import { KeyComponent, MerchantAdminInput, Prompts, STATION_FAULT_KINDS, StationFault, TestReport, TestResult, checkMerchantAdmin, factoryTest, provision, writeReport, LOCALES } from './factory';
// The simulated station (./factory-station) and the simulator board load on use (./optional-sim):
// a release image without the simulator still runs `pos factory` on real boards.
import { requireSim } from './optional-sim';
import { BoardTerminal, StationConsole, outcome, runBoardStation } from './factory-station-boards';
import { FLASH_SUMMARY_FILE, HOLD_POINTS, HoldPoint, flashStation } from './factory-flash';
import type { PartitionSizes } from './flash/disk-image';

function componentsFrom(file: string): KeyComponent[] {
  return readFileSync(file, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => {
    const [keyHex, kcvHex] = l.split(/\s+/);
    return { keyHex, kcvHex: kcvHex ?? '' };
  });
}

/** The board with its devices: the simulator (scripted operator) or a real one (operator prompts on the console). */
async function openBoard(ctx: CommandContext): Promise<{ board: Board; prompts: Prompts; close(): Promise<void> }> {
  const name = flagString(ctx, 'board') ?? process.env.POS_BOARD ?? 'sim';
  if (readBoardFile(name).config.simulator) {
    const { createSimBoard } = requireSim<typeof import('../sim/board-sim')>('../sim/board-sim', `${name}: a simulator board`);
    const { simPrompts } = requireSim<typeof import('./factory-station')>('./factory-station', `${name}: a simulator board`);
    const sim = await createSimBoard({ board: name });
    return { board: sim.board, prompts: simPrompts(sim), close: () => sim.close() };
  }
  const board = await loadBoard(name, linuxFactories());
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const prompts: Prompts = {
    pressKey: async (key) => { ctx.out(`press ${key}`); },
    confirm: async (q) => /^y/i.test(await rl.question(`${q} [y/n] `)),
  };
  return { board, prompts, close: async () => { rl.close(); await board.close(); } };
}

/**
 * --merchant-admin N --merchant-password-file F: the merchant's first administrator (boot/factory.ts
 * MerchantAdminInput). The password is the file's first line, never argv (a process list shows
 * argv); both flags or neither. Checked before anything is opened or written.
 */
export function merchantAdminFrom(ctx: CommandContext): MerchantAdminInput | undefined {
  return merchantAdminOf(flagString(ctx, 'merchant-admin'), flagString(ctx, 'merchant-password-file'), { number: '--merchant-admin', file: '--merchant-password-file' });
}

/** A merchant administrator from its number and password file (flags, or a manifest's columns named by `names`). */
function merchantAdminOf(number: string | undefined, file: string | undefined, names: { number: string; file: string }): MerchantAdminInput | undefined {
  if (number === undefined && file === undefined) return undefined;
  if (number === undefined || file === undefined) throw new PosError('OPR_INPUT', `${names.number} and ${names.file} go together (the password is read from the file, never from the command line)`);
  let password: string;
  try {
    password = readFileSync(file, 'utf8').split(/\r?\n/)[0].trim();
  } catch (e) {
    throw new PosError('OPR_INPUT', `${names.file} ${file}: cannot be read (${(e as Error).message})`);
  }
  const m = { number, password };
  checkMerchantAdmin(m);
  return m;
}

const provisionCmd: Command = {
  name: 'factory provision', usage: 'factory provision --serial S --tid T --mid M --components FILE [--merchant-admin N --merchant-password-file F] [--locale zh-CN] [--board B] [--dir D] [--registry F] [--label-dir D]', summary: 'write identity + TMK (+ the merchant\'s first administrator), print the QR label',
  async run(ctx) {
    const boardFile = readBoardFile(flagString(ctx, 'board') ?? process.env.POS_BOARD ?? 'sim');
    const { config } = boardFile;
    const locale = (flagString(ctx, 'locale') ?? 'zh-CN') as (typeof LOCALES)[number];
    // Every required flag before the board is opened (its operator prompts, its devices).
    const [serial, tid, mid, components] = (['serial', 'tid', 'mid', 'components'] as const).map((f) => need(ctx, f));
    const merchantAdmin = merchantAdminFrom(ctx);
    const b = await openBoard(ctx);
    try {
      const r = await provision({
        serial, tid, mid, components: componentsFrom(components), board: config, locale, ...(merchantAdmin ? { merchantAdmin } : {}),
        journalDir: flagString(ctx, 'dir') ?? config.storage.journalDir, registryFile: flagString(ctx, 'registry') ?? 'factory-registry.json',
        // The board file's provider (a key sealed by the TPM, or the file), made here, beside the
        // journal it seals for (--dir too), where the terminal and recovery look for it.
        deviceKey: deviceKeyProviderFor(boardFile, keyDirFor(flagString(ctx, 'dir') ?? config.storage.journalDir), { create: true }), printer: b.board.printer(),
        labelPngFile: join(flagString(ctx, 'label-dir') ?? '.', `${serial}-label.png`),
      });
      ctx.out(`provisioned ${r.serial} TID ${r.tid}, TMK KCV ${r.kcvTmk}${r.testKeys ? ' (TEST KEYS: simulator only)' : ''}`);
      ctx.out(`service administrator 000, password ${r.servicePassword}: hand it to the service organisation now; it is stored only hashed and never shown again`);
      if (r.merchantAdmin) ctx.out(`merchant administrator ${r.merchantAdmin.operator} created with the password from ${flagString(ctx, 'merchant-password-file') ?? ''} (the merchant changes it at the terminal: Settings > 2)`);
      ctx.out(`label ${r.label.printed ? 'printed' : `NOT printed ${r.label.code ?? ''}`}${r.label.png ? `; PNG ${r.label.png}` : ''}`);
      return r.label.printed ? 0 : 5;
    } finally {
      await b.close();
    }
  },
};

/**
 * The report's test "device key sealed by the TPM" on a board whose board file names a TPM and
 * whose data partition holds the station's first-boot request (boot/first-boot-seal.ts); undefined
 * on any other board, or when the key was sealed before.
 */
async function firstBootSealTest(boardFile: ReturnType<typeof readBoardFile>): Promise<TestResult | undefined> {
  const { config } = boardFile;
  if (config.deviceKey?.provider !== 'tpm2') return undefined;
  const t0 = performance.now();
  const name = 'device key sealed by the TPM';
  try {
    const outcome = await completeFirstBootProvisioning({ board: boardFile, journalDir: config.storage.journalDir });
    if (outcome === 'none') return undefined;
    return { name, pass: true, values: { outcome }, codes: [], ms: Math.round(performance.now() - t0) };
  } catch (e) {
    if (!isPosError(e)) throw e;
    return { name, pass: false, values: { message: e.message }, codes: [e.code], ms: Math.round(performance.now() - t0) };
  }
}

/**
 * `--faults 3:printer,5:stuck-key`: terminal number (1..count) and fault. A number outside the run
 * or a kind that does not exist is refused: ignoring it would report a clean PASS for a fault the
 * operator meant to inject.
 */
export function stationFaults(text: string | undefined, count: number): Map<number, StationFault> {
  const out = new Map<number, StationFault>();
  for (const f of (text ?? '').split(',').filter(Boolean)) {
    const m = /^(\d+):(.+)$/.exec(f);
    const n = m ? Number(m[1]) : NaN;
    if (!m || n < 1 || n > count) throw new UsageError(`--faults ${f}: give N:KIND with N from 1 to --count (${count})`);
    if (!(STATION_FAULT_KINDS as readonly string[]).includes(m[2])) throw new UsageError(`--faults ${f}: the kinds are ${STATION_FAULT_KINDS.join(', ')}`);
    out.set(n, m[2] as StationFault);
  }
  return out;
}

const testCmd: Command = {
  name: 'factory test', usage: 'factory test --serial S [--board B] [--report-dir D]', summary: 'full hardware self-test, JSON report, pass/fail exit code',
  async run(ctx) {
    const serial = need(ctx, 'serial');
    // A TPM board flashed at the station: its TPM seals the device key now, at the station's
    // self-test boot, so the TMK in the station's request does not leave the factory.
    const boardFile = readBoardFile(flagString(ctx, 'board') ?? process.env.POS_BOARD ?? 'sim');
    const seal = await firstBootSealTest(boardFile);
    const opened = await openBoard(ctx).catch((e: unknown) => {
      if (!isPosError(e)) throw e;
      return e;
    });
    if (isPosError(opened)) {
      // A device the board file names that cannot be opened is a failed self-test, reported as one
      // (the station and the flash self-test boot read the report), not a command error.
      const now = new Date().toISOString();
      const failed: TestResult = { name: 'board opens its devices', pass: false, values: { message: opened.message }, codes: [opened.code], ms: 0 };
      const report: TestReport = { serial, board: boardFile.config.board, startedAt: now, finishedAt: now, pass: false, tests: [...(seal ? [seal] : []), failed] };
      const file = writeReport(flagString(ctx, 'report-dir') ?? '.', report);
      ctx.out(`FAIL ${failed.name} ${opened.code}: ${opened.message}`);
      ctx.out(`FAIL: report ${file}`);
      return 5;
    }
    const b = opened;
    try {
      const tested = await factoryTest(b.board, { serial, prompts: b.prompts });
      const report = seal ? { ...tested, tests: [seal, ...tested.tests], pass: tested.pass && seal.pass } : tested;
      const file = writeReport(flagString(ctx, 'report-dir') ?? '.', report);
      for (const t of report.tests) ctx.out(`${t.pass ? 'PASS' : 'FAIL'} ${t.name}${t.codes.length ? ` ${t.codes.join(' ')}` : ''}`);
      ctx.out(`${report.pass ? 'PASS' : 'FAIL'}: report ${file}`);
      return report.pass ? 0 : 5;
    } finally {
      await b.close();
    }
  },
};

/**
 * One progress line per terminal, redrawn in place on a TTY (plain lines otherwise); operator
 * lines are printed above the block, which is then drawn again below them.
 */
function progressView(ctx: CommandContext, serials: readonly string[]): { update(serial: string, s: string): void; log(line: string): void } {
  const status = new Map(serials.map((s) => [s, 'waiting']));
  const tty = process.stdout.isTTY === true && ctx.flags.get('plain') === undefined;
  const width = Math.max(...serials.map((s) => s.length));
  let drawn = false;
  const draw = (): void => {
    if (drawn) process.stdout.write(`\x1b[${status.size}A\x1b[J`);
    for (const [k, v] of status) process.stdout.write(`\x1b[2K${k.padEnd(width)}  ${v}\n`);
    drawn = true;
  };
  return {
    update(serial, s) {
      status.set(serial, s);
      if (!tty) { ctx.out(`${serial.padEnd(width)}  ${s}`); return; }
      draw();
    },
    log(line) {
      if (!tty) { ctx.out(line); return; }
      if (drawn) process.stdout.write(`\x1b[${status.size}A\x1b[J`);
      drawn = false;
      process.stdout.write(`${line}\n`);
      draw();
    },
  };
}

/** The station's console: prompts name their terminal; yes/no answers are read from stdin. */
function stationConsole(view: ReturnType<typeof progressView>): StationConsole & { close(): void } {
  let rl: ReturnType<typeof createInterface> | undefined;
  return {
    say: (serial, text) => view.log(`[${serial}] ${text} (on terminal ${serial})`),
    ask: async (serial, question) => {
      view.log(`[${serial}] ${question}`);
      rl ??= createInterface({ input: process.stdin, output: process.stdout });
      return /^y/i.test(await rl.question(`[${serial}] [y/n] `));
    },
    close: () => rl?.close(),
  };
}

function componentsOf(text: string, baseDir: string): KeyComponent[] {
  if (/^[0-9a-fA-F]{32}\/[0-9a-fA-F]{6}(;[0-9a-fA-F]{32}\/[0-9a-fA-F]{6})*$/.test(text)) {
    return text.split(';').map((c) => { const [keyHex, kcvHex] = c.split('/'); return { keyHex, kcvHex }; });
  }
  return componentsFrom(isAbsolute(text) ? text : join(baseDir, text));
}

/**
 * The station's manifest: CSV with a header `serial,tid,mid,components[,board]` or JSON (an array
 * of {serial, tid, mid, components, board?}). `components` is a file of "HEX KCV" lines (relative
 * to the manifest) or inline `HEX/KCV;HEX/KCV` (JSON: also an array of {keyHex, kcvHex}).
 */
export function readManifest(file: string): Array<{ serial: string; board?: string; identity: NonNullable<BoardTerminal['identity']>; merchantAdmin?: MerchantAdminInput }> {
  const text = readFileSync(file, 'utf8');
  const base = dirname(file);
  const rows: Array<Record<string, unknown>> = [];
  if (/\.json$/i.test(file)) {
    const json = JSON.parse(text) as unknown;
    if (!Array.isArray(json)) throw new PosError('OPR_INPUT', `${file}: must be a JSON array of terminals`);
    rows.push(...(json as Array<Record<string, unknown>>));
  } else {
    const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const header = (lines.shift() ?? '').split(',').map((h) => h.trim());
    for (const need of ['serial', 'tid', 'mid', 'components']) if (!header.includes(need)) throw new PosError('OPR_INPUT', `${file}: the header must name serial,tid,mid,components (got ${header.join(',')})`);
    for (const l of lines) rows.push(Object.fromEntries(l.split(',').map((v, i) => [header[i], v.trim()])));
  }
  return rows.map((r, i) => {
    for (const k of ['serial', 'tid', 'mid']) if (typeof r[k] !== 'string' || !r[k]) throw new PosError('OPR_INPUT', `${file}: terminal ${i + 1} has no ${k}`);
    const c = r.components;
    const components = Array.isArray(c) ? (c as KeyComponent[]) : typeof c === 'string' ? componentsOf(c, base) : [];
    const text = (k: string): string | undefined => (typeof r[k] === 'string' && r[k] !== '' ? String(r[k]) : typeof r[k] === 'number' ? String(r[k]) : undefined);
    const passwordFile = text('merchantPasswordFile');
    const merchantAdmin = merchantAdminOf(text('merchantAdmin'), passwordFile && !isAbsolute(passwordFile) ? join(base, passwordFile) : passwordFile,
      { number: `${file}: terminal ${i + 1}'s merchantAdmin`, file: 'merchantPasswordFile' });
    return {
      serial: String(r.serial), identity: { tid: String(r.tid), mid: String(r.mid), components }, ...(merchantAdmin ? { merchantAdmin } : {}),
      ...(typeof r.board === 'string' && r.board ? { board: isAbsolute(r.board) || !/[/\\]|\.json$/.test(r.board) ? r.board : join(base, r.board) } : {}),
    };
  });
}

/** `--timeout-ms=N`: how long one terminal of the station may take (both forms). */
function stationTimeoutMs(ctx: CommandContext): number | undefined {
  const timeoutMs = intFlag(ctx, 'timeout-ms');
  if (timeoutMs !== undefined && timeoutMs < STATION_TIMEOUT_MS_MIN) throw new PosError('OPR_INPUT', `--timeout-ms must be an integer of at least ${STATION_TIMEOUT_MS_MIN}`);
  return timeoutMs;
}

/** A terminal's provisioning and self-test take seconds: a shorter limit only fails good terminals. */
const STATION_TIMEOUT_MS_MIN = 1000;

async function boardStation(ctx: CommandContext): Promise<number> {
  const boards = (flagString(ctx, 'boards') ?? '').split(',').map((b) => b.trim()).filter(Boolean);
  const manifest = flagString(ctx, 'manifest');
  const serials = (flagString(ctx, 'serials') ?? '').split(',').map((b) => b.trim()).filter(Boolean);
  if (manifest && serials.length) throw new PosError('OPR_INPUT', 'give --serials or --manifest, not both');
  const listed = manifest ? readManifest(manifest) : serials.map((serial) => ({ serial, board: undefined as string | undefined, identity: undefined }));
  if (listed.length === 0) throw new PosError('OPR_INPUT', 'no terminals: give --serials=S1,S2,... (test only) or --manifest=FILE (provision and test)');
  const terminals: BoardTerminal[] = listed.map((t, i) => {
    const boardFile = boards[i] ?? t.board;
    if (!boardFile) throw new PosError('OPR_INPUT', `terminal ${t.serial} has no board file: --boards lists ${boards.length} for ${listed.length} terminals`);
    return { serial: t.serial, boardFile, ...(t.identity ? { identity: t.identity } : {}) };
  });
  if (boards.length > listed.length) throw new PosError('OPR_INPUT', `--boards lists ${boards.length} board files for ${listed.length} terminals`);
  const timeoutMs = stationTimeoutMs(ctx);
  const dir = flagString(ctx, 'report-dir') ?? 'factory-reports';
  const view = progressView(ctx, terminals.map((t) => t.serial));
  const operator = stationConsole(view);
  let reports;
  try {
    reports = await runBoardStation({
      terminals, workDir: join(dir, 'terminals'), reportDir: dir, registryFile: flagString(ctx, 'registry') ?? join(dir, 'registry.json'),
      unattended: ctx.flags.has('unattended'), console: operator, onProgress: (s, p) => view.update(s, p), ...(timeoutMs ? { timeoutMs } : {}),
    });
  } finally {
    operator.close();
  }
  showServicePasswords(ctx, reports);
  const by = { pass: [] as string[], fail: [] as string[], incomplete: [] as string[] };
  for (const r of reports) {
    const x = outcome(r);
    by[x.result].push(x.result === 'fail' ? `${r.serial} ${x.codes.join('/')}` : x.result === 'incomplete' ? `${r.serial} (skipped: ${x.skipped.join(', ')})` : r.serial);
  }
  ctx.out(`${by.pass.length} passed, ${by.fail.length} failed${by.fail.length ? `: ${by.fail.join(', ')}` : ''}${by.incomplete.length ? `; ${by.incomplete.length} incomplete: ${by.incomplete.join(', ')}` : ''}; reports in ${dir}`);
  return by.pass.length === reports.length ? 0 : 5;
}

const stationCmd: Command = {
  name: 'factory station',
  usage: 'factory station (--count N [--faults 3:printer] [--serial PREFIX] | --boards=F1,F2 (--serials=S1,S2 | --manifest=FILE) [--unattended]) [--timeout-ms=N] [--report-dir D] [--registry F] [--plain]',
  summary: 'provision and test several terminals at once (simulated in-process, or board files one process each)',
  async run(ctx) {
    // One form or the other: a flag of the other form would be ignored (`--count 3 --boards=...`
    // ran the board files and dropped the count; `--serials=S1,S2` alone ran one simulated terminal).
    const boardForm = ['boards', 'manifest', 'serials'].filter((f) => ctx.flags.has(f));
    const simForm = ['count', 'faults', 'serial'].filter((f) => ctx.flags.has(f));
    if (boardForm.length && simForm.length) throw new UsageError(`--${simForm[0]} is for the simulated station, --${boardForm[0]} for board files: give one form`);
    if (boardForm.length) return boardStation(ctx);
    const { failedCodes, runStation, simulatedTerminals } = requireSim<typeof import('./factory-station')>('./factory-station', 'the simulated station (--count)');
    const count = intFlag(ctx, 'count') ?? 1;
    if (count < 1 || count > 64) throw new PosError('OPR_INPUT', '--count is 1..64');
    const faults = stationFaults(flagString(ctx, 'faults'), count);
    const terminals = simulatedTerminals(count, flagString(ctx, 'serial') ?? 'SIM').map((t, i) => (faults.has(i + 1) ? { ...t, faults: [faults.get(i + 1)!] } : t));
    const dir = flagString(ctx, 'report-dir') ?? 'factory-reports';
    const status = new Map(terminals.map((t) => [t.serial, 'waiting']));
    const tty = process.stdout.isTTY && ctx.flags.get('plain') === undefined;
    let drawn = false;
    const draw = (serial: string, s: string): void => {
      status.set(serial, s);
      if (!tty) { ctx.out(`${serial}  ${s}`); return; }
      if (drawn) process.stdout.write(`\x1b[${status.size}A`);
      for (const [k, v] of status) process.stdout.write(`\x1b[2K${k}  ${v}\n`);
      drawn = true;
    };
    // --registry and --timeout-ms as the board files' form takes them (they were ignored here:
    // the registry went to the report folder whatever was asked).
    const timeoutMs = stationTimeoutMs(ctx);
    const reports = await runStation({ terminals, workDir: join(dir, 'terminals'), reportDir: dir, registryFile: flagString(ctx, 'registry') ?? join(dir, 'registry.json'), onProgress: draw, ...(timeoutMs ? { timeoutMs } : {}) });
    showServicePasswords(ctx, reports);
    const failed = reports.filter((r) => !r.pass);
    ctx.out(`${reports.length - failed.length} passed, ${failed.length} failed${failed.length ? `: ${failed.map((r) => `${r.serial} ${failedCodes(r).join('/')}`).join(', ')}` : ''}; reports in ${dir}`);
    return failed.length ? 5 : 0;
  },
};

/**
 * `--sizes ROOT,POS,DATA` in MiB (default boot/flash/disk-image.ts PARTITION_SIZES_DEFAULT). What
 * is typed wrong is the command line's fault (exit 64 with the usage), as for a number flag.
 */
function sizesOf(text: string | undefined): PartitionSizes | undefined {
  if (text === undefined) return undefined;
  const parts = text.split(',');
  const n = parts.map((p) => (/^[0-9]+$/.test(p.trim()) ? Number(p.trim()) : NaN));
  if (n.length !== 3 || n.some((x) => !Number.isSafeInteger(x) || x < 1)) throw new UsageError(`--sizes is ROOT,POS,DATA in whole MiB of at least 1, e.g. 512,768,128 (got "${text}")`);
  return { rootMiB: n[0], posMiB: n[1], dataMiB: n[2] };
}

const flashCmd: Command = {
  name: 'factory flash',
  usage: 'factory flash --image FILE.posupd --rootfs BASE.tar --board B --targets T1,T2,... --manifest FILE [--public-key HEX] [--concurrency N] [--boot-kernel K --boot-initrd I [--boot-concurrency N] [--boot-timeout-ms N] [--boot-tpm-dir D]] [--merchant-admin N --merchant-password-file F] [--sizes 512,768,128] [--report-dir D] [--work-dir D] [--registry F] [--locale zh-CN]',
  summary: 'write a release image onto blank targets (disk image files or block devices), provision, check, boot and self-test each; one JSON report per serial (--concurrency 8 and --boot-concurrency 1 unless given)',
  async run(ctx) {
    // Every required flag first, named when missing (nothing is opened before).
    const [image, rootfs, boardFile, targetList, manifest] = (['image', 'rootfs', 'board', 'targets', 'manifest'] as const).map((f) => need(ctx, f));
    // What is typed wrong on the command line before any file is read (the manifest below).
    const kernel = flagString(ctx, 'boot-kernel');
    const initrd = flagString(ctx, 'boot-initrd');
    if ((kernel === undefined) !== (initrd === undefined)) throw new PosError('OPR_INPUT', 'give both --boot-kernel and --boot-initrd (the emulated board), or neither');
    const bootTimeoutMs = intFlag(ctx, 'boot-timeout-ms');
    const bootTpmDir = flagString(ctx, 'boot-tpm-dir');
    const concurrency = intFlag(ctx, 'concurrency');
    const bootConcurrency = intFlag(ctx, 'boot-concurrency');
    const sizes = sizesOf(flagString(ctx, 'sizes'));
    const targets = targetList.split(',').map((t) => t.trim()).filter(Boolean);
    const listed = readManifest(manifest);
    if (listed.length !== targets.length) throw new PosError('OPR_INPUT', `--targets lists ${targets.length} targets for ${listed.length} terminals in ${manifest}`);
    const reportDir = flagString(ctx, 'report-dir') ?? 'factory-reports';
    const publicKeyHex = flagString(ctx, 'public-key');
    const registryFile = flagString(ctx, 'registry');
    // One administrator for every target (each hashed with its own salt); a manifest row's own wins.
    const merchantAdmin = merchantAdminFrom(ctx);
    // TEST-ONLY (tests/boot/factory-flash.test.ts): stop every target at this point and wait to be killed.
    const holdAt = process.env.POS_FLASH_TEST_HOLD_AT as HoldPoint | undefined;
    if (holdAt !== undefined && !HOLD_POINTS.includes(holdAt)) throw new PosError('OPR_INPUT', `POS_FLASH_TEST_HOLD_AT must be one of ${HOLD_POINTS.join(', ')}`);
    const reports = await flashStation({
      image, rootfs, boardFile,
      targets: listed.map((t, i) => {
        const admin = t.merchantAdmin ?? merchantAdmin;
        return { serial: t.serial, target: targets[i], identity: t.identity, ...(admin ? { merchantAdmin: admin } : {}) };
      }),
      reportDir, workDir: flagString(ctx, 'work-dir') ?? join(reportDir, 'flash-work'),
      locale: (flagString(ctx, 'locale') ?? 'zh-CN') as (typeof LOCALES)[number],
      ...(publicKeyHex ? { publicKeyHex } : {}), ...(registryFile ? { registryFile } : {}), ...(sizes ? { sizes } : {}),
      ...(concurrency !== undefined ? { concurrency } : {}), ...(bootConcurrency !== undefined ? { bootConcurrency } : {}),
      ...(kernel && initrd ? { boot: { kernel, initrd, ...(bootTimeoutMs ? { timeoutMs: bootTimeoutMs } : {}), ...(bootTpmDir ? { tpmDir: bootTpmDir } : {}) } } : {}),
      onImage: (i) => ctx.out(i.reused
        ? `disk image: the one an earlier run built from the same package, board file, base OS and sizes, checked whole (${i.file})`
        : `disk image built in ${(i.ms / 1000).toFixed(1)} s; kept for the next run with the same inputs (${i.file})`),
      onProgress: (serial, step) => ctx.out(`${serial}  ${step}`),
      ...(holdAt ? { holdAt, onHold: (serial: string, point: HoldPoint) => ctx.out(`HOLD ${serial} ${point}`) } : {}),
    });
    showServicePasswords(ctx, reports);
    for (const r of reports) {
      ctx.out(`${r.pass ? 'PASS' : 'FAIL'} ${r.serial} ${r.target}${r.errors.length ? ` ${r.errors.map((e) => `${e.code} (${e.step}): ${e.message}`).join('; ')}` : ''}`);
    }
    const passed = reports.filter((r) => r.pass).length;
    ctx.out(`${passed} of ${reports.length} flashed and passed; reports in ${reportDir} (<serial>.flash.json, the run's summary ${FLASH_SUMMARY_FILE})`);
    return passed === reports.length ? 0 : 5;
  },
};

export const factoryCommands: readonly Command[] = [provisionCmd, testCmd, stationCmd, flashCmd];

/**
 * The station's console is the one place a provisioned terminal's service password appears: the
 * reports on disk say only that it was shown (boot/factory.ts provisionRecord).
 */
function showServicePasswords(ctx: CommandContext, reports: ReadonlyArray<{ readonly serial: string; readonly servicePassword?: string }>): void {
  const shown = reports.filter((r) => r.servicePassword);
  if (!shown.length) return;
  ctx.out('service administrator 000 passwords: hand them to the service organisation now; they are stored only hashed and never shown again');
  for (const r of shown) ctx.out(`  ${r.serial}  ${r.servicePassword}`);
}
