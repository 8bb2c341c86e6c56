/**
 * The signature pad (signature0, a TSC2007 on the simulator board's I2C bus 1) that fails, as the
 * merchant sees it (boot/terminal-app.ts padFailed): E-BRD-05 on the login and idle notice, its
 * cause and first step in turns ("Cardholders sign the paper slip"), until a restart, the only
 * thing that tries the pad again. It was only logged: the pad was silently off and nobody at the
 * counter knew why the cardholder was asked to sign the paper (FIELD-FAULTS.md, "touch panel dirty
 * or broken"). Both ways it fails: at the boot's self-test, and during a capture (the pad stops
 * answering while the cardholder signs), where the sale goes on to the paper signature.
 */
import { NoticeRig } from './notice-watch';
import type { KeyName } from '../../hal/keypad';
import type { SimBoard } from '../../sim/board-sim';
import { TEST_CARDS } from '../../sim/test-cards';

/** E-BRD-05's notice row on the 128x64 panel's 16 cells, turn by turn. */
const PAD_TURNS = ['E-BRD-05', 'Signature pad', 'not working', 'Cardholders sign', 'the paper slip'];
/** The pad's I2C bus and address (board-configs/rig.sim.json signature0). */
const PAD_BUS = 1;
const PAD_ADDRESS = 0x48;

describe('terminal: a signature pad that fails is on the idle and login notice (E-BRD-05)', function () {
  this.timeout(90_000);
  const rig = new NoticeRig('pospadnotice-');
  rig.hooks();
  const w = rig.w;
  const type = (keys: readonly KeyName[]): void => rig.type(keys);
  const boot = (beforeBoot: (s: SimBoard) => void): Promise<void> => rig.boot({ board: { beforeBoot } });
  const logIn = (): Promise<void> => rig.logIn();

  it('aPadOffTheBusAtTheSelfTestIsE-BRD-05InTurnsAtLoginAndIdle', async () => {
    await boot((s) => s.i2cBus(PAD_BUS).setAbsent(PAD_ADDRESS, true));
    await w.assertNoticeIs('login', PAD_TURNS);
    await logIn();
    await w.assertNoticeIs('idle', PAD_TURNS);
  });

  it('aPadThatStopsAnsweringWhileTheCardholderSignsLeavesTheSaleToPaperAndIsOnTheIdleNotice', async () => {
    await boot(() => undefined);
    await w.assertNoNotice(PAD_TURNS);
    await logIn();
    type(['1', '2', '3', '4', 'OK']);
    await w.until('the card screen', (s) => s.state === 'sale.card');
    await rig.sim.reader().detectionStarted();
    rig.sim.reader().swipe(TEST_CARDS.magDebit);
    // The customer copy asked for (1 prints it), then the pad's signature screen.
    await w.until('the customer copy question', (s) => s.state === 'sale.askCustomerCopy');
    type(['1']);
    await w.until('the pad\'s signature screen', (s) => s.state === 'sale.signature' && s.screen.text.some((r) => r.includes('Sign on the pad')));
    rig.sim.i2cBus(PAD_BUS).setAbsent(PAD_ADDRESS, true);
    // The sale stays: its signature goes on paper (the pad's screen gone), and the notice says why.
    await w.until('the paper signature', (s) => s.state === 'sale.signature' && !s.screen.text.some((r) => r.includes('Sign on the pad')));
    type(['OK']);
    await w.until('idle', (s) => s.state === 'idle');
    await w.assertNoticeIs('idle', PAD_TURNS);
  });
});
