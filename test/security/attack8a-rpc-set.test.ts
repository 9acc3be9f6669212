/**
 * 69: a comlink caller that writes to the api it is served. comlink's expose takes SET requests
 * (`remote.add = 0` on a wrapChannel proxy sends one) and assigns the value on the served object:
 * a caller in one partition replaced a method that the server's other callers use, and hoarded
 * data on the api until the serving partition ran out of heap. The serving side now refuses a SET
 * unless the api defines a setter for it.
 */
import { expect, it } from 'vitest';
import { comlinkServerEach } from './harness.js';

const program = new URL('../fixtures/security/rpc-setter.mjs', import.meta.url);

const served = comlinkServerEach();

const refused = (name: string): string =>
  `comlink: ${name === '' ? 'the api served' : `${name} of the api served`} cannot be set by its caller (a caller in another partition changes the api only through its methods, or a setter the api defines)`;

it("69: a caller's SET of the api's method, or of a new property, is refused (a setter the api defines is not); the server's next caller is served add()", async () => {
  const server = await served.machine.partition(1).spawn(program, { role: 'server', port: 9, clients: 2 });
  const tamper = await served.machine.partition(2).spawn(program, { role: 'tamper', partition: 1, port: 9 });
  // Without the change: add and note are set ({ value: true }), and the next caller's add(2, 40)
  // rejects with TypeError "add of the api served is 0, not a method".
  expect(await tamper.result).toEqual({ add: { threw: refused('add') }, note: { threw: refused('note') }, root: { threw: refused('') }, limit: { value: true } });
  const caller = await served.machine.partition(3).spawn(program, { role: 'caller', partition: 1, port: 9 });
  expect(await caller.result).toEqual({ sum: 42 });
  expect(await server.result).toEqual({ outcomes: ['closed', 'closed'], keys: ['add', 'limit'], limit: 5 });
});

it('69: a caller setting 4 MiB strings as properties 40 times over is refused each time; the 64 MiB server lives and serves the next caller', async () => {
  const server = await served.machine.partition(1).spawn(program, { role: 'server', port: 9, clients: 2 });
  const hoard = await served.machine.partition(2).spawn(program, { role: 'hoard', partition: 1, port: 9, bytes: 4 << 20, times: 40 });
  // Without the change the server's heap fills: its partition crashes (ERR_WORKER_OUT_OF_MEMORY) and the hoarder's channel dies.
  expect(await hoard.result).toEqual({ set: 0, last: { threw: refused('junk0') } });
  const caller = await served.machine.partition(3).spawn(program, { role: 'caller', partition: 1, port: 9 });
  expect(await caller.result).toEqual({ sum: 42 });
  expect(await server.result).toEqual({ outcomes: ['closed', 'closed'], keys: ['add', 'limit'], limit: 1 });
  expect(served.exits).toEqual([]);
}, 60_000);
