/**
 * `pos update keygen|build|init|apply|status|boot|confirm|rollback` (boot/UPDATE_FORMAT.md).
 * Exit codes: 0 ok; 2 operating error (code printed); 3 nothing to do (confirm without a trial).
 */
import { readFileSync, mkdirSync } from 'node:fs';
import { writeKeyFileDurably } from '../runtime/device-key';
import { join } from 'node:path';
import { Command, CommandContext, UsageError, existingFile, flagString, need } from './cli';
import { PosError } from '../common/errors';
import { readBoardFile } from '../hal/board';
import { applyUpdate, buildPackage, generateUpdateKeys, isVersion, updateStatus, writeFileAtomic } from './update';
import { confirmSlot, failTrial, initSlots, selectBootSlot } from './update-slots';
import { adminSessionFromCli } from './recovery-cli';
import { lazy } from '../common/lazy';

/** The journal's tools, loaded by `update status` only (the journal and its child verify). */
const journalCli = lazy(() => require('./journal-cli') as typeof import('./journal-cli'));

/** Slot root: --root, else $POS_UPDATE_ROOT, else the board file's update.root. */
function root(ctx: CommandContext): string {
  const r = flagString(ctx, 'root') ?? process.env.POS_UPDATE_ROOT ?? board(ctx).config.update?.root;
  if (!r) throw new UsageError('--root R is missing (or set $POS_UPDATE_ROOT, or update.root in the board file)');
  return r;
}

function board(ctx: CommandContext): ReturnType<typeof readBoardFile> {
  return readBoardFile(flagString(ctx, 'board') ?? process.env.POS_BOARD ?? 'sim');
}

const keygen: Command = {
  name: 'update keygen', usage: 'update keygen --out DIR', summary: 'vendor: new Ed25519 key pair (private PEM, public hex for board files)',
  async run(ctx) {
    const out = need(ctx, 'out');
    mkdirSync(out, { recursive: true });
    const k = generateUpdateKeys();
    // Key files are written like the journal (temp file, fsync, into place, fsync of the folder);
    // an existing private key is never replaced.
    if (!writeKeyFileDurably(join(out, 'update-private.pem'), Buffer.from(k.privateKeyPem, 'utf8'), { mode: 0o600, replace: false })) {
      throw new PosError('OPR_INPUT', `${join(out, 'update-private.pem')} exists: a key pair is never overwritten (choose another --out)`);
    }
    writeKeyFileDurably(join(out, 'update-public.hex'), Buffer.from(k.publicKeyHex + '\n', 'utf8'), { mode: 0o644 });
    ctx.out(`private key: ${join(out, 'update-private.pem')} (keep it off terminals)`);
    ctx.out(`public key for board files ("update": { "publicKey": ... }): ${k.publicKeyHex}`);
    return 0;
  },
};

/** --version as typed: MAJOR.MINOR.PATCH, else the command line is wrong (exit 64), not a damaged package. */
function versionTyped(v: string): string {
  if (!isVersion(v)) throw new UsageError(`--version ${v}: a version is MAJOR.MINOR.PATCH, e.g. 1.2.3`);
  return v;
}

const build: Command = {
  name: 'update build', usage: 'update build --from DIR --key PEM --version X.Y.Z --board B --out FILE', summary: 'vendor: signed package from a directory',
  async run(ctx) {
    // Every required flag is checked before the (slow) build, not the last one after it.
    const [from, key, version, boardName, out] = (['from', 'key', 'version', 'board', 'out'] as const).map((f) => need(ctx, f));
    versionTyped(version);
    const bytes = buildPackage(from, readFileSync(key, 'utf8'), { version, board: boardName });
    writeFileAtomic(out, bytes, join(out, '..'));
    ctx.out(`wrote ${out} (${bytes.length} bytes)`);
    return 0;
  },
};

const init: Command = {
  name: 'update init', usage: 'update init [--root R | --board B] --version X.Y.Z', summary: 'create the A/B layout (first install: running version in slot A)',
  async run(ctx) {
    const version = versionTyped(need(ctx, 'version'));
    const s = initSlots(root(ctx), version);
    ctx.out(`slots at ${root(ctx)}: active ${s.active} (${s.versions[s.active]})`);
    return 0;
  },
};

/**
 * The package `update apply` installs: `FILE` as the docs have always written it, or `--file FILE`
 * as every other command names the file it reads (`journal import --in FILE`, `factory flash
 * --image FILE`). Exactly one package, given one way: with both, or with a second FILE, one of
 * them was silently dropped (the flag won), and a technician who meant the other one would have
 * installed the wrong version.
 */
