/**
 * THREATS case 60: a comlink peer's message that is cheap to send and dear to take in. Over
 * `exposeOverChannel` the serving side deserializes whatever the peer sent (up to 64 MiB) before
 * it looks at it; a V8 structured clone of empty Maps costs 3 bytes each on the wire and ~200 bytes
 * each on the heap that takes it in, so one message of a few MiB ran the serving partition out of
 * heap (ERR_WORKER_OUT_OF_MEMORY): a peer killed the partition it called.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Machine } from '../../src/index.js';
import { comlinkServerMachine } from './harness.js';

const program = new URL('../fixtures/security/rpc-bomb.mjs', import.meta.url);

let machine: Machine;
beforeEach(async () => {
  // The server's heap is small so that the bomb is small; the default 512 MiB falls to 8 times as many Maps.
  machine = await comlinkServerMachine();
});
afterEach(async () => {
  await machine.close();
});

describe('60: a comlink message dear to deserialize', () => {
  it('1M empty Maps (3 MB on the wire) end the channel with EINVAL; the server lives and serves the next caller', async () => {
    const server = await machine.partition(1).spawn(program, { role: 'server', port: 9, clients: 2 });
    const bomber = await machine.partition(2).spawn(program, { role: 'bomber', partition: 1, port: 9, maps: 1_000_000 });
    expect(await bomber.result).toEqual({ wireBytes: 3_000_011, ended: 'ECLOSED' });
    const caller = await machine.partition(3).spawn(program, { role: 'caller', partition: 1, port: 9 });
    expect(await caller.result).toEqual({ sum: 42 });
    const served = (await server.result) as { outcomes: unknown[] };
    expect(served.outcomes).toEqual([
      { name: 'ChannelError', code: 'EINVAL', message: expect.stringMatching(/partition 2 sent a message that would take .* of heap to take in/) },
      'closed',
    ]);
  }, 60_000);

  it('fragments of one byte flagged "more follows" (each kept as a view: 4M, 8 MB on the wire, killed the server) end the channel with EINVAL at the first; the server serves the next caller', async () => {
    const server = await machine.partition(1).spawn(program, { role: 'server', port: 9, clients: 2 });
    const dribbler = await machine.partition(2).spawn(program, { role: 'dribbler', partition: 1, port: 9, fragments: 4_000_000 });
    expect(await dribbler.result).toEqual({ ended: 'ECLOSED' });
    const caller = await machine.partition(3).spawn(program, { role: 'caller', partition: 1, port: 9 });
    expect(await caller.result).toEqual({ sum: 42 });
    const served = (await server.result) as { outcomes: unknown[] };
    expect(served.outcomes).toEqual([
      { name: 'ChannelError', code: 'EINVAL', message: expect.stringMatching(/partition 2 sent a fragment of 2 bytes flagged "more follows" \(all but the last are 16384 bytes\)/) },
      'closed',
    ]);
  }, 120_000);
});
