/**
 * Regression cover from the sixth attack run (a hostile peer against an honest partition's receive
 * and stream APIs) for the probes that found nothing: a 0-byte message, one of exactly
 * maxMessageBytes, one arriving while the reader's buffer is too small (typed EMSGSIZE, the message
 * stays), a drain callback that closes the channel with the peer's END right behind the message, and
 * a stream fed 0-byte messages between others that ends ('end', then 'close') at the peer's close.
 * Case 61 is read-turns.test.ts.
 */
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);

it('edge messages from a peer: typed answers, nothing lost or misread, the stream ends', async () => {
  await using machine = await createMachine({ maxMessageBytes: 4096, partitions: [{ id: 1 }, { id: 2 }] });
  const victim = await machine.partition(1).spawn(fixture('edge-victim.mjs'), { port: 7 });
  const sender = await machine.partition(2).spawn(fixture('edge-sender.mjs'), { partition: 1, port: 7 });
  expect(await sender.result).toBe('sent');
  expect(await victim.result).toEqual({
    empty: 0,
    tooSmall: 'ChannelError EMSGSIZE',
    full: 4096,
    fullBytes: true,
    drained: 1,
    drainedBytes: [9, 9, 9, 9, 9],
    afterClose: false,
    recvAfterClose: 'ECLOSED',
    stream: { bytes: [3, 3, 3, 4, 4, 4, 4], events: ['end', 'close'] },
  });
  for (const p of machine.stats().partitions) expect(p.violations.total).toBe(0);
}, 60_000);
