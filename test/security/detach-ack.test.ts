/**
 * THREATS.md case 46: a process's slot lost for good. The hardware drops a completion when the
 * process's completion ring (4 KiB) is full, and a DETACH's acknowledgement was no exception; the
 * partition's OS hands a queue pair to the next process only once it read that acknowledgement.
 * A peer that closes at once many channels a publisher has queued sends on (behind a send held at
 * a subscriber that reads nothing) makes the hardware post one ECLOSED completion per queued send,
 * ahead of the DETACH: its acknowledgement was dropped, and the slot never came back (4 of 5
 * runs in the attack run). The DETACH now waits in the send ring for room in the completion ring,
 * whose reader rings the hardware once it frees some.
 */
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

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
