/**
 * `pos factory station`'s flags are read in both forms: the simulated station (--count) writes its
 * registry where --registry says (it went to the report folder whatever was asked) and takes
 * --timeout-ms; a flag of the other form is refused, not dropped.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeDir } from '../../storage/testing';
import { main } from '../../boot/pos';
import { EXIT_USAGE } from '../../boot/cli';

describe('pos factory station: every flag of its usage line is read', function () {
  this.timeout(120_000);
  let work: string;
  beforeEach(() => { work = mkdtempSync(join(tmpdir(), 'pos-station-cli-')); });
  afterEach(() => removeDir(work));

  async function pos(...argv: string[]): Promise<{ code: number; out: string }> {
    const out: string[] = [];
    const code = await main(argv, (l) => out.push(l), (l) => out.push(l));
    return { code, out: out.join('\n') };
  }

  it('theSimulatedStationWritesItsRegistryWhereRegistrySays', async () => {
    const registry = join(work, 'line-3', 'registry.json');
    const reports = join(work, 'reports');
    const r = await pos('factory', 'station', '--count', '1', '--serial', 'REG', '--registry', registry, '--report-dir', reports, '--plain');
    assert.equal(r.code, 0, r.out);
    assert.ok(existsSync(registry), `registry at --registry: ${r.out}`);
    assert.ok(readFileSync(registry, 'utf8').includes('REG0001'), 'the terminal is registered there');
    assert.equal(existsSync(join(reports, 'registry.json')), false, 'not in the report folder');
  });

  it('theSimulatedStationReadsTimeoutMs', async () => {
    const r = await pos('factory', 'station', '--count', '1', '--timeout-ms=500', '--report-dir', join(work, 'reports'), '--plain');
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /--timeout-ms must be an integer of at least 1000/);
    assert.equal(existsSync(join(work, 'reports')), false, 'nothing ran');
  });

  it('flagsOfBothFormsTogetherAreRefusedNotDropped', async () => {
    const both = await pos('factory', 'station', '--count', '2', '--boards=sim,sim', '--serials=A1,A2', '--report-dir', join(work, 'reports'));
    assert.equal(both.code, EXIT_USAGE, both.out);
    assert.match(both.out, /--count is for the simulated station, --boards for board files/);
    // --serials alone is the board files' form (it ran one simulated terminal named SIM0001).
    const serials = await pos('factory', 'station', '--serials=A1', '--report-dir', join(work, 'reports'));
    assert.equal(serials.code, 2, serials.out);
    assert.match(serials.out, /terminal A1 has no board file/);
    assert.equal(existsSync(join(work, 'reports')), false, 'nothing ran');
  });
});
