/**
 * THREATS.md case 80: answers waiting to be sent were bounded by count (65,536), not by bytes. A
 * caller that wrote chunk() requests by hand and read no answer made a server whose api returns
 * 64 KiB hold every answer, outside its heap: 20,000 calls, 1.4 GB more resident (a few channels
 * of it would take the host's memory, and every partition and the operator with it). Now a serving
 * side reads no more requests while its answers wait and, past 4 MiB, the answers waiting on every
 * channel of its partition hold more than half its heap's free room: the caller's requests wait in
 * the rings.
 */
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';
import { SMALL_HEAP_SERVER } from './harness.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);
const MiB = 1 << 20;

it('80: 3,000 calls of a 64 KiB answer written before any answer is read: the server holds its budget of answers, no more, and then serves them all', async () => {
  await using machine = await createMachine({ partitions: SMALL_HEAP_SERVER });
  const sent = new SharedArrayBuffer(4);
  Atomics.store(new Int32Array(sent), 0, 1);
  const server = await machine.partition(1).spawn(fixture('rpc-hoard.mjs'), { role: 'server', port: 9, clients: 1, sent });
  const noreader = await machine.partition(2).spawn(fixture('rpc-hoard.mjs'), { role: 'noreader', partition: 1, port: 9, calls: 3000 });
  expect(await noreader.result).toBe(3000);
  const caller = await machine.partition(3).spawn(fixture('rpc-caller.mjs'), { partition: 1, port: 9 });
  expect(await caller.result).toBe(42);
  const r = (await server.result) as { budget: number; served: string; maxQueued: number };
  // Half a 64 MiB heap's free room is under 64 MiB; without the change ~190 MiB waited.
  expect(r.maxQueued).toBeLessThan(64 * MiB);
  expect(r.maxQueued).toBeLessThanOrEqual(r.budget + 2 * MiB);
  expect(r.served).toBe('closed');
}, 60_000);

it('80: an honest caller that makes 2,000 calls of a 64 KiB answer at once, reading as they come, gets them all', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1, resourceLimits: { maxOldGenerationSizeMb: 64 } }, { id: 2 }] });
  const sent = new SharedArrayBuffer(4);
  Atomics.store(new Int32Array(sent), 0, 1);
  const server = await machine.partition(1).spawn(fixture('rpc-hoard.mjs'), { role: 'server', port: 9, clients: 1, sent });
  const burst = await machine.partition(2).spawn(fixture('rpc-hoard.mjs'), { role: 'burst', partition: 1, port: 9, calls: 2000 });
  expect(await burst.result).toBe(2000 * 64 * 1024);
  const caller = await machine.partition(2).spawn(fixture('rpc-caller.mjs'), { partition: 1, port: 9 });
  expect(await caller.result).toBe(42);
  expect(((await server.result) as { served: string }).served).toBe('closed');
}, 60_000);
