/**
 * Attack run 18a, what held: partitions of one machine that keep a listener's backlog full. Case
 * 112 holds back only another node, and attack run 17a noted that a local partition flooding a
 * listener might take every freed place the same way. It does not: a partition's connects are
 * control calls, which the hardware serves a partition at a time (cases 84 and 85), so an honest
 * partition's retried connect (`{ retry: { timeoutMs } }`) is answered in its turn beside 40
 * hostile ones in flight, and gets in about a quarter of the time. Case 113's hold-back (every
 * source above its share, a partition as much as a node) applies to them too.
 */
import { expect, it } from 'vitest';
import { createMachine } from 'lparlink';
import { waitFor } from './harness.js';

const ROLES = new URL('../fixtures/security/attack18a-roles.mjs', import.meta.url);
const SERVER = 1;
const HONEST = 3;
const PORT = 7;
/** Connections the server accepts (and closes at once), one at a time. */
const ACCEPTS = 240;
/** Connects each hostile partition keeps in flight: more than the backlog takes. */
const IN_FLIGHT = 40;

/** Partition SERVER serves ACCEPTS connections while `hostile` flood it and HONEST connects with retry; returns who got how many. */
async function floodBeside(hostile: number[]): Promise<{ from: Record<number, number>; flooders: Array<{ connected: number; refused: number; other: string[] }>; honest: { connected: number; failed: string[] } }> {
  const machine = await createMachine({ wait: 'sleep', partitions: [SERVER, HONEST, ...hostile].map((id) => ({ id })) });
  try {
    const flag = new Int32Array(new SharedArrayBuffer(8));
    const target = { partition: SERVER, port: PORT };
    const server = await machine.partition(SERVER).spawn(ROLES, { role: 'serve', port: PORT, accepts: ACCEPTS, flag: flag.buffer });
    await waitFor('the server to listen', () => Atomics.load(flag, 1) === 1);
    const flooders = await Promise.all(hostile.map((id) => machine.partition(id).spawn(ROLES, { role: 'flood', target, inFlight: IN_FLIGHT, flag: flag.buffer })));
    const honest = await machine.partition(HONEST).spawn(ROLES, { role: 'honest', target, timeoutMs: 10_000, flag: flag.buffer });
    return {
      from: (await server.result) as Record<number, number>,
      flooders: (await Promise.all(flooders.map((f) => f.result))) as any,
      honest: (await honest.result) as any,
    };
  } finally {
    await machine.close();
  }
}

it('a partition that keeps 40 connects in flight at a listener leaves an honest partition\'s retried connects their turn', async () => {
  const { from, flooders, honest } = await floodBeside([2]);
  expect((from[2] ?? 0) + (from[HONEST] ?? 0)).toBe(ACCEPTS);
  // 61, 89 and 96 of 240 in runs before case 113's change, 121 after; one in 48 at least, as case 112.
  expect(from[HONEST]).toBeGreaterThanOrEqual(ACCEPTS / 48);
  expect(honest.connected).toBeGreaterThanOrEqual(from[HONEST]);
  expect(honest.failed).toEqual([]);
  expect(flooders[0].other).toEqual([]);
  expect(flooders[0].refused).toBeGreaterThan(0);
}, 120_000);

it('two partitions that keep 40 connects in flight each leave an honest partition\'s retried connects their turn', async () => {
  const { from, flooders, honest } = await floodBeside([2, 4]);
  // 45 of 240 before case 113's change, 61 after.
  expect((from[2] ?? 0) + (from[4] ?? 0) + (from[HONEST] ?? 0)).toBe(ACCEPTS);
  expect(from[HONEST]).toBeGreaterThanOrEqual(ACCEPTS / 48);
  expect(honest.connected).toBeGreaterThanOrEqual(from[HONEST]);
  expect(honest.failed).toEqual([]);
  for (const f of flooders) {
    expect(f.other).toEqual([]);
    expect(f.refused).toBeGreaterThan(0);
  }
}, 120_000);
