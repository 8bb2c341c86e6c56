/**
 * What the archive tests read of a journal after the terminal is stopped: its last record, whether
 * it continues an archived one (record 2 `recovery` `archived`), and how many operator records it
 * holds (the new journal must carry every operator).
 */
import { Journal } from '../../storage/journal';
import { RecordType } from '../../storage/record';
import { SIM_IDENTITY } from '../../boot/sim-provision';

export interface JournalHead {
  readonly lastSeq: number;
  /** Record 2's `recovery` action when it is one (`archived` after an archive). */
  readonly archived?: unknown;
  readonly operators: number;
}

/** Opens the simulator terminal's journal at `dir` read-only (nothing else may have it open). */
export async function journalHead(dir: string): Promise<JournalHead> {
  const j = await Journal.open({ dir, identity: SIM_IDENTITY, readOnly: true });
  try {
    const second = j.get(2);
    const operators = [...j.records()].filter((r) => r.type === RecordType.operator).length;
    return { lastSeq: j.lastSeq, ...(second?.type === RecordType.recovery ? { archived: second.payload.action } : {}), operators };
  } finally {
    await j.close();
  }
}
