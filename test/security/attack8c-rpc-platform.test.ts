/**
 * 76: a comlink caller called methods the api's values inherit from the platform's classes. Case
 * 38 refuses what every object has (Object.prototype, Function.prototype), and case 69 refuses a SET
 * that is not the api's setter; but an array the api holds has push, a Map clear, bytes fill, a
 * Date setTime: a caller changed what every other caller is served through them, and pushed 4 MiB
 * strings onto the api's array until the server ran out of heap (case 69's hoard, by APPLY).
 */
import { expect, it } from 'vitest';
import { comlinkServerEach } from './harness.js';

const program = new URL('../fixtures/security/rpc-platform-method.mjs', import.meta.url);

const served = comlinkServerEach();

const refused = (name: string): { threw: string } => ({
  threw: `comlink: ${name} is a method of a platform class a value of the api served inherits, not of the api: a caller in another partition calls only the api's own methods`,
});

it("76: an array's push, a Map's clear, bytes' fill and a Date's setTime on values the api holds are refused; the next caller is served the api unchanged", async () => {
  const server = await served.machine.partition(1).spawn(program, { role: 'server', port: 9, clients: 2 });
  const tamper = await served.machine.partition(2).spawn(program, { role: 'tamper', partition: 1, port: 9 });
  // Without the change each call is served ({ value: 2 }, …), and the next caller gets last() 'mine',
  // count() 0, bits() [0, 0] and when() 1.
  expect(await tamper.result).toEqual({ push: refused('recent.push'), clear: refused('seen.clear'), fill: refused('mask.fill'), setTime: refused('at.setTime') });
  const caller = await served.machine.partition(3).spawn(program, { role: 'caller', partition: 1, port: 9 });
  expect(await caller.result).toEqual({ last: 'hello', count: 1, bits: [1, 2], when: 0 });
  expect(await server.result).toEqual({ outcomes: ['closed', 'closed'], recent: 1 });
});

it('76: pushing 4 MiB strings onto the api\'s array 40 times over is refused each time; the 64 MiB server lives and serves the next caller', async () => {
  const server = await served.machine.partition(1).spawn(program, { role: 'server', port: 9, clients: 2 });
  const hoard = await served.machine.partition(2).spawn(program, { role: 'hoard', partition: 1, port: 9, bytes: 4 << 20, times: 40 });
  // Without the change the server's heap fills after 15: its partition crashes (ERR_WORKER_OUT_OF_MEMORY), the hoarder's channel ends EPEERDEAD.
  expect(await hoard.result).toEqual({ pushed: 0, last: refused('recent.push') });
  const caller = await served.machine.partition(3).spawn(program, { role: 'caller', partition: 1, port: 9 });
  expect(await caller.result).toEqual({ last: 'hello', count: 1, bits: [1, 2], when: 0 });
  expect(await server.result).toEqual({ outcomes: ['closed', 'closed'], recent: 1 });
  expect(served.exits).toEqual([]);
}, 60_000);
