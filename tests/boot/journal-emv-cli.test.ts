/**
 * `pos journal emv`: the CA public keys and AIDs the journal holds (the last ca-keys and aids
 * settings records), with each key's check status, in en or zh-CN, read-only; a journal with none
 * says the built-in AIDs apply; a bad --locale is refused by name.
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { main } from '../../boot/pos';
import { Journal } from '../../storage/journal';
import { removeDir, tempDir } from '../../storage/testing';
import { rec } from '../../runtime/records';
import { testAids, testCaPublicKeys } from '../../sim/host/emv-params-host';

async function pos(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [], err: string[] = [];
  const code = await main(argv, (l) => { out.push(l); }, (l) => { err.push(l); });
  return { code, out, err };
}

describe('pos journal emv: the downloaded CA keys and AIDs', function () {
  this.timeout(60_000);
  let root: string;
  beforeEach(() => { root = tempDir('h-emv-cli-'); });
  afterEach(() => { removeDir(root); });

  async function journalWith(records: ReturnType<typeof rec.caKeys>[]): Promise<string> {
    const dir = join(root, 'j');
    const j = await Journal.open({ dir, identity: 'SIM-EMV' });
    for (const r of records) await j.append(r.type, r.payload);
    await j.close();
    return dir;
  }

  it('lists the last downloaded set: every key with its status, every AID with its limits, in both languages', async () => {
    const keys = testCaPublicKeys();
    const aids = testAids();
    const dir = await journalWith([rec.caKeys({ keys: keys.slice(0, 1) }), rec.caKeys({ keys }), rec.aidParams({ aids })]);
    const en = await pos('journal', 'emv', '--dir', dir);
    assert.equal(en.code, 0, en.err.join('\n'));
    assert.equal(en.out[0], `CA public keys: ${keys.length}`, 'the last set, not the first');
    assert.ok(en.out.some((l) => /^A000000333\/80 to \d{4}-\d{2}-\d{2} SHA-1 ok$/.test(l)), en.out.join('\n'));
    assert.ok(en.out.includes(`AIDs: ${aids.length}`) && en.out.includes('A000000333010101 UnionPay debit'), en.out.join('\n'));
    const zh = await pos('journal', 'emv', '--dir', dir, '--locale', 'zh-CN');
    assert.ok(zh.out.includes(`CA公钥：${keys.length}个`) && zh.out.includes('A000000333010101 银联借记'), zh.out.join('\n'));
  });

  it('aKeysExpiryIsJudgedOnTheTerminalsCorrectedDateNotTheMachinesClock', async () => {
    // The machine's clock runs 3 days fast (the last sign-on took 3 days off): a key expiring
    // tomorrow is still valid to the terminal, though the machine's date is past it.
    const dayMs = 24 * 3600_000;
    const ymd = (ms: number): string => new Date(ms + 8 * 3600_000).toISOString().slice(0, 10).replace(/-/g, '');
    const [key] = testCaPublicKeys();
    const tomorrow = { ...key, expiryYyyymmdd: ymd(Date.now() - 3 * dayMs + dayMs) };
    const signOn = rec.signOn({ stan: 1, batch: 1, operator: '001', kcvPik: Buffer.alloc(3), kcvMak: Buffer.alloc(3), clockOffsetMs: -3 * dayMs });
    const dir = await journalWith([rec.caKeys({ keys: [tomorrow] }), signOn as ReturnType<typeof rec.caKeys>]);
    const r = await pos('journal', 'emv', '--dir', dir);
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.ok(r.out.some((l) => / SHA-1 ok$/.test(l) || / ok$/.test(l)), r.out.join('\n'));
    assert.ok(!r.out.some((l) => /expired/.test(l)), r.out.join('\n'));
  });

  it('a journal without a download: no keys, the built-in AIDs; a bad locale is refused', async () => {
    const dir = await journalWith([]);
    const r = await pos('journal', 'emv', '--dir', dir, '--json');
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.deepEqual(JSON.parse(r.out[0]), ['CA public keys: none', 'AIDs: built-in, not downloaded']);
    const bad = await pos('journal', 'emv', '--dir', dir, '--locale', 'fr');
    assert.notEqual(bad.code, 0);
    assert.match(bad.err.join('\n'), /--locale is zh-CN or en/);
  });
});
