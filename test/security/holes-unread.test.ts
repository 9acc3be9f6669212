/**
 * THREATS.md case 44: a peer that keeps sending on a channel its receiver does not read while that
 * process waits on another channel of the same queue pair. The receive pump copies such messages
 * out of the ring to reach the ones behind them; kept without bound, a flood grew the whole Node
 * process by hundreds of MiB in seconds, outside the victim's heap limit (the copies are
 * ArrayBuffers), and its sender was never held back. Now a process keeps at most 4 MiB of unread
 * messages per channel (or four of the largest): past it the channel ends here with ENOBUFS (what
 * was kept is read first, exactly 4096 messages of 1 KiB) and its CLOSE makes the flooder's
 * write() fail ECLOSED, while the channel the victim waits on still brings its message. The same
 * for a flood on a channel not accepted yet. Attacks come from inside partition workers.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);
const VICTIM = 1;
const HONEST = 2;
const FLOODER = 3;
const BYTES = 1024;
/** 4 MiB of 1 KiB messages. */
const KEPT = (4 * 1024 * 1024) / BYTES;

describe('44: unread messages a process keeps per channel are bounded', () => {
  for (const accepted of [true, false]) {
    it(`a flood on a channel ${accepted ? 'accepted but not read' : 'not accepted yet'} ends it with ENOBUFS after 4 MiB; the awaited channel still delivers`, async () => {
      await using machine = await createMachine({
        wait: 'sleep',
        receiveRingBytes: 16 * 1024,
        partitions: [{ id: VICTIM, name: 'victim', resourceLimits: { maxOldGenerationSizeMb: 64 } }, { id: HONEST }, { id: FLOODER }],
      });
      const go = new SharedArrayBuffer(4);
      const honest = await machine.partition(HONEST).spawn(fixture('send-on-go.mjs'), accepted ? { partition: VICTIM, port: 7, go } : { listen: 5, go });
      const victim = await machine.partition(VICTIM).spawn(fixture('unread-victim.mjs'), { port: 7, honest: HONEST, honestPort: 5, accepted });
      if (accepted) await new Promise((r) => setTimeout(r, 100)); // the honest channel is accepted first
      const flooder = await machine.partition(FLOODER).spawn(fixture('flood-writer.mjs'), { partition: VICTIM, port: 7, bytes: BYTES });
      const delivered = (): number => machine.stats().partitions.find((p) => p.id === VICTIM)!.delivered;
      if (accepted) {
        // The flood passes the bound while the victim waits for the honest message: its channel
        // closes at once, and the flooder's writes stop with what the ring still held.
        const flood = (await flooder.result) as { written: number; error: string };
        expect(flood.error).toBe('ECLOSED');
        expect(flood.written).toBeGreaterThan(KEPT);
        expect(delivered()).toBeLessThan(KEPT + 100);
        Atomics.store(new Int32Array(go), 0, 1);
        expect(await victim.result).toEqual({ honest: 3, kept: KEPT, end: 'ENOBUFS' });
      } else {
        // Not accepted, the channel has no end here to close yet: past the bound its messages are
        // dropped (the pump still reads them, so the sender goes on) until accept() ends it.
        await expect.poll(delivered, { timeout: 30_000, interval: 20 }).toBeGreaterThan(KEPT + 100);
        Atomics.store(new Int32Array(go), 0, 1);
        expect(await victim.result).toEqual({ honest: 3, kept: KEPT, end: 'ENOBUFS' });
        expect(await flooder.result).toMatchObject({ error: 'ECLOSED' });
      }
      expect(await honest.result).toBe('sent');
      // The victim's partition is whole: it runs another program.
      expect(machine.partition(VICTIM).running).toBe(true);
    }, 60_000);
  }
});
