/**
 * A process waiting to receive, alone in its partition, blocks its thread in Atomics.wait for up
 * to a millisecond before it sleeps on the event loop (adaptive mode: a wake-up from the futex,
 * not through a task and a turn of the loop). A round trip's messages then keep waking it from
 * blocking waits, so the pumps let the event loop turn at least every millisecond: a timer armed
 * during a stream of round trips fires during it, not after it.
 */
import { expect, it } from 'vitest';
import { createMachine } from '../src/index.js';

const fixture = (name: string): URL => new URL(`./fixtures/${name}`, import.meta.url);

it('a receive never blocks the thread before a send it queued a few promise hops away has gone out', async () => {
  // Blocking first held such a send for the whole block: comlink over a channel ran at ~1 ms a call.
  const machine = await createMachine({ partitions: [{ id: 1 }], wait: 'adaptive' });
  try {
    // The pump running on from the message it last handed out, and a pump started afresh for each round.
    for (const [port, pause] of [
      [9, false],
      [10, true],
    ] as const) {
      const h = await machine.partition(1).spawn(fixture('deferred-send.mjs'), { port, rounds: 20, pause });
      const rounds = (await h.result) as string[];
      expect(rounds).toHaveLength(20);
      // Per round: the send first; a blocking wait after it (for the hardware's delivery) is fine.
      for (const [i, events] of rounds.entries()) expect(events.startsWith('send'), `pause ${pause}, round ${i}: ${events}`).toBe(true);
    }
  } finally {
    await machine.close();
  }
});

it('timers run while round trips keep waking the receiving thread from blocking waits', async () => {
  const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], wait: 'adaptive' });
  try {
    const server = await machine.partition(1).spawn(fixture('echo-server.mjs'), { port: 7 });
    const n = 20_000;
    const client = await machine.partition(2).spawn(fixture('timer-during-echo.mjs'), { partition: 1, port: 7, n });
    const r = (await client.result) as { ticks: number; ms: number };
    await server.result;
    // Turning about every millisecond, the loop runs the 1 ms interval about once per millisecond;
    // a loop that turned only when a wait ran past its millisecond ran it a few dozen times a second here.
    expect(r.ticks, `ticks in ${Math.round(r.ms)} ms of round trips`).toBeGreaterThanOrEqual(r.ms / 5);
  } finally {
    await machine.close();
  }
});
