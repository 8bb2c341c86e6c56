/**
 * lineWriter and a reader that leaves (`pos ... | head`): what the pipe could not take at once is
 * queued by libuv and fails with EPIPE after the command returned, when node 20 has already
 * cleared `stream.errored` on stdout. The exit status must still say the output was cut.
 */
import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import { OutputClosed, lineWriter, readerLeftOf } from './cli';

/** A stdout as node 20 leaves it after a queued write failed: an 'error' event, errored unset. */
function queuedPipe(): NodeJS.WriteStream & { lines: string[] } {
  const s = Object.assign(new EventEmitter(), { lines: [] as string[], errored: null, destroyed: false, write(chunk: string): boolean { s.lines.push(chunk); return true; } });
  // Only write, errored, destroyed and the events are used by lineWriter.
  return s as unknown as NodeJS.WriteStream & { lines: string[] };
}

describe('boot/cli lineWriter: the reader leaves', () => {
  it('anEpipeAfterTheWritesWereQueuedIsStillSeenAtExit', () => {
    const stream = queuedPipe();
    const out = lineWriter(stream, 'throw');
    out('one');
    out('two');
    assert.equal(readerLeftOf(stream), false, 'nothing failed yet');
    stream.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    assert.equal(stream.errored, null, 'the case CI met: errored is no witness');
    assert.equal(readerLeftOf(stream), true);
    assert.throws(() => out('three'), OutputClosed, 'the next line stops the command');
    assert.deepEqual(stream.lines, ['one\n', 'two\n']);
  });

  it('aDroppingWriterGoesQuietAfterEpipeAndOtherStreamsAreUntouched', () => {
    const stream = queuedPipe();
    const other = queuedPipe();
    const err = lineWriter(stream, 'drop');
    lineWriter(other, 'drop');
    stream.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    err('lost');
    assert.deepEqual(stream.lines, []);
    assert.equal(readerLeftOf(other), false);
  });
});
