/**
 * THREATS.md case 47: a peer that connects and closes in a loop grew an honest server's memory
 * without bound. Its registry remembered every handle the process ever closed, and kept each
 * closed Channel until the hardware acknowledged its CLOSE, an acknowledgement dropped when the
 * completion ring was full: 20,000 cycles grew the server's heap by 46 MiB, and a 48 MiB heap died.
 * A process now remembers at most 4096 of each, the newest.
 */
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);

it('47: a server that accepted and closed 6000 channels remembers at most 4096 of them', async () => {
  const n = 6000;
  await using machine = await createMachine({ wait: 'sleep', partitions: [{ id: 1, name: 'server' }, { id: 3, name: 'client' }] });
  const server = await machine.partition(1).spawn(fixture('closing-server.mjs'), { port: 7, n });
  const client = await machine.partition(3).spawn(fixture('connect-close.mjs'), { partition: 1, port: 7, n });
  expect(await client.result).toBe(n);
  const kept = (await server.result) as { closed: number; closing: number };
  expect(kept.closed).toBe(4096);
  expect(kept.closing).toBeLessThanOrEqual(4096);
}, 60_000);
