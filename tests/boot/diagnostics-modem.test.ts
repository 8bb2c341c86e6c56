/**
 * The network check of diagnostics (boot/diagnostics.ts) on the simulator board's 4G modem
 * (modem0): the real QuectelModem over a simulated cable to the module model. Each fault set on
 * the model (no SIM, PIN, PUK, no signal, roaming refused, wrong APN) shows its code and the error
 * list's guided steps in zh-CN and en, first cause first; a healthy modem is shown as lines.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DiagResult } from '../../boot/diagnostics';
import type { Report } from '../../boot/recovery';
import { ERRORS } from '../../common/errors';
import { SimBoard, createSimBoard } from '../../sim/board-sim';
import { networkCheckOn } from './diag-network-check';

const NETWORK_OK: Report = { action: 'network-test', ok: true, journaled: false, lines: ['OK lo up', 'OK connect 127.0.0.1:5000'] };
const NETWORK_DOWN: Report = { action: 'network-test', ok: false, journaled: false, code: 'E-NET-02', lines: ['OK lo up', 'FAIL no address'] };

const networkCheck = (sim: SimBoard, report: Report): Promise<DiagResult> => networkCheckOn(sim.board, report);

describe('diagnostics: the 4G modem in the network check', function () {
  this.timeout(20_000);
  let sim: SimBoard | undefined;
  beforeEach(async () => { sim = await createSimBoard(); });
  afterEach(async () => { await sim?.close(); sim = undefined; });

  it('aHealthyModemShowsSimSignalRegistrationOperatorAndApnAndTheCheckPasses', async () => {
    const r = await networkCheck(sim!, NETWORK_OK);
    assert.equal(r.state, 'ok', r.lines.join(' / '));
    // The simulator board's Wi-Fi (joined to SIM-SHOP at power-on) after the modem's lines.
    assert.deepEqual(r.lines.slice(2), ['4G SIM: ready', 'signal -65 dBm 4/4 LTE', 'network: registered CHINA MOBILE', 'APN cmnet', 'Wi-Fi: joined SIM-SHOP 192.168.31.23', 'signal -52 dBm 4/4 2.4 GHz']);
    assert.ok(r.text?.some((l) => l.zh === '4G SIM卡：正常'), 'the Chinese half');
  });

  const faults: Array<[string, (s: SimBoard) => void, string, RegExp]> = [
    ['no SIM', (s) => s.modem().removeSim(), 'E-NET-08', /4G SIM: none/],
    ['PIN locked', (s) => s.modem().lockPin('1234'), 'E-NET-09', /4G SIM: PIN required.*3 PIN attempts left/],
    ['PUK locked', (s) => s.modem().lockPuk(), 'E-NET-10', /4G SIM: locked \(PUK\)/],
    ['no signal', (s) => s.modem().setSignal(99), 'E-NET-11', /signal: none.*network: searching/],
    ['roaming refused', (s) => s.modem().setRegistration('denied'), 'E-NET-12', /network: refused/],
  ];
  for (const [name, set, code, shown] of faults) {
    it(`${name}: ${code} with its steps when the network is down too`, async () => {
      set(sim!);
      const r = await networkCheck(sim!, NETWORK_DOWN);
      assert.equal(r.state, 'fail');
      assert.equal(r.code, code, r.lines.join(' / '));
      const all = r.lines.join(' / ');
      assert.match(all, shown);
      const def = Object.values(ERRORS).find((d) => d.code === code)!;
      for (const step of def.en.steps) assert.ok(r.lines.includes(`- ${step}`), `step "${step}" in ${all}`);
      for (const step of def.zh.steps) assert.ok(r.text?.some((l) => l.zh === `- ${step}`), `zh step "${step}"`);
      assert.ok(r.lines.includes('FAIL no address'), 'the network test lines stay');
    });
  }

  it('aModemFaultWhileAnotherLinkWorksIsALineNotAFailure', async () => {
    sim!.modem().removeSim();
    const r = await networkCheck(sim!, NETWORK_OK);
    assert.equal(r.state, 'ok');
    assert.ok(r.lines.includes('4G E-NET-08'), r.lines.join(' / '));
  });

  it('onABoardWhoseLinkIsTheModemAModemFaultFailsTheCheckEvenWhenTheNetworkTestPasses', async () => {
    await sim!.close();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pos-diag-modem-'));
    const json = JSON.parse(fs.readFileSync(path.join(__dirname, '../../board-configs/sim.json'), 'utf8')) as { devices: Record<string, Record<string, unknown>>; network?: unknown };
    json.devices.modem0.interface = 'wwan0';
    json.network = { backend: 'none', interface: 'wwan0' };
    const file = path.join(dir, 'sim-4g.json');
    fs.writeFileSync(file, JSON.stringify(json));
    try {
      sim = await createSimBoard({ board: file });
      sim.modem().setRegistration('denied');
      const r = await networkCheck(sim, NETWORK_OK);
      assert.equal(r.state, 'fail');
      assert.equal(r.code, 'E-NET-12');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('anApnOtherThanTheBoardsIsE_NET_14AndNamesBoth', async () => {
    await sim!.board.modem()!.setApn('3gnet');
    const r = await networkCheck(sim!, NETWORK_DOWN);
    assert.equal(r.code, 'E-NET-14');
    assert.ok(r.lines.includes('APN 3gnet, board says cmnet'), r.lines.join(' / '));
  });

  it('aSilentModemIsE_NET_15', async () => {
    sim!.modem().goSilent();
    const r = await networkCheck(sim!, NETWORK_DOWN);
    assert.equal(r.code, 'E-NET-15', r.lines.join(' / '));
  });
});
