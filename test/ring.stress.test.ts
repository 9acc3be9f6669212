/**
 * Two workers, one ring: a producer thread and a consumer thread move records
 * with sequence numbers and checksums through a small ring that wraps many
 * times (and whose positions start just below 2^32). Nothing may be lost,
 * duplicated, reordered or corrupted, and no wait may time out: a lost wake-up
 * shows up as a stall. Workers run the built package (test/fixtures/*.mjs).
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { allocateRing, RecordLayout, RecordType, RingProducer, spinBudget, type WaitMode } from 'lparlink/internal';

const FIXTURE = new URL('./fixtures/ring-stress-worker.mjs', import.meta.url);
const CAPACITY = 1024;
/** Longer than any honest pause on a loaded 2-core machine; a wait that runs out counts as a stall. */
const WAIT_MS = 5000;

interface ProducerResult {
  role: 'producer';
  sent: number;
  stalls: number;
  bytes: number;
  wrappedBy: number;
  fault: string;
}

interface ConsumerResult {
  role: 'consumer';
  received: number;
  stalls: number;
  errorCount: number;
  errors: string[];
  fault: string;
}

function start(workerData: Record<string, unknown>): { worker: Worker; result: Promise<ProducerResult | ConsumerResult> } {
  const worker = new Worker(FIXTURE, { workerData });
  const result = new Promise<ProducerResult | ConsumerResult>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`${String(workerData.role)} worker exited with code ${code} before reporting`)));
  });
  return { worker, result };
}

async function stress(records: number, mode: WaitMode, asyncWaits: boolean, seed: number) {
  const startPosition = 2 ** 32 - 4 * CAPACITY;
  const ring = allocateRing(CAPACITY, startPosition);
  const common = {
    ring,
    records,
    seed,
    spins: spinBudget(mode),
    waitMs: WAIT_MS,
    asyncWaits,
    maxPayload: CAPACITY / 2 - RecordLayout.HEADER_BYTES - 8,
  };
  const consumer = start({ ...common, role: 'consumer' });
  const producer = start({ ...common, role: 'producer' });
  try {
    const [c, p] = (await Promise.all([consumer.result, producer.result])) as [ConsumerResult, ProducerResult];
    return { c, p };
  } finally {
    await Promise.all([consumer.worker.terminate(), producer.worker.terminate()]);
  }
}

/** Nothing lost, duplicated, reordered or corrupted; no fault; no wait that ran out (a lost wake-up). */
function expectIntact({ c, p }: { c: ConsumerResult; p: ProducerResult }, records: number): void {
  expect({ producerFault: p.fault, consumerFault: c.fault, errors: c.errors, errorCount: c.errorCount }).toEqual({
    producerFault: '',
    consumerFault: '',
    errors: [],
    errorCount: 0,
  });
  expect({ sent: p.sent, received: c.received }).toEqual({ sent: records, received: records });
  expect({ producerStalls: p.stalls, consumerStalls: c.stalls }).toEqual({ producerStalls: 0, consumerStalls: 0 });
}

describe('two-worker ring stress', () => {
  it('moves 10^6 variable-size records in order and intact (adaptive waits)', async () => {
    const records = 1_000_000;
    const result = await stress(records, 'adaptive', false, 0x1234_5678);
    expectIntact(result, records);
    // Many times around the ring, across the 2^32 wrap of the positions.
    expect(result.p.wrappedBy / CAPACITY).toBeGreaterThan(20_000);
  });

  it.each([
    ['both sides sleep whenever they would wait (no spinning)', false, 0x0bad_cafe],
    ['both sides use the event-loop-friendly async waits', true, 0x5eed_f00d],
  ])('moves 2·10^5 records when %s', async (_how, asyncWaits, seed) => {
    const records = 200_000;
    expectIntact(await stress(records, 'sleep', asyncWaits, seed), records);
  });

  it('keeps a worker alive while its only pending work is waitForDataAsync', async () => {
    const ring = allocateRing(CAPACITY);
    const worker = new Worker(new URL('./fixtures/wait-async-alone.mjs', import.meta.url), { workerData: { ring } });
    try {
      const messages: unknown[] = [];
      const done = new Promise<number>((resolve, reject) => {
        worker.on('message', (m) => messages.push(m));
        worker.once('error', reject);
        worker.once('exit', resolve);
      });
      while (messages.length === 0) await sleep(5);
      expect(messages).toEqual(['waiting']);
      await sleep(100); // long enough for a worker with an empty event loop to exit
      const producer = new RingProducer(ring);
      producer.u8.set([4, 2], producer.tryClaim(RecordType.RAW, 2));
      producer.publish();
      expect(await done).toBe(0);
      expect(messages).toEqual(['waiting', { woke: true, type: RecordType.RAW, body: [4, 2] }]);
    } finally {
      await worker.terminate();
    }
  });
});
