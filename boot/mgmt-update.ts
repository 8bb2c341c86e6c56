/**
 * The management channel's software-update offer on a terminal with A/B slots (docs/MANAGEMENT.md):
 * fetch the package over HTTPS with the CA pinned, bounded by the offered size, check its SHA-256,
 * then the package's own signature, board and version exactly as `pos update apply` does
 * (boot/update.ts), and install it with the same updater once runtime/mgmt/client.ts has found a
 * safe moment (idle, battery, batch settled or allowed).
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { get } from 'node:https';
import { join } from 'node:path';
import { PosError } from '../common/errors';
import type { MgmtUpdater } from '../runtime/mgmt/client';
import type { UpdateOffer } from '../runtime/mgmt/protocol';
import { PACKAGE_BYTES_MAX, applyUpdate, compareVersions, parsePackage, publicKeyFromHex } from './update';
import { readState } from './update-slots';

/** Below this the update waits (unless charging): a power cut mid-install is survivable, but a flat battery at the first boot of the new slot costs a rollback. */
export const UPDATE_BATTERY_PERCENT_MIN = 30;
/** No response headers within this: the download is given up (E-MGT-05 follows from the caller's limit otherwise). */
const RESPONSE_WAIT_MS_MAX = 30_000;
const STAGED_FILE = 'mgmt-offer.posupd';

export interface UpdaterDeps {
  /** The A/B slot root and the board's update key (board file `update`). */
  readonly root: string;
  readonly publicKeyHex: string;
  readonly board: string;
  /** The pinned CA for the download (the management CA unless the board file names another). */
  readonly caPem: string;
  /** Where the package is staged (a folder on the persistent partition). */
  readonly stagingDir: string;
  readonly battery: () => { readonly percent: number | undefined; readonly charging: boolean };
  /** Transactions in the open batch (the update waits for settlement unless the offer allows it). */
  readonly batchCount: () => number;
}

/** GET `url` into `file`, at most `sizeBytes`, checking the SHA-256; E-UPD-03 on any mismatch. */
export function download(offer: UpdateOffer, caPem: string, file: string): Promise<void> {
  const limit = Math.min(offer.sizeBytes, PACKAGE_BYTES_MAX);
  return new Promise((resolve, reject) => {
    const fd = openSync(file, 'w', 0o600);
    let closed = false;
    const finish = (e?: Error): void => {
      if (closed) return;
      closed = true;
      try { if (!e) fsyncSync(fd); } finally { closeSync(fd); }
      if (e) { rmSync(file, { force: true }); reject(e); } else resolve();
    };
    const req = get(offer.url, { ca: caPem, rejectUnauthorized: true, timeout: RESPONSE_WAIT_MS_MAX }, (res) => {
      if (res.statusCode !== 200) { res.resume(); finish(new PosError('UPD_CORRUPT', `${offer.url}: HTTP ${res.statusCode ?? '?'}`)); return; }
      const hash = createHash('sha256');
      let got = 0;
      res.on('data', (chunk: Buffer) => {
        got += chunk.length;
        if (got > limit) { req.destroy(); finish(new PosError('UPD_CORRUPT', `${offer.url}: more than the offered ${limit} bytes`)); return; }
        hash.update(chunk);
        writeSync(fd, chunk);
      });
      res.on('end', () => {
        if (closed) return;
        const digest = hash.digest('hex');
        if (got !== offer.sizeBytes) finish(new PosError('UPD_CORRUPT', `${offer.url}: ${got} bytes, the offer said ${offer.sizeBytes}`));
        else if (digest !== offer.sha256) finish(new PosError('UPD_CORRUPT', `${offer.url}: SHA-256 ${digest} is not the offer's ${offer.sha256}`));
        else finish();
      });
      res.on('error', (e) => finish(new PosError('UPD_CORRUPT', `${offer.url}: ${e.message}`)));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${RESPONSE_WAIT_MS_MAX} ms`)));
    // TLS failures (a certificate not from the pinned CA) and refused connections land here.
    req.on('error', (e) => finish(new PosError('MGT_BROKER', `${offer.url}: ${e.message}`)));
  });
}

/** The `update` command's parts for runtime/mgmt/client.ts. */
export function mgmtUpdater(d: UpdaterDeps): MgmtUpdater {
  const publicKey = publicKeyFromHex(d.publicKeyHex);
  return {
    fetch: async (offer) => {
      mkdirSync(d.stagingDir, { recursive: true });
      const part = join(d.stagingDir, `${STAGED_FILE}.part`);
      const file = join(d.stagingDir, STAGED_FILE);
      await download(offer, d.caPem, part);
      // The package's own checks, before any waiting: a bad offer is refused at once.
      const pkg = parsePackage(readFileSync(part), publicKey);
      if (pkg.manifest.board !== d.board) throw new PosError('UPD_BOARD', `package is for board "${pkg.manifest.board}", this terminal is "${d.board}"`);
      if (pkg.manifest.version !== offer.version) throw new PosError('UPD_CORRUPT', `package holds version ${pkg.manifest.version}, the offer said ${offer.version}`);
      const s = readState(d.root);
      const running = s.versions[s.active];
      if (running !== undefined && compareVersions(pkg.manifest.version, running) <= 0) throw new PosError('UPD_VERSION', `package version ${pkg.manifest.version} is not newer than the running ${running}`);
      renameSync(part, file);
      return file;
    },
    unsafeBecause: (offer) => {
      const b = d.battery();
      if (!b.charging && (b.percent === undefined || b.percent < UPDATE_BATTERY_PERCENT_MIN)) return `battery ${b.percent ?? '?'}% below ${UPDATE_BATTERY_PERCENT_MIN}% and not charging`;
      if (!offer.allowOpenBatch && d.batchCount() > 0) return `${d.batchCount()} transactions in the open batch: settle first`;
      return undefined;
    },
    apply: async (file) => {
      const report = applyUpdate({ root: d.root, file, publicKeyHex: d.publicKeyHex, board: d.board });
      rmSync(file, { force: true });
      return report;
    },
  };
}
