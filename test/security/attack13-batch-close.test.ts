/**
 * Attack run 13, case 99: sendBatch() whose message accessor closes the channel mid-batch. The batch
 * checked that its channel could send once, before it began, and went on claiming SENDs after the
 * accessor's CLOSE: the hardware saw SENDs on a handle closed just before them (refused ECLOSED,
 * counted as send errors of the partition), and sendBatch said they were sent.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from 'lparlink';

const roles = new URL('../fixtures/security/attack13-roles.mjs', import.meta.url);

describe('99: sendBatch and an accessor that closes its channel (attack run 13)', () => {
  it.each(['close', 'closeThenBad'] as const)(
    '99. sendBatch whose messages[5] closes the channel (%s): the 5 before it are delivered, nothing after the CLOSE is claimed, the batch says so (ECLOSED)',
    async (how) => {
      const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], wait: 'sleep' });
      try {
        const sink = await machine.partition(2).spawn(roles, { role: 'sink', port: 9 });
        const closer = await machine.partition(1).spawn(roles, { role: 'batchCloser', partition: 2, port: 9, n: 20, at: 5, how });
        const r = (await closer.result) as { returned?: number; threw?: string; detail?: string; after: string; failedSends: object };
        expect(await sink.result).toEqual({ received: 5, end: 'clean' });
        // The batch stopped at the message whose reading closed the channel: the 5 before it went.
        expect(r.threw).toBe('ECLOSED');
        expect(r.detail).toMatch(/messages\[5\].*the 5 before it were sent/);
        expect(r.after).toBe('ECLOSED');
        expect(r.failedSends).toEqual({});
        // No SEND reached the hardware on the closed handle.
        const [a, b] = machine.stats().partitions;
        expect([a.sendErrors, a.violations.total, b.delivered]).toEqual([0, 0, 5]);
      } finally {
        await machine.close();
      }
    },
  );
});
