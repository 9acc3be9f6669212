/**
 * THREATS.md case 53: every control call of a partition's OS (accept, connect, listen, unlisten)
 * left an entry behind, kept until the hardware died, with the call's race and its answer: a peer
 * that connects and closes in a loop grew an honest server's heap by ~740 bytes a connection, and
 * a server with a 24 MiB heap died of it (ERR_WORKER_OUT_OF_MEMORY) after 60,000 (attack run,
 * wave 19). Case 47's bound (4096 closed handles remembered) did not cover it.
 */
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);

/** A server that accepts and closes `n` channels from a client that connects and closes: its heap after GC at each of `marks`. */
async function serverHeap(n: number, marks: number[]): Promise<Record<number, number>> {
  await using machine = await createMachine({ wait: 'sleep', partitions: [{ id: 1, name: 'server' }, { id: 3, name: 'client' }] });
  const server = await machine.partition(1).spawn(fixture('heap-server.mjs'), { port: 7, n, marks });
  const client = await machine.partition(3).spawn(fixture('connect-close.mjs'), { partition: 1, port: 7, n });
  expect(await client.result).toBe(n);
  return (await server.result) as Record<number, number>;
}

it("53: a server's heap does not grow with the channels it accepts and closes (5,000 → 13,000, past case 47's bound)", async () => {
  const heap = await serverHeap(13_000, [5_000, 13_000]);
  // 8,000 connections at ~740 bytes each grew it by ~5.6 MiB; now what is left is noise.
  expect(heap[13_000] - heap[5_000]).toBeLessThan(1 << 20);
}, 120_000);

it("53 (and case 47): a server that only accepts and closes keeps no closed channel longer than its close's acknowledgement takes, not up to case 47's 4096", async () => {
  const heap = await serverHeap(4_000, [500, 4_000]);
  // It never read its completions, so every closed channel (~1.5 KB) waited for an acknowledgement
  // the hardware had dropped on the full ring: 5.3 MB more at 4,000 than at 500 (memory hunt, wave 19).
  expect(heap[4_000] - heap[500]).toBeLessThan(1 << 20);
}, 120_000);
