/**
 * 75: a comlink caller set values through setters the api's values inherit from the platform's
 * classes. Case 69 lets a SET through where its path ends at an accessor, as a setter the api
 * defines; a URL the api holds has accessors too (`href`, …), and a MessagePort (`onmessage`): a
 * caller changed the URL every other caller was served, and took the server's port handler away.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createMachine, type Machine } from '../../src/index.js';

const program = new URL('../fixtures/security/rpc-builtin.mjs', import.meta.url);

let machine: Machine;
beforeEach(async () => {
  machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }], wait: 'sleep' });
});
afterEach(async () => {
  await machine.close();
});

const refused = (name: string): { threw: string } => ({
  threw: `comlink: ${name} of the api served cannot be set by its caller (a caller in another partition changes the api only through its methods, or a setter the api defines)`,
});

it("75: a SET through a URL's or a MessagePort's setter held by the api is refused; the api's own setters take the value; the next caller is served the api unchanged", async () => {
  const server = await machine.partition(1).spawn(program, { role: 'server', port: 9, clients: 2 });
  const tamper = await machine.partition(2).spawn(program, { role: 'tamper', partition: 1, port: 9 });
  // Without the change: href and handler are answered { value: true }, and the next caller is
  // served where() 'https://attacker.example/' and hear() 'number' (the port's handler gone).
  expect(await tamper.result).toEqual({ href: refused('base.href'), handler: refused('port.onmessage'), level: { value: true }, gauge: { value: true } });
  const caller = await machine.partition(3).spawn(program, { role: 'caller', partition: 1, port: 9 });
  expect(await caller.result).toEqual({ where: 'https://service.example/api/', hear: 'function' });
  expect(await server.result).toEqual({ outcomes: ['closed', 'closed'], level: 5, gauge: 7 });
});
