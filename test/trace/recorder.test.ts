/**
 * The operator keeps the trace rings of a partition's last few runs, not one per restart for good
 * (each ring is records × 64 bytes: 2 MiB at the default size); a run that recorded nothing leaves
 * no track behind.
 */
import { describe, expect, it } from 'vitest';
import { TRACE_WRITTEN_WORD } from '../../src/shared/trace-layout.js';
import { TraceRecorder } from '../../src/trace-recorder.js';

/** A ring as a run leaves it: `written` records. */
function run(recorder: TraceRecorder, written: number): SharedArrayBuffer {
  const ring = recorder.newRing();
  Atomics.store(new Uint32Array(ring), TRACE_WRITTEN_WORD, written);
  return ring;
}

describe('TraceRecorder', () => {
  it("keeps a restarted partition's last four runs, counts the ones let go, and never a hardware ring", () => {
    const recorder = new TraceRecorder(1, 1024);
    recorder.add('hardware-0', 1, undefined, run(recorder, 5));
    for (let tid = 2; tid <= 8; tid++) recorder.add('db', tid, 0, run(recorder, 3));
    recorder.add('web', 20, 1, run(recorder, 3));
    const group = recorder.group(1, 'lparlink', [1, 2]);
    expect(group.threads.map((t) => `${t.name}:${t.tid}`)).toEqual(['hardware-0:1', 'db:5', 'db:6', 'db:7', 'db:8', 'web:20']);
    expect(group.runsDropped).toBe(3);
  });

  it('a run that recorded nothing is let go when the next starts, uncounted', () => {
    const recorder = new TraceRecorder(1, 1024);
    recorder.add('db', 2, 0, run(recorder, 4));
    recorder.add('db', 3, 0, run(recorder, 0));
    recorder.add('db', 4, 0, run(recorder, 1));
    const group = recorder.group(1, 'lparlink', [1]);
    expect(group.threads.map((t) => t.tid)).toEqual([2, 4]);
    expect(group.runsDropped).toBe(0);
  });
});
