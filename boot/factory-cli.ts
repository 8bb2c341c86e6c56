/**
 * `pos factory provision|test|station`. Key components come from a file (one "HEX KCV" per
 * line), never argv. Exit codes: 0 pass; 2 operating error; 5 a hardware test failed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { Command, CommandContext, flagString } from './cli';
import { PosError } from '../runtime/errors';
import { fileDeviceKey } from '../runtime/device-key';
import { loadBoard, readBoardFile, Board } from '../hal/board';
import { linuxFactories } from '../hal/board-linux';
import { createSimBoard } from '../sim/board-sim';
import { KeyComponent, Prompts, factoryTest, provision, writeReport, LOCALES } from './factory';
import { failedCodes, runStation, simPrompts, simulatedTerminals } from './factory-station';

function need(ctx: CommandContext, flag: string): string {
  const v = flagString(ctx, flag);
  if (!v) throw new PosError('OPR_INPUT', `--${flag} is required`);
  return v;
}

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

const provisionCmd: Command = {
  name: 'factory provision', usage: 'factory provision --serial S --tid T --mid M --components FILE [--locale zh-CN] [--board B] [--dir D] [--registry F] [--label-dir D]', summary: 'write identity + TMK, print the QR label',
  async run(ctx) {
    const { config } = readBoardFile(flagString(ctx, 'board') ?? process.env.POS_BOARD ?? 'sim');
    const locale = (flagString(ctx, 'locale') ?? 'zh-CN') as (typeof LOCALES)[number];
    const b = await openBoard(ctx);
    try {
      const serial = need(ctx, 'serial');
      const r = await provision({
        serial, tid: need(ctx, 'tid'), mid: need(ctx, 'mid'), components: componentsFrom(need(ctx, 'components')), board: config, locale,
        journalDir: flagString(ctx, 'dir') ?? config.storage.journalDir, registryFile: flagString(ctx, 'registry') ?? 'factory-registry.json',
        deviceKey: fileDeviceKey(join(config.storage.journalDir, '..', 'device.key')), printer: b.board.printer(),
        labelPngFile: join(flagString(ctx, 'label-dir') ?? '.', `${serial}-label.png`),
      });
      ctx.out(`provisioned ${r.serial} TID ${r.tid}, TMK KCV ${r.kcvTmk}${r.testKeys ? ' (TEST KEYS: simulator only)' : ''}`);
      ctx.out(`service administrator 000, password ${r.servicePassword}: hand it to the service organisation now; it is stored only hashed and never shown again`);
      ctx.out(`label ${r.label.printed ? 'printed' : `NOT printed ${r.label.code ?? ''}`}${r.label.png ? `; PNG ${r.label.png}` : ''}`);
      return r.label.printed ? 0 : 5;
    } finally {
      await b.close();
    }
  },
};

const testCmd: Command = {
  name: 'factory test', usage: 'factory test --serial S [--board B] [--report-dir D]', summary: 'full hardware self-test, JSON report, pass/fail exit code',
  async run(ctx) {
    const b = await openBoard(ctx);
    try {
      const report = await factoryTest(b.board, { serial: need(ctx, 'serial'), prompts: b.prompts });
      const file = writeReport(flagString(ctx, 'report-dir') ?? '.', report);
      for (const t of report.tests) ctx.out(`${t.pass ? 'PASS' : 'FAIL'} ${t.name}${t.codes.length ? ` ${t.codes.join(' ')}` : ''}`);
      ctx.out(`${report.pass ? 'PASS' : 'FAIL'}: report ${file}`);
      return report.pass ? 0 : 5;
    } finally {
      await b.close();
    }
  },
};

const stationCmd: Command = {
  name: 'factory station', usage: 'factory station --count N [--report-dir D] [--faults 3:printer,6:stuck-key]', summary: 'provision and test N simulated terminals at once',
  async run(ctx) {
    const count = Number(flagString(ctx, 'count') ?? 1);
    if (!Number.isInteger(count) || count < 1 || count > 64) throw new PosError('OPR_INPUT', '--count is 1..64');
    const faults = new Map((flagString(ctx, 'faults') ?? '').split(',').filter(Boolean).map((f) => { const [n, k] = f.split(':'); return [Number(n), k as 'printer' | 'stuck-key'] as const; }));
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
    const reports = await runStation({ terminals, workDir: join(dir, 'terminals'), reportDir: dir, registryFile: join(dir, 'registry.json'), onProgress: draw });
    const failed = reports.filter((r) => !r.pass);
    ctx.out(`${reports.length - failed.length} passed, ${failed.length} failed${failed.length ? `: ${failed.map((r) => `${r.serial} ${failedCodes(r).join('/')}`).join(', ')}` : ''}; reports in ${dir}`);
    return failed.length ? 5 : 0;
  },
};

export const factoryCommands: readonly Command[] = [provisionCmd, testCmd, stationCmd];
