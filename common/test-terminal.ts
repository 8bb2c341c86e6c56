/**
 * The acquirer profile's test identity (docs/PROTOCOL.md: the simulator's terminal). Outside sim/
 * because a real board needs it too: to refuse a journal provisioned with it
 * (boot/sim-provision.ts realIdentity). Public test data, never a production key.
 */
export interface TestTerminal {
  readonly tid: string;
  readonly mid: string;
  /** 16 bytes, double-length 3DES. */
  readonly tmk: Buffer;
}

/** The profile's test identities (simulator board only). */
export const TEST_TERMINAL: TestTerminal = {
  tid: '12345678',
  mid: '123456789012345',
  tmk: Buffer.from('0123456789ABCDEFFEDCBA9876543210', 'hex'),
};
