/**
 * THREATS.md case 79: a comlink message's fragments are gathered in one buffer per channel, up to
 * 64 MiB, an ArrayBuffer outside the heap the partition's resourceLimits bound. A peer that sent
 * half of that on each of many channels to a server, and never the last fragment, made the serving
 * partition hold 64 MiB a channel (attack run: 24 channels, 1.2 GB more resident). Now the partial
 * messages of one partition together may hold at most what one whole message may take (half the
 * heap's free room): past it, the channel whose message would grow ends with EINVAL.
 */
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';
import { SMALL_HEAP_SERVER } from './harness.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);
const MiB = 1 << 20;

it('79: 20 MiB unfinished on each of 8 channels to a 64 MiB server: the partial messages hold under its budget, the rest end EINVAL, the next caller is served', async () => {
  await using machine = await createMachine({ partitions: SMALL_HEAP_SERVER });
  const sent = new SharedArrayBuffer(4);
  const release = new SharedArrayBuffer(4);
  const server = await machine.partition(1).spawn(fixture('rpc-hoard.mjs'), { role: 'server', port: 9, clients: 8, sent });
  const hoarder = await machine.partition(2).spawn(fixture('rpc-hoard.mjs'), { role: 'hoarder', partition: 1, port: 9, clients: 8, mib: 20, sent, release });
  const caller = await machine.partition(3).spawn(fixture('rpc-caller.mjs'), { partition: 1, port: 9 });
  expect(await caller.result).toBe(42);
  const r = (await server.result) as { ended: Array<{ code: string; message: string }>; budget: number; served: string };
  // What still gathers holds its 20 MiB within the budget (half a 64 MiB heap's free room, 30 to
  // 45 MiB): one or two channels; every other one ended. Without the change none ends.
  const gathering = 8 - r.ended.length;
  expect(gathering).toBeGreaterThanOrEqual(1);
  expect(gathering * 20 * MiB).toBeLessThanOrEqual(r.budget);
  for (const e of r.ended) {
    expect(e.code).toBe('EINVAL');
    expect(e.message).toMatch(
      /^EINVAL: comlink over channel \d+: partition 2 sent \d+ bytes of a message whose last fragment has not come, while this partition's other unfinished messages, on every channel, hold [\d.]+ MiB: together they may hold at most [\d.]+ MiB \(half of this partition's free heap, the most one whole message may take\); send large values in several calls, or raise the receiving partition's resourceLimits\.maxOldGenerationSizeMb \(fix the argument or field the message names\)$/,
    );
  }
  expect(r.served).toBe('closed');
  Atomics.store(new Int32Array(release), 0, 1);
  const outcomes = (await hoarder.result) as string[];
  // A write fails only once the hoarder's side has heard the end; a channel the server ended after
  // its last write went into the ring reads 'sent' there (one of 7 in a CI run). So: every channel
  // still gathering took all its writes, and each that failed did so because the server ended it.
  expect(outcomes.every((o) => o === 'sent' || o === 'ECLOSED')).toBe(true);
  expect(outcomes.filter((o) => o === 'sent').length).toBeGreaterThanOrEqual(gathering);
  expect(outcomes.filter((o) => o === 'ECLOSED').length).toBeLessThanOrEqual(r.ended.length);
}, 60_000);

it('79: one honest 16 MiB argument to a 64 MiB server still arrives whole', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1, resourceLimits: { maxOldGenerationSizeMb: 64 } }, { id: 2 }] });
  const sent = new SharedArrayBuffer(4);
  Atomics.store(new Int32Array(sent), 0, 1);
  const server = await machine.partition(1).spawn(fixture('rpc-hoard.mjs'), { role: 'server', port: 9, clients: 1, sent });
  const big = await machine.partition(2).spawn(fixture('rpc-hoard.mjs'), { role: 'big', partition: 1, port: 9, mib: 16 });
  expect(await big.result).toBe(16 * MiB);
  const caller = await machine.partition(2).spawn(fixture('rpc-caller.mjs'), { partition: 1, port: 9 });
  expect(await caller.result).toBe(42);
  expect(((await server.result) as { served: string }).served).toBe('closed');
}, 60_000);
