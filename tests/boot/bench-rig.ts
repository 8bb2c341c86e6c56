/**
 * Bench rigs for the factory station tests, without hardware: a board file per terminal that
 * keeps the simulator's GPIO and I2C chip models (keypad, display, battery) but puts printer0
 * and reader0 on socat pseudo-terminals (`"benchRig": true`). The far ends run in this process:
 * the virtual printer and virtual card reader of sim/, or a reader that answers garbage.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readBoardFile } from '../../hal/board';
import { encodeAck, encodeFrame, FrameParser } from '../../hal/drivers/card-reader-frame';
import { StreamSerialPort, createLinuxSerialPort } from '../../hal/serial-linux';
import { PtyPair, openPtyPair } from '../../sim/pty-pair';
import { VirtualCardReader } from '../../sim/virtual-card-reader';
import { VirtualPrinter } from '../../sim/virtual-printer';

export type ReaderKind = 'virtual' | 'garbage';

export interface BenchTerminal {
  readonly boardFile: string;
  readonly printerPtys: PtyPair;
  readonly readerPtys: PtyPair;
  readonly printerEnd: StreamSerialPort;
  readonly readerEnd: StreamSerialPort;
  readonly printer: VirtualPrinter;
  readonly reader?: VirtualCardReader;
  /** Garbage frames the bad reader sent. */
  garbageFrames: number;
  close(): Promise<void>;
}

/**
 * A reader whose link layer works (it ACKs every frame) but whose every answer is garbage: a
 * response frame with a wrong CRC, sent again on each NAK. The driver sees only garbled frames.
 */
function garbageReader(port: StreamSerialPort, count: () => void): void {
  const parser = new FrameParser();
  port.onData((chunk) => {
    for (const item of parser.push(chunk)) {
      if (item.kind === 'frame') {
        void port.write(encodeAck(item.frame.seq)).catch(() => undefined);
        const bad = encodeFrame(item.frame.type | 0x80, item.frame.seq, Buffer.from([0x00, 0x56, 0x43]));
        bad[bad.length - 2] ^= 0x5a; // CRC wrong
        count();
        void port.write(bad).catch(() => undefined);
      }
    }
  });
}

/** Opens two pty pairs, starts the far ends, writes the board file into `dir`. */
export async function benchTerminal(dir: string, name: string, reader: ReaderKind = 'virtual'): Promise<BenchTerminal> {
  const printerPtys = await openPtyPair();
  const readerPtys = await openPtyPair();
  const printerEnd = createLinuxSerialPort({ path: printerPtys.devicePath, baudRate: 115200 });
  const readerEnd = createLinuxSerialPort({ path: readerPtys.devicePath, baudRate: 115200 });
  await printerEnd.open();
  await readerEnd.open();
  const sim = readBoardFile('sim').config;
  const devices = JSON.parse(JSON.stringify(sim.devices)) as Record<string, Record<string, unknown>>;
  devices.printer0.port = printerPtys.hostPath;
  devices.reader0.port = readerPtys.hostPath;
  // The rig wires a printer and a reader to real ttys; it has no scan module and no 4G module (both
  // optional; a bench rig refuses a device left on a simulated port).
  delete devices.scanner0;
  delete devices.modem0;
  const boardFile = join(dir, `${name}.json`);
  writeFileSync(boardFile, JSON.stringify({
    board: 'bench-rig', description: `bench rig ${name}: simulated GPIO/I2C, printer0 and reader0 on socat ptys`,
    simulator: true, benchRig: true, gpio: sim.gpio, storage: { journalDir: join(dir, name, 'journal'), backupDir: join(dir, name, 'backup') }, devices,
  }, null, 1));
  const printer = new VirtualPrinter(printerEnd, { paperWidthDots: 384, gb18030: true });
  const t: BenchTerminal = {
    boardFile, printerPtys, readerPtys, printerEnd, readerEnd, printer, garbageFrames: 0,
    close: async () => {
      await printerEnd.close().catch(() => undefined);
      await readerEnd.close().catch(() => undefined);
      await printerPtys.close();
      await readerPtys.close();
    },
  };
  if (reader === 'virtual') return { ...t, reader: new VirtualCardReader(readerEnd) };
  garbageReader(readerEnd, () => { t.garbageFrames++; });
  return t;
}
