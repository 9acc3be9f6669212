/**
 * Regression cover for the eighth attack run's probes that found nothing (docs/THREATS.md, "Found
 * nothing (attack run 8d)"): a stream written to a peer that closes or dies mid-write ends with a
 * typed error and settles every callback; 0-byte messages to a stream hold nothing; control calls that transfer a MessagePort or an
 * ArrayBuffer they do not reference are answered as any call, counted as nothing, and hold nothing.
 */
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);
const HOSTILE_OS = fixture('hostile-os.mjs');

for (const how of ['close', 'crash'] as const) {
  for (const reads of [0, 3]) {
    it(`a 4 MiB stream write to a peer that reads ${reads} messages and then ${how === 'close' ? 'closes' : 'exits'}: the write and the stream end typed, nothing hangs`, async () => {
      await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }] });
      machine.on('partitionExit', () => {});
      const peer = await machine.partition(1).spawn(fixture('read-one-close.mjs'), { port: 80, reads, how });
      const writer = await machine.partition(2).spawn(fixture('stream-writer.mjs'), { partition: 1, port: 80, bytes: 4 << 20 });
      if (how === 'close') {
        // No half-close: the peer's clean close fails the writes; the readable side's 'end' may come
        // first (when its read of the END ran before the failed write's callback) or not at all.
        const r = (await writer.result) as { writeError: string; events: string[] };
        expect(r.writeError).toBe('ECLOSED');
        expect(r.events.filter((e) => e !== 'end')).toEqual(['error ECLOSED', 'close']);
        expect(r.events.indexOf('end')).toBeLessThanOrEqual(0);
        expect(await peer.result).toBe('closed');
      } else {
        expect(await writer.result).toEqual({ writeError: 'EPEERDEAD', events: ['error EPEERDEAD', 'close'] });
        await expect(peer.result).rejects.toMatchObject({ code: 'EPARTITIONDOWN' });
      }
    }, 30_000);
  }
}

it('50,000 0-byte messages to a stream read slowly are taken, and the 1-byte message after them arrives', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }] });
  const reader = await machine.partition(1).spawn(fixture('stream-sink.mjs'), { port: 80, read: 1 });
  const sizes = [...new Array<number>(50_000).fill(0), 1];
  const writer = await machine.partition(2).spawn(fixture('tiny-writer.mjs'), { partition: 1, port: 80, n: sizes.length, sizes });
  expect(await reader.result).toEqual({ bytes: 1, misordered: 0 });
  expect(await writer.result).toEqual({ sent: 50_001 });
}, 30_000);

for (const kind of ['port', 'buffer'] as const) {
  it(`control calls transferring ${kind === 'port' ? 'a MessagePort' : 'an ArrayBuffer'} they do not reference are answered as any call, counted as nothing`, async () => {
    await using machine = await createMachine({ partitions: [{ id: 1, os: HOSTILE_OS }, { id: 2 }] });
    const os = machine.partition(1).os as any;
    // 2,048 posted; every 256th is followed by a plain call, answered EINVAL (queue pair 99 does not exist).
    expect(await os.postTransferring(kind, 2048, 64 * 1024)).toBe(8);
    expect(await os.open(0)).toMatchObject({ ok: true });
    const v = machine.stats().partitions[0].violations;
    expect(v.badControlMessage).toBe(0);
    expect(v.total).toBe(0);
  }, 30_000);
}
