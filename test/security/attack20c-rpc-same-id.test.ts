/**
 * 117: a comlink caller that reused one call id ran calls on its server without bound. The serving
 * side answers a call past 4096 running with an error (case 38); it counted the calls running by
 * the ids it had yet to answer, so requests that all said id 'same' counted as one.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createMachine, type Machine } from '../../src/index.js';

const program = new URL('../fixtures/security/rpc-same-id.mjs', import.meta.url);

let machine: Machine;
const exits: { id: number; reason: string }[] = [];
beforeEach(async () => {
  exits.length = 0;
  machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }], wait: 'sleep' });
  machine.on('partitionExit', (info) => exits.push(info));
});
afterEach(async () => {
  await machine.close();
});

it('117: a second request with the id of a call still running ends the channel EINVAL; one call ran, the next caller is served', async () => {
  const server = await machine.partition(1).spawn(program, { role: 'server', port: 9, clients: 2 });
  const tamper = await machine.partition(2).spawn(program, { role: 'tamper', partition: 1, port: 9, calls: 5000 });
  // Without the change: all 5,000 hold() calls run at once (most: 5000), nothing is refused, and
  // the tamperer hears nothing in 5 s.
  const tampered = (await tamper.result) as { wrote: number; writeError?: string; ended: string };
  expect(tampered.ended).toBe('ECLOSED');
  const caller = await machine.partition(3).spawn(program, { role: 'caller', partition: 1, port: 9 });
  expect(await caller.result).toEqual({ sum: 42 });
  const served = (await server.result) as { outcomes: unknown[]; most: number };
  expect(served.most).toBe(1);
  expect(served.outcomes[0]).toEqual({
    code: 'EINVAL',
    message: expect.stringMatching(/^EINVAL: comlink over channel \d+: partition 2 sent a second call with id "same" while the first still runs \(comlink gives every call its own id\)/),
  });
  expect(served.outcomes[1]).toBe('closed');
  expect(exits).toEqual([]);
});
