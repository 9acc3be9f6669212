/**
 * THREATS.md case 46: a process's slot lost for good. The hardware drops a completion when the
 * process's completion ring (4 KiB) is full, and a DETACH's acknowledgement was no exception; the
 * partition's OS hands a queue pair to the next process only once it read that acknowledgement.
 * A peer that closed at once many channels a publisher had queued sends on (behind a send held at
 * a subscriber that reads nothing) made the hardware post one ECLOSED completion per queued send,
 * ahead of the DETACH: its acknowledgement was dropped, and the slot never came back (4 of 5 runs
 * in the attack run). The DETACH now waits in the send ring for room in the completion ring, whose
 * reader rings the hardware once it frees some. Since case 51 a held send no longer queues the
 * others behind it, so the second test fills the completion ring from a raw queue pair.
 */
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';
import { Status } from '../../src/shared/errors.js';
import { RecordType } from '../../src/shared/layout.js';
import { completions, rawChannel, waitFor, withBench } from './harness.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);

it('46: a process slot comes back after its process ended, whatever its peers did to its queued sends', async () => {
  await using machine = await createMachine({ wait: 'sleep', processesPerPartition: 1, partitions: [{ id: 1, name: 'publisher' }, { id: 3, name: 'subscriber' }] });
  // A race with the publisher's pump draining its completions: several rounds, each must give the slot back.
  for (let round = 1; round <= 3; round++) {
    const flag = new SharedArrayBuffer(4);
    const subscriber = await machine.partition(3).spawn(fixture('closing-subscriber.mjs'), { k: 40, flag });
    const publisher = await machine.partition(1).spawn(fixture('fanout-publisher.mjs'), { peer: 3, k: 40, flag, aMessages: 80, bMessages: 7000 });
    await publisher.result;
    expect(await subscriber.result).toBe('closed');
    // The slot normally returns within milliseconds; 5 s is for a loaded machine.
    let next: unknown;
    for (let t = 0; t < 25 && next !== 'ran'; t++) {
      await new Promise((r) => setTimeout(r, 200));
      next = await machine
        .partition(1)
        .spawn(fixture('noop.mjs'), {})
        .then(
          (h) => h.result,
          (e: Error) => `spawn failed: ${e.message}`,
        );
    }
    expect(next, `round ${round}`).toBe('ran');
  }
}, 60_000);

it('46: a DETACH behind a full completion ring waits for room; its acknowledgement is never dropped', async () => {
  const A = 3;
  const P = 4;
  await withBench({ hostile: [A, P] }, async (b) => {
    const [a] = [b.os(A)];
    const x = await rawChannel(b, A, 0, P, 0, 9);
    const y = await rawChannel(b, A, 0, P, 0, 9);
    a.close(0, x.send);
    a.close(0, y.send);
    expect((await completions(a, 0, 2)).map((c) => [c.opcode, c.status])).toEqual([
      [RecordType.CLOSE, Status.OK],
      [RecordType.CLOSE, Status.OK],
    ]);
    // SENDs on the two closed channels in turn: an ECLOSED each, no two neighbours alike (equal
    // neighbours coalesce). 24-byte completion records: 4 KiB holds about 170 of them, so most are
    // dropped while nobody reads the completion ring.
    const N = 400;
    for (let n = 0; n < N; ) {
      if ((await a.send(0, n % 2 === 0 ? x.send : y.send, [1, 2, 3, 4, 5, 6, 7, 8])) === 'FULL') await new Promise((r) => setTimeout(r, 1));
      else n++;
    }
    await waitFor('completions to be dropped', () => b.stats(A).completionsDropped > 0);
    await a.writeRecord(0, { type: RecordType.DETACH, bodyBytes: 8, words: [0, 0] });
    // The hardware takes every SEND, and stops at the DETACH (16 bytes) while the ring stays full.
    await waitFor('the SENDs to be taken', async () => {
      const s = await a.sendPositions(0);
      return s.producer - s.consumer === 16;
    });
    expect(b.stats(A).sendErrors).toBe(N);
    // Reading the completions makes room: the DETACH goes, and its acknowledgement arrives.
    const seen: Array<{ opcode: number; status: number }> = [];
    await waitFor('the DETACH to be acknowledged', async () => {
      seen.push(...(await a.readCompletions(0)));
      return seen.some((c) => c.opcode === RecordType.DETACH);
    });
    expect(seen.filter((c) => c.opcode === RecordType.DETACH)).toMatchObject([{ status: Status.OK, channel: 0, opcode: RecordType.DETACH, count: 1 }]);
    expect(b.violations(A)).toEqual({});
    await b.honest.finish();
  });
});
