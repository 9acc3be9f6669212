/**
 * Regression cover from attack run 8a for the probes that found nothing: control calls whose
 * numbers are no ids (NaN, ±Infinity, 2^53, fractions, negatives) are each refused EINVAL by the
 * hardware, which goes on serving the partition, and -0 names what 0 names (a structured clone
 * keeps the sign, and every check compares it as 0). Cases 67 to 71 are attack8a-messageerror,
 * attack8a-rpc-set and attack8a-profile.test.ts.
 */
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

const HOSTILE_OS = new URL('../fixtures/security/hostile-os.mjs', import.meta.url);

type Result = { ok: boolean; code?: string };

it('control calls with numbers that name nothing are each refused EINVAL, and -0 is 0', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 3, os: HOSTILE_OS.href }] });
  const os = machine.partition(3).os as unknown as { call(method: string, ...args: number[]): Promise<Result> };
  const odd = [NaN, Infinity, -Infinity, 2 ** 53, 1.5, -1];
  const seen: Record<string, string[]> = {};
  const note = (what: string, r: Result): void => void (seen[what] ??= []).push(r.ok ? 'ok' : (r.code ?? '?'));
  for (const n of odd) {
    note('openQueuePair', await os.call('openQueuePair', n));
    note('resetQueuePair', await os.call('resetQueuePair', n));
  }
  expect(await os.call('openQueuePair', -0)).toMatchObject({ ok: true });
  for (const n of odd) {
    note('listen', await os.call('listen', 0, n));
    note('accept', await os.call('accept', 0, n));
    note('connect partition', await os.call('connect', 0, n, 7));
    note('connect port', await os.call('connect', 0, 1, n));
    note('connectNode', await os.call('connectNode', 0, n, 1, 7));
  }
  const refused = odd.map(() => 'EINVAL');
  expect(seen).toEqual(Object.fromEntries(Object.keys(seen).map((what) => [what, refused])));
  expect(Object.keys(seen)).toHaveLength(7);
  expect(await os.call('listen', -0, -0)).toMatchObject({ ok: true });
  expect(await os.call('unlisten', 0, 0)).toMatchObject({ ok: true });
  expect(await os.call('listen', 0, 0)).toMatchObject({ ok: true });
  expect(machine.stats().partitions[1].violations).toMatchObject({ badControlMessage: 0 });
});
