/**
 * Regression cover from attack run 8c for the probes that found nothing. Listener.accept({ signal })
 * (wave 23): an accept given up leaves its hardware accept asked, and a connection it is granted is
 * kept for the next accept(); when none comes, the listener's close, or the end of the process,
 * closes it, so its peer hears the end and the slot is not held. comlink's SET (case 69) meets
 * paths through arrays, functions and getter-only accessors, and the api stays as it was.
 * Cases 73 to 77 are attack8c-rpc-id, attack8c-warnings, attack8c-rpc-builtin, attack8c-rpc-platform
 * and attack8c-rpc-getter.test.ts; the close of a node, test/link/attack8c-close-trickle.test.ts.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createMachine, type Machine } from '../../src/index.js';

const granted = new URL('../fixtures/security/granted-listener.mjs', import.meta.url);

let machine: Machine;
beforeEach(async () => {
  machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], wait: 'sleep' });
});
afterEach(async () => {
  await machine.close();
});

it('a connection granted to an accept given up goes to the next accept(), message and all', async () => {
  const server = await machine.partition(1).spawn(granted, { role: 'server', port: 5, end: 'take' });
  const client = await machine.partition(2).spawn(granted, { role: 'client', partition: 1, port: 5 });
  expect(await server.result).toEqual({ aborted: 'gave up', rows: ['open'], took: [7] });
  expect(await client.result).toEqual({ got: 'ECLOSED' });
});

it("a connection granted to an accept given up closes with the listener: its peer hears the end, the next accept is ECLOSED", async () => {
  const server = await machine.partition(1).spawn(granted, { role: 'server', port: 5, end: 'close' });
  const client = await machine.partition(2).spawn(granted, { role: 'client', partition: 1, port: 5 });
  expect(await server.result).toEqual({ aborted: 'gave up', rows: ['open'], next: 'ECLOSED' });
  expect(await client.result).toEqual({ got: 'ECLOSED' });
});

it('a connection granted to an accept given up closes when main returns with the listener open; the partition holds no channel after', async () => {
  const server = await machine.partition(1).spawn(granted, { role: 'server', port: 5, end: 'return' });
  const client = await machine.partition(2).spawn(granted, { role: 'client', partition: 1, port: 5 });
  expect(await server.result).toEqual({ aborted: 'gave up', rows: ['open'] });
  expect(await client.result).toEqual({ got: 'ECLOSED' });
  const table = await machine.partition(1).spawn(granted, { role: 'table' });
  expect(await table.result).toBe('empty');
});

it("69's SET refusal holds along arrays, functions' properties, numeric names, prototypes' accessors and getters without a setter", async () => {
  const paths = new URL('../fixtures/security/rpc-paths.mjs', import.meta.url);
  const server = await machine.partition(1).spawn(paths, { role: 'server', port: 9 });
  const tamper = await machine.partition(2).spawn(paths, { role: 'tamper', partition: 1, port: 9 });
  const refused = (name: string): { threw: string } => ({
    threw: `comlink: ${name} of the api served cannot be set by its caller (a caller in another partition changes the api only through its methods, or a setter the api defines)`,
  });
  const shared = (name: string): { threw: string } => ({ threw: `comlink: ${name} is not part of the api served (names every object has, like __proto__ or toString, are refused)` });
  expect(await tamper.result).toEqual({
    index: refused('list.0'),
    length: refused('list.length'),
    fnTag: refused('fn.tag'),
    fnName: refused('fn.name'),
    numeric: refused('0'),
    // An accessor with no setter takes nothing (case 75 checks the setter; comlink's strict assignment would throw too).
    getterOnly: refused('counter.ro'),
    field: refused('counter.n'),
    mapSize: refused('map.size'),
    protoVia: shared('counter.__proto__'),
    ctor: shared('counter.constructor'),
  });
  expect(await server.result).toEqual({ outcome: 'closed', list: [1, 2], tag: 'kept', fnIsFn: 'function', n: 3, ro: 3, size: 1, keys: ['list', 'fn', 'counter', 'map'] });
});
