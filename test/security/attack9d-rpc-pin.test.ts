/**
 * THREATS.md case 87: node:v8's deserializer makes each typed array and Buffer of a message a view of
 * the message's own bytes, and a message of several fragments is gathered in one buffer of up to
 * 64 MiB (cases 60, 79). An api served with exposeOverChannel that kept a 1-byte Uint8Array its
 * caller passed (a key-value store of values of at most 1 KiB, checked) kept that whole buffer,
 * outside the heap and no longer counted by case 79: a caller that passed each value beside an
 * argument of 4 MiB the api ignores pinned 8 MiB a value (20 values: 160 MiB, in a partition of a
 * 64 MiB heap). Now each typed array gets memory of its own (OwnDeserializer,
 * src/partitions/channel-endpoint.ts), and a hand-written view of part of a buffer is refused
 * (cloneCost, src/partitions/clone-cost.ts).
 */
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);

it("87: 20 one-byte values, each put beside 4 MiB the api ignores, pin 20 bytes (160 MiB before)", async () => {
  await using machine = await createMachine({ partitions: [{ id: 1, resourceLimits: { maxOldGenerationSizeMb: 64 } }, { id: 2 }] });
  const server = await machine.partition(1).spawn(fixture('kv-server.mjs'), { port: 80 });
  const padder = await machine.partition(2).spawn(fixture('kv-padder.mjs'), { partition: 1, port: 80, puts: 20, padBytes: 4 << 20 });
  expect(await padder.result).toEqual({ size: 20 });
  expect(await server.result).toEqual({ values: 20, bytes: 20, pinned: 20, served: 'ok' });
}, 60_000);

it('87: a hand-written 1-byte view over a 4 MiB buffer ends the channel EINVAL, and nothing is kept', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1, resourceLimits: { maxOldGenerationSizeMb: 64 } }, { id: 2 }] });
  const server = await machine.partition(1).spawn(fixture('kv-server.mjs'), { port: 80 });
  const caller = await machine.partition(2).spawn(fixture('kv-raw-view.mjs'), { partition: 1, port: 80, bufferBytes: 4 << 20 });
  expect(await caller.result).toEqual({ ended: 'ECLOSED' });
  const result = (await server.result) as { served: string };
  expect(result).toEqual({
    values: 0,
    bytes: 0,
    pinned: 0,
    served: expect.stringMatching(
      /^EINVAL: EINVAL: comlink over channel \d+: partition 2 sent a message that is not a structured clone this side takes \(a typed array of 1 bytes at 0 over a buffer of 4194304 \(node:v8 writes each typed array with its own bytes\)\) \(fix the argument or field the message names\)$/,
    ),
  });
}, 60_000);
