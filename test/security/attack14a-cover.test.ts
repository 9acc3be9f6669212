/**
 * What attack run 14a tried on the traced send path and found solid, kept as a test. Case 99's
 * attack on a traced machine: the traced sendBatch() reads every message once before it claims
 * any (so that a refused batch records nothing), which runs the closing accessor before the first
 * claim; each claim then checks the channel, so the batch stops at its first message, says that
 * nothing was sent, and no SEND reaches the hardware on the closed handle. (The untraced loop stops
 * after the 5 messages before the accessor, case 99: both say exactly what went.) An accessor that
 * closes the channel only when it is read the second time, as the traced batch claims it: the 5
 * before it go, the batch throws ECLOSED there and says so, and nothing after the CLOSE is claimed.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from 'lparlink';

const roles = new URL('../fixtures/security/attack13-roles.mjs', import.meta.url);
const roles14a = new URL('../fixtures/security/attack14a-roles.mjs', import.meta.url);

describe('attack run 14a: case 99 on a traced machine', () => {
  it.each(['close', 'closeThenBad'] as const)('sendBatch whose messages[5] closes the channel (%s), traced: nothing claimed after the CLOSE, and the batch says what went', async (how) => {
    const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], wait: 'sleep', trace: { sample: 1 } });
    try {
      const sink = await machine.partition(2).spawn(roles, { role: 'sink', port: 9 });
      const closer = await machine.partition(1).spawn(roles, { role: 'batchCloser', partition: 2, port: 9, n: 20, at: 5, how });
      const r = (await closer.result) as { returned?: number; threw?: string; detail?: string; after: string; failedSends: object };
      expect(await sink.result).toEqual({ received: 0, end: 'clean' });
      // Read once before any claim, the accessor closed the channel first: the batch stops where the claims begin.
      expect(r.threw).toBe(how === 'close' ? 'ECLOSED' : 'EINVAL');
      expect(r.detail).toMatch(how === 'close' ? /messages\[0\].*nothing of the batch was sent/ : /messages\[6\].*nothing of the batch was sent/);
      expect(r.after).toBe('ECLOSED');
      expect(r.failedSends).toEqual({});
      const [a, b] = machine.stats().partitions;
      expect([a.sent, a.sendErrors, a.violations.total, b.delivered]).toEqual([0, 0, 0, 0]);
    } finally {
      await machine.close();
    }
  });

  it('sendBatch whose messages[5] closes the channel on its second read (as the traced batch claims it): the 5 before it go, nothing after the CLOSE', async () => {
    const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], wait: 'sleep', trace: { sample: 1 } });
    try {
      const sink = await machine.partition(2).spawn(roles, { role: 'sink', port: 9 });
      const closer = await machine.partition(1).spawn(roles14a, { role: 'secondReadCloser', partition: 2, port: 9, n: 20, at: 5 });
      const r = (await closer.result) as { returned?: number; threw?: string; detail?: string; reads: number; after: string; failedSends: object };
      expect(await sink.result).toEqual({ received: 5, end: 'clean' });
      expect(r).toMatchObject({ threw: 'ECLOSED', reads: 2, after: 'ECLOSED', failedSends: {} });
      expect(r.detail).toMatch(/messages\[5\].*the 5 before it were sent/);
      const [a, b] = machine.stats().partitions;
      expect([a.sent, a.sendErrors, a.violations.total, b.delivered]).toEqual([5, 0, 0, 5]);
    } finally {
      await machine.close();
    }
  });
});
