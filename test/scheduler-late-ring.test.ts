/**
 * The hardware's sleep against a late doorbell (in process, one thread, the real Scheduler): a
 * partition publishes, the engine serves that publish while still awake, and only then does the
 * partition look at the sleep flag, find it raised by the sleep that has just begun, and ring.
 * That ring is late: its work is done. If the sleep counted it in the bell it waits past, the
 * next publish (finding the flag lowered) would not ring, and the hardware would sleep through
 * it for good. A stream of single sends hung so once in 12 to 90 one-second runs. And a
 * partition that lowers its own flag without ringing (a hostile one can write its port) must
 * not keep the hardware from sleeping: it only keeps its own publishes from ringing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { verifiedPaths } from '../bench/micro.js';
import { HW_DOORBELL_WORD, HW_SLEEPING_WORD } from '../src/shared/port.js';
import { ringBell } from '../src/shared/wait.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let stop: (() => void) | undefined;
afterEach(() => {
  stop?.();
  stop = undefined;
});

describe('the hardware sleep and a late ring', () => {
  it('serves the publish after a late ring: the sleep waits from the bell as it was before its flag went up', async () => {
    const { tx, rx, hw } = verifiedPaths(64);
    const sender = hw.ports[1];
    // The late ring lands right after the sleep's announce, before the sleep reads its bell: the
    // window a partition's flag check can fall into once its publish was served.
    let late = 1;
    const announce = sender.announceSleep.bind(sender);
    sender.announceSleep = () => {
      announce();
      if (late-- > 0) expect(ringBell(sender.i32, HW_SLEEPING_WORD, HW_DOORBELL_WORD)).toBe(true);
    };
    hw.scheduler.start();
    stop = () => hw.scheduler.stop();
    await sleep(30); // the scheduler went idle and to sleep (the late ring came on the way)
    expect(late).toBeLessThan(1);
    // A publish now: it rings only if the flag is up, that is if the sleep began afresh.
    tx[0].send(new Uint8Array(64).fill(9));
    let got: Uint8Array | undefined;
    for (let waited = 0; got === undefined && waited < 1000; waited += 5) {
      await sleep(5);
      got = rx[0].tryRecv();
    }
    expect(got?.length).toBe(64);
    expect(got?.[63]).toBe(9);
  });

  it('still sleeps when a partition lowers its own flag without ringing', async () => {
    const { hw } = verifiedPaths(64);
    const hostile = hw.ports[1];
    let sleeps = 0;
    const announce = hostile.announceSleep.bind(hostile);
    hostile.announceSleep = () => {
      announce();
      // A scheduler that went round instead of sleeping would never yield this thread to the
      // test's timers: stop it here, so that the test fails instead of hanging.
      if (++sleeps > 1000) hw.scheduler.stop();
      Atomics.store(hostile.i32, HW_SLEEPING_WORD, 0); // what a partition's own code can do to its port
    };
    hw.scheduler.start();
    stop = () => hw.scheduler.stop();
    await sleep(100);
    // One sleep, begun once and never ended: a scheduler that treated the lowered flag as a reason
    // not to sleep would have begun thousands in 100 ms, a core spent on nothing.
    expect(sleeps).toBeGreaterThan(0);
    expect(sleeps).toBeLessThan(5);
  });
});

/**
 * The engine's busy rounds look at idle send rings with a plain load (RingConsumer.readyHint),
 * which the memory model does not order. The look the sleep protocol relies on, after the flags
 * go up, must read with Atomics.load; so must a round now and then in a slice that never ends in
 * a sleep. On x86 a plain load is never stale, so only which round runs can show this.
 */
describe('the scheduler\'s exact looks', () => {
  it('the round right after the sleep flags go up is exact (round(true)), and the busy rounds before it are not', async () => {
    const { hw } = verifiedPaths(64);
    const port = hw.ports[1];
    let announced = false;
    const announce = port.announceSleep.bind(port);
    port.announceSleep = () => {
      announce();
      announced = true;
    };
    const rounds: { exact: boolean; afterAnnounce: boolean }[] = [];
    const round = hw.engine.round.bind(hw.engine);
    hw.engine.round = (exact?: boolean) => {
      rounds.push({ exact: exact === true, afterAnnounce: announced });
      announced = false;
      return round(exact);
    };
    hw.scheduler.start();
    stop = () => hw.scheduler.stop();
    await sleep(30);
    const afterAnnounce = rounds.filter((r) => r.afterAnnounce);
    expect(afterAnnounce.length).toBeGreaterThan(0);
    expect(afterAnnounce.every((r) => r.exact)).toBe(true);
    expect(rounds.filter((r) => !r.afterAnnounce).every((r) => !r.exact)).toBe(true); // a slice of one empty round ('sleep' mode)
  });

  it('in a busy slice every 64th round is exact, the others plain', async () => {
    const { hw } = verifiedPaths(64);
    const exact: boolean[] = [];
    const round = hw.engine.round.bind(hw.engine);
    // 200 rounds that report work keep the first slice busy; then the engine idles and sleeps.
    hw.engine.round = (e?: boolean) => {
      exact.push(e === true);
      const work = round(e);
      return exact.length <= 200 ? 1 : work;
    };
    hw.scheduler.start();
    stop = () => hw.scheduler.stop();
    await sleep(30);
    expect(exact.length).toBeGreaterThan(200);
    const busy = exact.slice(0, 200);
    expect(busy.flatMap((e, i) => (e ? [i + 1] : []))).toEqual([64, 128, 192]);
  });
});
