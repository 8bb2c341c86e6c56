/**
 * The service administrator (boot/service-admin.ts): created by factory provisioning outside the
 * journal, stored only hashed, and the recovery menu's login when the journal cannot be read.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, removeDir } from '../../storage/testing';
import { readBoardFile } from '../../hal/board';
import { fixedDeviceKey } from '../../runtime/device-key';
import { PosError } from '../../common/errors';
import { kcvOf, provision } from '../../boot/factory';
import { Recovery, RECOVERY_LOGIN_ATTEMPTS_MAX } from '../../boot/recovery';
import { SERVICE_OPERATOR, SERVICE_PASSWORD_DIGITS, serviceAdminCheck, serviceAdminFile, servicePassword } from '../../boot/service-admin';

const comp = (hex: string) => ({ keyHex: hex, kcvHex: kcvOf(Buffer.from(hex, 'hex')) });

async function codeOf(p: Promise<unknown>): Promise<string> {
  try { await p; } catch (e) { if (e instanceof PosError) return e.code; throw e; }
  return 'no error';
}

describe('boot/service-admin: the recovery login of last resort', function () {
  this.timeout(60_000);
  let work: string;
  beforeEach(() => { work = tempDir('possvc-'); });
  afterEach(() => removeDir(work));

  async function provisioned(): Promise<{ journalDir: string; password: string }> {
    const journalDir = join(work, 'storage', 'journal');
    const r = await provision({
      serial: 'HH-000777', tid: '87654377', mid: '876543210987677', locale: 'zh-CN',
      components: [comp('11111111111111112222222222222222'), comp('33333333333333334444444444444444')],
      board: readBoardFile('sim').config, journalDir, registryFile: join(work, 'registry.json'), deviceKey: fixedDeviceKey(Buffer.alloc(32, 7)),
    });
    return { journalDir, password: r.servicePassword };
  }

  it('provisioningCreatesItBesideTheDeviceKeyHashedAndReadableByTheOwnerOnly', async () => {
    const { journalDir, password } = await provisioned();
    assert.match(password, new RegExp(`^\\d{${SERVICE_PASSWORD_DIGITS}}$`));
    const file = serviceAdminFile(journalDir);
    assert.equal(file, join(work, 'storage', 'service-admin.json'));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(!readFileSync(file, 'utf8').includes(password), 'the password is never stored in clear');
    assert.ok(!readFileSync(join(journalDir, 'data.mdb')).includes(Buffer.from(password)), 'nor in the journal');
    const check = serviceAdminCheck(file);
    assert.equal(await check(SERVICE_OPERATOR, password), true);
    assert.equal(await check(SERVICE_OPERATOR, password.replace(/^./, (d) => String((Number(d) + 1) % 10))), false);
    assert.equal(await check('099', password), false, 'only operator 000');
  });

  it('recoveryAdmitsItWhenTheJournalIsGoneAndCountsItsWrongPasswords', async () => {
    const { journalDir, password } = await provisioned();
    rmSync(journalDir, { recursive: true, force: true });
    const make = () => new Recovery({ journalDir, backupDir: join(work, 'backup'), fallbackAdmin: serviceAdminCheck(serviceAdminFile(journalDir)) });
    const rec = make();
    const session = await rec.login(SERVICE_OPERATOR, password);
    assert.deepEqual(session, { operator: SERVICE_OPERATOR, role: 'administrator' });
    await rec.close();
    const locked = make();
    const wrong = password === '00000000' ? '11111111' : '00000000';
    for (let i = 1; i < RECOVERY_LOGIN_ATTEMPTS_MAX; i++) assert.equal(await codeOf(locked.login(SERVICE_OPERATOR, wrong)), 'E-OPR-02');
    assert.equal(await codeOf(locked.login(SERVICE_OPERATOR, wrong)), 'E-OPR-21', 'the last try locks the menu (power off and on)');
    assert.equal(await codeOf(locked.login(SERVICE_OPERATOR, password)), 'E-OPR-21', 'locked after the attempt limit, even with the right password');
    await locked.close();
  });

  it('aMissingOrDamagedFileAdmitsNobody', async () => {
    const file = join(work, 'service-admin.json');
    assert.equal(await serviceAdminCheck(file)(SERVICE_OPERATOR, '12345678'), false);
    writeFileSync(file, '{"format":"something else"}');
    const warned: string[] = [];
    assert.equal(await serviceAdminCheck(file, { warn: (_o: unknown, msg?: string) => { warned.push(String(msg)); } })(SERVICE_OPERATOR, '12345678'), false);
    assert.equal(warned.length, 1, 'a damaged file is said in the log, naming it');
    assert.match(warned[0], /service-admin\.json is damaged/);
  });

  it('passwordsAreUniformDigits', () => {
    let calls = 0;
    // 250..255 are rejected (no modulo bias): a source of only those never yields a digit.
    const pw = servicePassword((n) => { calls++; return calls === 1 ? Buffer.alloc(n, 252) : Buffer.from(Array.from({ length: n }, (_, i) => i * 31)); });
    assert.equal(pw.length, SERVICE_PASSWORD_DIGITS);
    assert.equal(calls, 2);
    assert.equal(pw, '01235689'.slice(0, 0) + Array.from({ length: 8 }, (_, i) => String((i * 31) % 10)).join(''));
  });
});