function packageFile(ctx: CommandContext): string {
  const flag = flagString(ctx, 'file');
  const [positional, ...extra] = ctx.args;
  if (flag !== undefined && positional !== undefined) throw new UsageError(`the update package is given twice (${positional} and --file ${flag}): give FILE or --file FILE, not both`);
  if (extra.length > 0) throw new UsageError(`one update package at a time (${[positional, ...extra].join(', ')} given)`);
  if (flag !== undefined) return existingFile(flag, '--file');
  if (positional === undefined) throw new UsageError('the update package FILE is missing (give FILE or --file FILE)');
  return existingFile(positional, 'FILE');
}

const apply: Command = {
  name: 'update apply', usage: 'update apply (FILE | --file FILE) [--root R] [--board B] [--public-key HEX] [--force --operator N --password-file F [--dir D]]', summary: 'verify a package and install it into the inactive slot',
  async run(ctx) {
    // What the person must give comes first: without a package there is nothing to check a key against.
    const file = packageFile(ctx);
    const b = board(ctx);
    const publicKeyHex = flagString(ctx, 'public-key') ?? b.config.update?.publicKey;
    if (!publicKeyHex) throw new PosError('UPD_SIGNATURE', `${b.file}: no update.publicKey: this board cannot verify updates. The package is not at fault: give the vendor's public key with --public-key HEX (pos update keygen prints it), or put it in the board file's update.publicKey`);
    const force = ctx.flags.has('force') ? await adminSessionFromCli(ctx) : undefined;
    const r = applyUpdate({ root: root(ctx), file, publicKeyHex, board: b.config.board, force });
    ctx.out(`installed ${r.version} into slot ${r.slot} (${r.files} files${r.forced ? ', forced by an administrator' : ''}); running ${r.previousVersion ?? '?'} until the next boot`);
    ctx.out('  reboot: the first boot from it must pass its health check and confirm, or it is rolled back');
    return 0;
  },
};

const status: Command = {
  name: 'update status', usage: 'update status [--root R | --board B] [--dir D] [--json]', summary: 'running version (flagged bad by the console? the journal says: --dir, or the board file), pending update, last result',
  async run(ctx) {
    const s = updateStatus(root(ctx));
    // The console's flag on the running version lives in the journal (docs/MANAGEMENT.md flag-version).
    const { flags, unread } = await journalCli().versionFlagsIn(journalCli().journalDir(ctx, false));
    const flag = flags.find((f) => f.version === s.runningVersion);
    if (ctx.flags.has('json')) {
      ctx.out(JSON.stringify({ ...s, versionFlagged: flag !== undefined, ...(flag ? { versionFlag: flag } : {}), ...(unread !== undefined ? { versionFlagsUnread: unread } : {}) }));
      return 0;
    }
    ctx.out(`running ${s.runningVersion ?? '?'} from slot ${s.active}`);
    if (flag) ctx.out(`E-UPD-08 running version ${flag.version} flagged bad by the management console: ${flag.reason} (command ${flag.commandId})`);
    if (unread !== undefined) ctx.out(`version flags not read: ${unread}`);
    if (s.pending) ctx.out(`pending ${s.pending.version} in slot ${s.pending.slot} (${s.pending.tries} boot tries)`);
    if (s.last) ctx.out(`last: ${s.last.result} ${s.last.version} at ${new Date(s.last.atMs).toISOString()}${s.last.reason ? `: ${s.last.reason}` : ''}`);
    if (s.last?.result === 'rolled-back') ctx.out('E-UPD-04 update rolled back: the previous version runs');
    return 0;
  },
};

const bootCmd: Command = {
  name: 'update boot', usage: 'update boot [--root R | --board B]', summary: 'at boot: choose the slot (trial or rollback) and print its directory',
  async run(ctx) {
    const c = selectBootSlot(root(ctx));
    if (c.rolledBack) ctx.err(`E-UPD-04 update to ${c.rolledBack.version} rolled back: ${c.rolledBack.reason}`);
    ctx.out(c.dir);
    return 0;
  },
};

const confirm: Command = {
  name: 'update confirm', usage: 'update confirm [--root R | --board B]', summary: 'after the health check on a trial boot: make the new slot active',
  async run(ctx) {
    const r = confirmSlot(root(ctx));
    ctx.out(r.confirmed ? `confirmed ${r.version}: now the active version` : `nothing confirmed: ${r.reason}`);
    return r.confirmed ? 0 : 3;
  },
};

const rollbackCmd: Command = {
  name: 'update rollback', usage: 'update rollback [--root R | --board B] [--reason TEXT]', summary: 'a trial boot failed its health check: roll back now',
  async run(ctx) {
    const done = failTrial(root(ctx), flagString(ctx, 'reason') ?? 'health check failed');
    ctx.out(done ? 'rolled back: the previous version boots next' : 'no update pending');
    return done ? 0 : 3;
  },
};

export const updateCommands: readonly Command[] = [keygen, build, init, apply, status, bootCmd, confirm, rollbackCmd];
