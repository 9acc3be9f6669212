/**
 * THREATS case 56: the connect refusal told a partition the policy keeps away from
 * partition X whether X exists and whether it is running. ConnectionManager.receiveSideAccept
 * answered ECONNREFUSED "partition X does not exist or is down" before it asked the policy, and
 * EPOLICY after: partition 3, allowed to talk to nobody, read partition 4's liveness (and which
 * ids exist) from the code of its refused connects, a signal the policy meant to deny (two
 * partitions the policy separates can signal through it: one exits, the other connects). With
 * the policy checked first, every refused pair gets the same EPOLICY whatever the other's state.
 *
 * Fixed in ConnectionManager.receiveSideAccept: the policy is asked before the target is looked up.
 */
import { describe, expect, it } from 'vitest';
import { withBench } from './harness.js';

const A = 3; // the prober, allowed nothing
const V = 4; // a partition the policy keeps from it

describe('56: a refused connect says nothing about a partition the policy forbids', () => {
  it('connects from a partition the policy forbids are refused EPOLICY whether the target runs, is down or does not exist', async () => {
    await withBench({ hostile: [A], standard: [V], policy: { allow: [[1, 2]] } }, async (b) => {
      const a = b.os(A);
      expect(await a.open(0)).toMatchObject({ ok: true });
      const alive = await a.connect(0, V, 7);
      await b.machine.partition(V).terminate();
      // The operator's exit handling takes the partition down in the hardware right after (one message).
      await new Promise((r) => setTimeout(r, 500));
      const down = await a.connect(0, V, 7);
      const missing = await a.connect(0, 9, 7);
      expect({ alive: alive.code, down: down.code, missing: missing.code }).toEqual({ alive: 'EPOLICY', down: 'EPOLICY', missing: 'EPOLICY' });
      await b.honest.finish();
    });
  });
});
