/**
 * A recovery export in a process of its own, so that strace can inject faults into its system
 * calls (tests/boot/usb-export.test.ts): `export-child JOURNAL_DIR BACKUP_DIR STICK`. Prints
 * `OK <file>` or `ERR <code> <message>`; exits 0 either way (a crash is the test's failure).
 */
import { Recovery } from '../../boot/recovery';
import { isPosError } from '../../common/errors';

export const EXPORT_CHILD_IDENTITY = 'SIM-EXPORT';
export const EXPORT_CHILD_PASSPHRASE = '246810';

async function main(): Promise<void> {
  const [journalDir, backupDir, stick] = process.argv.slice(2);
  const r = new Recovery({ journalDir, backupDir, identity: EXPORT_CHILD_IDENTITY });
  try {
    const report = await r.exportTo(stick, EXPORT_CHILD_PASSPHRASE, { operator: '000', role: 'administrator' });
    process.stdout.write(`OK ${String(report.detail?.file)}\n`);
  } catch (e) {
    process.stdout.write(`ERR ${isPosError(e) ? e.code : 'untyped'} ${e instanceof Error ? e.message : String(e)}\n`);
  } finally {
    await r.close();
  }
}

if (require.main === module) void main();
