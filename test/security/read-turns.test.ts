/**
 * THREATS.md case 61: a peer that keeps its reader's receive ring from running empty kept an honest
 * reader that awaits (`for await`, `recv()`, `recvInto()`, `recvBatch()`, `readable()` + `drain()`,
 * a stream in flowing mode) from ever yielding to its event loop: each message was ready at once,
 * so the loop went on in microtasks (the stream's pull, in one synchronous loop; one `drain()` call
 * did not return), and the partition's timers, I/O and control calls (another process's accept())
 * waited for as long as the peer sent. Now a turn of the event loop reads at most a ring's worth
 * for such receives (and one drain() call at most a ring's worth), then the loop turns.
 *
 * The victim partition runs two processes: one reads the flooded channel, spending 20 µs on each
 * message; the other accepts one honest client and echoes its message. The flooder stops when the
 * honest round trip is done ('flag'), or gives up after 10 s ('deadline': before the fix, every
 * case but the stream of empty messages).
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);
const VICTIM = 1;
const FLOODER = 2;
const HONEST = 3;

describe('61: a peer that keeps the ring full does not keep an awaiting reader from yielding', () => {
  for (const how of ['iterate', 'recv', 'recvInto', 'recvBatch', 'drain', 'stream']) {
    it(`61: ${how}: the victim's other process accepts and echoes an honest client while the flood goes on; every flooded message is read`, async () => {
      await using machine = await createMachine({ receiveRingBytes: 1024 * 1024, partitions: [{ id: VICTIM }, { id: FLOODER }, { id: HONEST }] });
      const done = new SharedArrayBuffer(4);
      const victim = await machine.partition(VICTIM).spawn(fixture('loop-victim.mjs'), { port: 7, how, workUs: 20, messageBytes: 64 });
      const echo = await machine.partition(VICTIM).spawn(fixture('echo-once-server.mjs'), { port: 8 });
      const flooder = await machine.partition(FLOODER).spawn(fixture('zero-flood.mjs'), { partition: VICTIM, port: 7, bytes: 64, stop: done, giveUpMs: 10_000 });
      // The flood is under way (delivered, not only sent) before the honest client connects.
      await expect.poll(() => machine.stats().partitions.find((p) => p.id === VICTIM)!.delivered, { timeout: 10_000, interval: 5 }).toBeGreaterThan(5_000);
      const honest = await machine.partition(HONEST).spawn(fixture('echo-once-client.mjs'), { partition: VICTIM, port: 8, done });
      const flood = (await flooder.result) as { sent: number; stoppedBy: string };
      expect(flood.stoppedBy).toBe('flag');
      expect(await honest.result).toEqual([1, 2, 3]);
      expect(await echo.result).toBe('echoed');
      // Nothing was lost: the reader read every message, then the end (recv and recvInto say ECLOSED there).
      expect(await victim.result).toMatchObject({ messages: flood.sent, end: how === 'recv' || how === 'recvInto' ? 'ECLOSED' : 'clean' });
      expect(machine.stats().partitions.find((p) => p.id === VICTIM)!.violations.total).toBe(0);
    }, 60_000);
  }
});
