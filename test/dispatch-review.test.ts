/**
 * DispatchPriority.review() on its own: ports whose serve counts the test moves, one review per
 * 3 ms, and a real thread (a worker of this process) in the thread word, whose nice value the
 * kernel reports. What counts as a port waiting on a flooder is another port's round trips over
 * time, from a thread that mostly waits: not one message (a stream's END, a reply), not the
 * flooder's own earlier round trips, and not those of a thread that spins beside them.
 */
import { spawn } from 'node:child_process';
import { getPriority } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { Counters } from '../src/hardware/counters.js';
import { DEMOTED_NICE, DispatchPriority } from '../src/hardware/dispatch-priority.js';
import type { PartitionPort } from '../src/hardware/partition-port.js';
import { startThread, stopThreads } from './kernel-threads.js';

const possible = DispatchPriority.available();

interface FakePort {
  index: number;
  alive: boolean;
  saturatedServes: number;
  lightServes: number;
  /** Its queue pairs, whose cached destinations name a lowered flood's drains: none here. */
  queuePairs: never[];
}

afterEach(stopThreads);

/**
 * A review set-up with threads of its own: port 0's thread (`thread`, the one a review lowers) and
 * port 1's (idle, or spinning with `spinningRoundTripper`).
 */
async function setUp(spinningRoundTripper = false) {
  const thread = await startThread();
  const words = [new SharedArrayBuffer(4), new SharedArrayBuffer(4)];
  new Int32Array(words[0])[0] = thread;
  new Int32Array(words[1])[0] = await startThread(spinningRoundTripper);
  const dispatch = new DispatchPriority(words, new Counters(2));
  const ports: FakePort[] = [0, 1].map((index) => ({ index, alive: true, saturatedServes: 0, lightServes: 0, queuePairs: [] }));
  /** `ms` of reviews, one per 3 ms; before each, `step` moves the ports' counts. Returns the thread's highest nice value after a review. */
  const reviewFor = async (ms: number, step: (i: number) => void): Promise<number> => {
    const end = performance.now() + ms;
    let highest = getPriority(thread);
    for (let i = 0; performance.now() < end; i++) {
      step(i);
      dispatch.review(ports as unknown as PartitionPort[]);
      highest = Math.max(highest, getPriority(thread));
      await new Promise((r) => setTimeout(r, 3));
    }
    return highest;
  };
  return { thread, ports, words, reviewFor };
}

describe.runIf(possible)('dispatch review', () => {
  it("a port that saturates beside another port's round trips is lowered, and set back once the round trips stop", async () => {
    const { thread, ports, reviewFor } = await setUp();
    await reviewFor(160, () => {
      ports[0].saturatedServes++;
      ports[1].lightServes++;
    });
    expect(getPriority(thread)).toBe(DEMOTED_NICE);
    // The flood goes on; nobody waits on it any more.
    await reviewFor(200, () => ports[0].saturatedServes++);
    expect(getPriority(thread)).toBe(0);
  });

  it('a port that stops saturating is set back while the round trips go on', async () => {
    const { thread, ports, reviewFor } = await setUp();
    await reviewFor(160, () => {
      ports[0].saturatedServes++;
      ports[1].lightServes++;
    });
    expect(getPriority(thread)).toBe(DEMOTED_NICE);
    await reviewFor(200, () => ports[1].lightServes++);
    expect(getPriority(thread)).toBe(0);
  });

  it('one light message beside the flood (a closing END) lowers nothing', async () => {
    const { ports, reviewFor } = await setUp();
    const highest = await reviewFor(120, (i) => {
      ports[0].saturatedServes++;
      if (i === 5) ports[1].lightServes++;
    });
    expect(highest).toBe(0);
  });

  it('round trips from a partition whose thread spins beside them lower nothing: it does not wait for a core, and would take it from the lowered one', async () => {
    const { ports, reviewFor } = await setUp(true);
    const highest = await reviewFor(150, () => {
      ports[0].saturatedServes++;
      ports[1].lightServes++;
    });
    expect(highest).toBe(0);
  });

  it('nothing is lowered while a thread started after the hardware booted, and named by no partition, spins (a partition may start Workers of its own)', async () => {
    const { ports, reviewFor } = await setUp();
    await startThread(true);
    const highest = await reviewFor(150, () => {
      ports[0].saturatedServes++;
      ports[1].lightServes++;
    });
    expect(highest).toBe(0);
  });

  it("a port's own round trips before it floods lower nothing", async () => {
    const { ports, reviewFor } = await setUp();
    await reviewFor(80, () => ports[0].lightServes++);
    expect(await reviewFor(80, () => ports[0].saturatedServes++)).toBe(0);
  });

  it('a thread word that names no thread of this process (cleared, or another process) is left alone', async () => {
    const { ports, words, reviewFor } = await setUp();
    const other = spawn('sleep', ['5']);
    try {
      new Int32Array(words[0])[0] = other.pid!;
      const highest = await reviewFor(160, () => {
        ports[0].saturatedServes++;
        ports[1].lightServes++;
      });
      expect(getPriority(other.pid!)).toBe(0);
      expect(highest).toBe(0);
    } finally {
      other.kill();
    }
  });
});

describe.runIf(possible)('dispatch review: a lowered flood takes down its own drain only (THREATS case 95)', () => {
  it("a port fed 100 messages a millisecond by someone else stays at its priority; the lowered flooder's own destination goes down with it", async () => {
    // Port 0 floods port 1 (its queue pair's flood destination); port 2 makes round trips; port 3 is fed by nobody that floods.
    const threads = [await startThread(), await startThread(), await startThread(), await startThread()];
    const words = threads.map((thread) => {
      const word = new SharedArrayBuffer(4);
      new Int32Array(word)[0] = thread;
      return word;
    });
    const counters = new Counters(4);
    const dispatch = new DispatchPriority(words, counters);
    const ports = [0, 1, 2, 3].map((index) => ({ index, alive: true, saturatedServes: 0, lightServes: 0, queuePairs: [] as unknown[] }));
    const floodQueuePair = { saturatedServes: 0, floodDestination: { port: ports[1] } };
    ports[0].queuePairs.push(floodQueuePair);
    const highest = [0, 0, 0, 0];
    let last = performance.now();
    const end = last + 300;
    while (performance.now() < end) {
      const t = performance.now();
      ports[0].saturatedServes++;
      floodQueuePair.saturatedServes++;
      ports[2].lightServes++;
      // Both drains get 100 messages a millisecond delivered.
      counters.delivered(1, Math.ceil((t - last) * 100), 0);
      counters.delivered(3, Math.ceil((t - last) * 100), 0);
      last = t;
      dispatch.review(ports as unknown as PartitionPort[]);
      threads.forEach((thread, i) => (highest[i] = Math.max(highest[i], getPriority(thread))));
      await new Promise((r) => setTimeout(r, 3));
    }
    expect(highest).toEqual([DEMOTED_NICE, DEMOTED_NICE, 0, 0]);
  });
});
