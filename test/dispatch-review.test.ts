/**
 * DispatchPriority.review() on its own: ports whose serve counts the test moves, one review per
 * 3 ms, and a real thread (a worker of this process) in the thread word, whose nice value the
 * kernel reports. What counts as a port waiting on a flooder is another port's round trips over
 * time, not one message (a stream's END, a reply) and not the flooder's own earlier round trips.
 */
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { getPriority, setPriority } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Counters } from '../src/hardware/counters.js';
import { DEMOTED_NICE, DispatchPriority } from '../src/hardware/dispatch-priority.js';
import type { PartitionPort } from '../src/hardware/partition-port.js';

const possible = DispatchPriority.available();

interface FakePort {
  index: number;
  alive: boolean;
  saturatedServes: number;
  lightServes: number;
}

let worker: Worker;
let thread = 0;

beforeAll(async () => {
  // A thread that reports its kernel id and then idles: the review lowers and sets back this one.
  const code = `
    const { parentPort } = require('node:worker_threads');
    const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/')[2]);
    parentPort.postMessage(tid);
    setInterval(() => {}, 1000);`;
  worker = new Worker(code, { eval: true });
  thread = await new Promise<number>((resolve) => worker.once('message', resolve));
});

afterAll(() => worker.terminate());
// Each case starts from the thread at nice 0, whatever the one before left.
afterEach(() => (possible ? setPriority(thread, 0) : undefined));

/** A review set-up: port 0's thread is the worker; port 1 has no thread. */
function setUp() {
  const words = [new SharedArrayBuffer(4), new SharedArrayBuffer(4)];
  new Int32Array(words[0])[0] = thread;
  const counters = new Counters(2);
  const dispatch = new DispatchPriority(words, counters);
  const ports: FakePort[] = [0, 1].map((index) => ({ index, alive: true, saturatedServes: 0, lightServes: 0 }));
  return { dispatch, ports, words };
}

/** `ms` of reviews, one per 3 ms; before each, `step` moves the ports' counts. Returns the worker's highest nice value after a review. */
async function reviewFor(dispatch: DispatchPriority, ports: FakePort[], ms: number, step: (i: number) => void): Promise<number> {
  const end = performance.now() + ms;
  let highest = getPriority(thread);
  for (let i = 0; performance.now() < end; i++) {
    step(i);
    dispatch.review(ports as unknown as PartitionPort[]);
    highest = Math.max(highest, getPriority(thread));
    await new Promise((r) => setTimeout(r, 3));
  }
  return highest;
}

describe.runIf(possible)('dispatch review', () => {
  it("a port that saturates beside another port's round trips is lowered, and set back once the round trips stop", async () => {
    const { dispatch, ports } = setUp();
    await reviewFor(dispatch, ports, 80, () => {
      ports[0].saturatedServes++;
      ports[1].lightServes++;
    });
    expect(getPriority(thread)).toBe(DEMOTED_NICE);
    // The flood goes on; nobody waits on it any more.
    await reviewFor(dispatch, ports, 200, () => ports[0].saturatedServes++);
    expect(getPriority(thread)).toBe(0);
  });

  it('a port that stops saturating is set back while the round trips go on', async () => {
    const { dispatch, ports } = setUp();
    await reviewFor(dispatch, ports, 80, () => {
      ports[0].saturatedServes++;
      ports[1].lightServes++;
    });
    expect(getPriority(thread)).toBe(DEMOTED_NICE);
    await reviewFor(dispatch, ports, 200, () => ports[1].lightServes++);
    expect(getPriority(thread)).toBe(0);
  });

  it('one light message beside the flood (a closing END) lowers nothing', async () => {
    const { dispatch, ports } = setUp();
    const highest = await reviewFor(dispatch, ports, 120, (i) => {
      ports[0].saturatedServes++;
      if (i === 5) ports[1].lightServes++;
    });
    expect(highest).toBe(0);
  });

  it("a port's own round trips before it floods lower nothing", async () => {
    const { dispatch, ports } = setUp();
    await reviewFor(dispatch, ports, 80, () => ports[0].lightServes++);
    expect(await reviewFor(dispatch, ports, 80, () => ports[0].saturatedServes++)).toBe(0);
  });

  it('a thread word that names no thread of this process (cleared, or another process) is left alone', async () => {
    const { dispatch, ports, words } = setUp();
    const other = spawn('sleep', ['5']);
    try {
      new Int32Array(words[0])[0] = other.pid!;
      const highest = await reviewFor(dispatch, ports, 80, () => {
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
