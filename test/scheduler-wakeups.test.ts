/**
 * The hardware's sleep protocol end to end, in real threads: a client makes round trips with idle
 * gaps either side of the hardware's idle threshold, so the hardware goes to sleep and is woken
 * thousands of times, often while a message is being published. One round trip in flight and
 * nothing else: a wake-up the hardware missed leaves its message unserved for good, and the round
 * trip stalls. Since wave 15 the engine's busy rounds look at idle send rings with a plain load;
 * the round after the sleep flags go up must be exact. Without that re-check this case stalled
 * within its first 150 round trips, in three runs of each wait mode out of three.
 */
import { expect, it } from 'vitest';
import { createMachine } from '../src/index.js';

const fixture = (name: string): URL => new URL(`./fixtures/${name}`, import.meta.url);

it.each(['adaptive', 'sleep'] as const)('no round trip stalls while the hardware sleeps and wakes between them (%s)', async (wait) => {
  const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], wait });
  try {
    const server = await machine.partition(1).spawn(fixture('echo-server.mjs'), { port: 7 });
    const client = await machine.partition(2).spawn(fixture('gappy-pinger.mjs'), { partition: 1, port: 7, ms: 2000, stallMs: 2000 });
    const r = (await client.result) as { roundTrips: number; stalls: number; slowestMs: number };
    expect(r.stalls, `stalled after ${r.roundTrips} round trips (slowest before: ${r.slowestMs.toFixed(1)} ms)`).toBe(0);
    // It ran: thousands of round trips, each after a gap in which the hardware may have slept.
    expect(r.roundTrips).toBeGreaterThan(100);
    await server.result;
    // The hardware did sleep and wake in between (else the case would test nothing).
    expect(machine.stats().partitions[1].doorbellWakeups).toBeGreaterThan(100);
  } finally {
    await machine.close();
  }
});
