/**
 * THREATS.md case 110: a process remembers the newest 4096 handles it closed (case 47), and a
 * record that still arrived for an older one was kept as early, for a channel that nothing would
 * ever adopt or close again: an END charged nothing against the early bound, and nothing let go of
 * its list until the process ended. A peer that connects and closes in a loop against a server
 * that closes the channels it refuses unread (it serves another partition only) left ~900 such
 * lists in the server after a round of 6,000, and 65 to 1,400 more after each further round (runs).
 * Now the registry also keeps,
 * per channel slot, the newest generation it closed (ChannelRegistry.closedGenerations): a record
 * for a generation up to it is dropped.
 */
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';
import { waitFor } from './harness.js';

const roles = new URL('../fixtures/security/attack16b-roles.mjs', import.meta.url);

it('110: a server that refused 6,000 channels unread before each receive, 3 rounds, keeps nothing for any of them', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1, name: 'gatekeeper' }, { id: 2, name: 'knocker' }, { id: 3, name: 'honest' }] });
  const n = 6000;
  const rounds = 3;
  const measured = new SharedArrayBuffer(4);
  const gate = await machine.partition(1).spawn(roles, { role: 'gatekeeper', port: 7, serves: 3, rounds, measured });
  for (let r = 0; r < rounds; r++) {
    // The gatekeeper measures a round once the honest client's end has reached it, after the client
    // returned: the next knocks wait for it, or their own early records (connections waiting to be
    // accepted, ended by the knocker at once) were counted in it (seen once under load).
    if (r > 0) await waitFor(`round ${r} measured`, () => Atomics.load(new Int32Array(measured), 0) === r);
    const knocker = await machine.partition(2).spawn(roles, { role: 'knocker', partition: 1, port: 7, n });
    expect(await knocker.result).toBe(n);
    // The honest client's connection comes after every knock: the gatekeeper has accepted and closed them all before it.
    const honest = await machine.partition(3).spawn(roles, { role: 'honestClient', partition: 1, port: 7 });
    expect(await honest.result).toEqual([1, 2, 3]);
  }
  const seen = (await gate.result) as Array<{ refused: number; early: number; grew: number }>;
  // Without the change: 912, 1,254 and 2,644 lists kept (a run of this test; the count grows by round).
  expect(seen.map((round) => [round.refused, round.early])).toEqual([
    [n, 0],
    [2 * n, 0],
    [3 * n, 0],
  ]);
  for (const p of machine.stats().partitions) expect(p.violations.total).toBe(0);
}, 180_000);
