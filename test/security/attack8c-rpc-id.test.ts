/**
 * 73: a comlink request without a string call id went past the serving side's checks. Every
 * check of cases 38 and 69 (prototypes, SET only at a setter, new, createEndpoint, the bound on
 * calls running) runs for a request with a string id; comlink's expose acts on one whatever its id
 * is. A hostile caller left the id out (or made it a number) and set Object.prototype properties
 * in the serving partition, and replaced the api's method for every other caller.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createMachine, type Machine } from '../../src/index.js';

const program = new URL('../fixtures/security/rpc-idless.mjs', import.meta.url);

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

for (const variant of ['none', 'number'] as const) {
  it(`73: requests whose call id is ${variant === 'none' ? 'left out' : 'a number'} end the channel EINVAL; nothing is set, Object.prototype is untouched, the next caller is served`, async () => {
    const server = await machine.partition(1).spawn(program, { role: 'server', port: 9, clients: 2 });
    const tamper = await machine.partition(2).spawn(program, { role: 'tamper', partition: 1, port: 9, variant });
    // Without the change: both SETs are answered { value: true } (id undefined or 7), Object.prototype.polluted
    // is 'yes' in the serving partition, and the next caller's add(2, 40) rejects "add of the api served is 0, not a method".
    const tampered = (await tamper.result) as { proto: unknown; add: unknown };
    expect(tampered.proto).toEqual({ ended: 'ECLOSED' });
    expect(tampered.add).toEqual({ ended: 'ECLOSED' });
    const caller = await machine.partition(3).spawn(program, { role: 'caller', partition: 1, port: 9 });
    expect(await caller.result).toEqual({ sum: 42 });
    const served = (await server.result) as { outcomes: unknown[] };
    expect(served.outcomes[1]).toBe('closed');
    expect(served.outcomes[0]).toEqual({
      code: 'EINVAL',
      message: expect.stringMatching(
        new RegExp(`^EINVAL: comlink over channel \\d+: partition 2 sent a message that is not a comlink request with a string call id \\(type "SET", id ${variant === 'none' ? 'undefined' : '7'}\\)`),
      ),
    });
    expect(served).toMatchObject({ keys: ['add'], add: 'function', polluted: null });
    expect(exits).toEqual([]);
  });
}
