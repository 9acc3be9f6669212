/**
 * THREATS case 29 on a loaded machine: a storm's thread that loses its core while its trickle of
 * real messages goes on shows the hardware only clean sleeps for a while (one ring, one message
 * moved), and each wound the storm's streak back by one: every few messages bought it a 2 ms pause
 * instead of 64 ms, 106 to 263 wake-ups by its doorbell a second in test/security/bounds.test.ts
 * (5 of 15 runs beside a CPU burner, 3 of 5 beside another test file). A paused port is now wound
 * back at most once per MAX_DOORBELL_PAUSE_MS (64 ms), and only after that long with no suspicious
 * sleep. The Scheduler's judge()
 * is driven here with a stand-in port and its own clock values: no threads, no timing.
 */
import { expect, it } from 'vitest';
import { Scheduler } from '../src/hardware/scheduler.js';
import type { Engine } from '../src/hardware/engine.js';
import type { PartitionPort } from '../src/hardware/partition-port.js';

interface StandIn {
  bell: number;
  moved: number;
}

function judged() {
  const state: StandIn = { bell: 0, moved: 0 };
  const port = {
    index: 0,
    alive: true,
    doorbell: () => state.bell,
    queuePairs: [{ send: { get consumedPosition() { return state.moved; } }, receive: { position: 0 } }],
  } as unknown as PartitionPort;
  const engine = { counters: { idleWakeup() {}, doorbellWakeup() {} } } as unknown as Engine;
  const scheduler = new Scheduler(engine, () => [port], { engineIdleMs: 1 } as never);
  const s = scheduler as unknown as {
    watchOf(p: PartitionPort): { streak: number; wokeUs: boolean; sleepPositions: number; positions: number };
    judge(p: PartitionPort, w: unknown, at: number): void;
  };
  const w = s.watchOf(port);
  return {
    streak: () => w.streak,
    /** A stretch in which the storm ran: thousands of rings, nothing moved. */
    storm(at: number) {
      state.bell += 5000;
      w.wokeUs = true;
      w.sleepPositions = w.positions;
      s.judge(port, w, at);
    },
    /** A stretch with the storm's thread off its core: the trickle's one ring and its message. */
    trickle(at: number) {
      state.bell += 1;
      state.moved += 64;
      w.wokeUs = true;
      w.sleepPositions = w.positions;
      s.judge(port, w, at);
    },
  };
}

it('a paused storm whose thread is off its core now and then stays paused while its trickle moves', () => {
  const j = judged();
  let at = 0;
  for (let i = 0; i < 70; i++) j.storm((at += 0.1));
  const top = j.streak();
  expect(top).toBeGreaterThanOrEqual(64 + 6); // the longest pause (64 ms)
  // 100 rounds of 20 ms: six trickle messages 3 ms apart with the storm off its core, then it runs again.
  let lowest = top;
  for (let round = 0; round < 100; round++) {
    for (let m = 0; m < 6; m++) {
      j.trickle((at += 3));
      lowest = Math.min(lowest, j.streak());
    }
    j.storm((at += 2));
  }
  // Wound back by each message, it fell below the pause within two rounds and was listened to at once.
  expect(lowest).toBe(top);
});

it('a storm away for longer than a pause steps back once per 64 ms of clean sleeps, and stays paused', () => {
  const j = judged();
  let at = 0;
  for (let i = 0; i < 70; i++) j.storm((at += 0.1));
  const top = j.streak();
  // 200 ms of the trickle alone (a message every 3 ms) with the storm's thread off its core: three
  // steps back (at 64, 128 and 192 ms), not one per message, which took it below the pause by 70 ms
  // and had it climb back through 64 wake-ups when its thread ran again.
  for (let m = 0; m < 66; m++) j.trickle((at += 3));
  expect(j.streak()).toBe(top - 3);
  j.storm((at += 1));
  expect(j.streak()).toBe(top - 2);
});

it('a port that stopped storming steps back once per 64 ms while paused, then clean sleeps bring it back at once', () => {
  const j = judged();
  let at = 0;
  for (let i = 0; i < 70; i++) j.storm((at += 0.1));
  const top = j.streak();
  // Clean sleeps within 64 ms of the last suspicious one leave it paused.
  for (let m = 0; m < 20; m++) j.trickle((at += 3));
  expect(j.streak()).toBe(top);
  // A clean sleep every 3 ms for (top - 63) × 64 ms brings it below the pause; from there each one
  // winds it back, to zero.
  const paused = top - 63;
  for (let t = 0; t < paused * 64; t += 3) j.trickle((at += 3));
  expect(j.streak()).toBeLessThan(64);
  for (let m = 0; m < 64; m++) j.trickle((at += 3));
  expect(j.streak()).toBe(0);
});

it('below the pause, clean sleeps wind the streak back at once (an honest port misjudged now and then never climbs)', () => {
  const j = judged();
  let at = 0;
  for (let round = 0; round < 1000; round++) {
    j.storm((at += 1)); // a late ring judged as an idle wake-up
    j.trickle((at += 1));
    j.trickle((at += 1));
  }
  expect(j.streak()).toBe(0);
});
