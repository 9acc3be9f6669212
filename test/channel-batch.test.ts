/**
 * The batch receive API: zero-copy `drain(fn)`, `readable()`, and
 * `recvBatch(max)`, with real workers. Every stream carries sequence numbers
 * and a payload pattern, so loss, duplication, reordering or a view read
 * after its ring space was reused all show.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from 'lparlink';

const roles = new URL('./fixtures/batch-receive.mjs', import.meta.url);

async function pair(receiver: Record<string, unknown>, sender: Record<string, unknown>) {
  const machine = await createMachine({
    partitions: [{ id: 1 }, { id: 2 }],
    sendRingBytes: 16 * 1024,
    receiveRingBytes: 16 * 1024,
    maxMessageBytes: 4096,
  });
  try {
    const rx = await machine.partition(1).spawn(roles, { port: 40, ...receiver });
    const tx = await machine.partition(2).spawn(roles, { role: 'sender', partition: 1, port: 40, ...sender });
    const [r, s] = await Promise.all([rx.result, tx.result]);
    return { r: r as Record<string, number | boolean>, s: s as { sent: number } };
  } finally {
    await machine.close();
  }
}

describe('batch receive', () => {
  it('drain(fn) hands over every message in order, in place, across many ring wraps; readable() ends false', async () => {
    const n = 50_000;
    const { r } = await pair({ role: 'drainer' }, { n, size: 200, batch: 16 });
    expect(r).toMatchObject({ received: n, bad: 0, nestedGot: 0, open: false });
    expect(r.views as number).toBeGreaterThan(0); // most messages came as views of the ring, not copies
  });

  it('recvBatch(max) returns at most max copies per call, in order, and [] at the end', async () => {
    const n = 20_000;
    const { r } = await pair({ role: 'batcher', max: 50 }, { n, size: 64, batch: 32 });
    expect(r).toMatchObject({ received: n, bad: 0 });
    expect(r.largest as number).toBeLessThanOrEqual(50);
    expect(r.largest as number).toBeGreaterThan(1);
  });

  it('drain on one channel leaves another channel of the same process to recv(), both complete', async () => {
    const n = 20_000;
    const { r } = await pair({ role: 'mixed' }, { n, size: 96, batch: 8, channels: 2 });
    expect(r).toEqual({ a: n, b: n, bad: 0 });
  });
});
