/**
 * THREATS case 85: case 55's budget counted a partition's control messages per 10 ms of the clock.
 * A hardware thread that gets little of a core takes fewer than 256 in a window, so the endpoint
 * never paused, and Node hands a port's listener its whole queue before the event loop turns: the
 * engine never ran. Any partition may start threads that only spin, and on a host with few cores
 * they take the hardware's CPU time; with four of them beside a flood of calls, the honest pair
 * moved 8 messages in 1.5 s, against 3,056 with the threads alone. Now a partition's messages take
 * at most 64, or 1 ms, of a turn, and its endpoint then rests four times as long as they took.
 */
import { MessageChannel } from 'node:worker_threads';
import { expect, it } from 'vitest';
import { bindPartitionControl, CONTROL_MESSAGES_PER_TURN, type PartitionControl } from '../../src/hardware/control-endpoint.js';
import { waitFor, withBench } from './harness.js';

const SPIN_FLOOD_OS = new URL('../fixtures/security/spin-flood-os.mjs', import.meta.url);
const A = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('85: on a hardware thread that takes 100 µs a message, a queue of 2,000 calls is taken in batches of at most 64 between turns of the event loop, all answered', async () => {
  // The hardware's side of one control endpoint, in this thread, over a control whose every call
  // spins 100 µs: what a hardware thread given a fifth of a core pays for a cheap call. 256 of
  // them take longer than the window (10 ms), so the window's budget alone never paused.
  const calls: number[] = [];
  let turn = 0;
  let running = true;
  const tick = (): void => {
    turn++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  const slow = {
    resetQueuePair(qp: number) {
      calls.push(turn);
      const until = performance.now() + 0.1;
      while (performance.now() < until);
      return { ok: false, code: 'EINVAL', message: `queue pair ${qp}` };
    },
  };
  const { port1: hardwareEnd, port2: partitionEnd } = new MessageChannel();
  let refusals = 0;
  bindPartitionControl(slow as unknown as PartitionControl, hardwareEnd, () => {}, () => refusals++);
  let answered = 0;
  partitionEnd.on('message', () => answered++);
  const n = 2000;
  for (let i = 0; i < n; i++) partitionEnd.postMessage({ id: `c${i}`, type: 'APPLY', path: ['resetQueuePair'], argumentList: [{ type: 'RAW', value: 99 }] });
  await waitFor('every call to be answered', () => answered === n, 60_000);
  running = false;
  hardwareEnd.close();
  const perTurn = new Map<number, number>();
  for (const t of calls) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
  const most = Math.max(...perTurn.values());
  expect(calls.length).toBe(n);
  // Rests refuse nothing and are not counted; the window's budget was never reached.
  expect(refusals).toBe(0);
  expect(most, `the most calls taken in one turn of the event loop (${perTurn.size} turns)`).toBeLessThanOrEqual(CONTROL_MESSAGES_PER_TURN);
});

it('85: a partition whose own threads spin while it floods its control endpoint does not starve the honest pair, and every call is answered', async () => {
  await withBench({ hostile: [A], extra: { [A]: { os: SPIN_FLOOD_OS } } }, async (b) => {
    const a = b.os(A);
    expect(await a.spin(4)).toBe(4);
    // The yardstick: the pair's rate beside the spinning threads alone (they take CPU from everyone).
    let mark = b.honest.progress();
    await sleep(1500);
    const spinning = b.honest.progress() - mark;
    expect(spinning, 'the honest pair moves beside the spinning threads').toBeGreaterThan(100);
    await a.flood(6000, 'call');
    await waitFor('the flood to be under way', async () => (await a.floodResult()).posted > 20_000);
    mark = b.honest.progress();
    await sleep(1500);
    const during = b.honest.progress() - mark;
    const posted = await a.stopFlood();
    await a.stopSpin();
    expect(during, `honest messages in 1.5 s: ${spinning} beside the spinning threads, ${during} with the flood too (${posted} calls posted)`).toBeGreaterThan(spinning / 10);
    // Rested, not refused: every call of the flood is answered (EINVAL: queue pair 1e6 does not exist).
    await waitFor('every call of the flood to be answered', async () => (await a.floodResult()).answered === posted, 60_000);
    expect(await a.open(99)).toMatchObject({ ok: false, code: 'EINVAL' });
    expect(b.violations(A)).toEqual({});
    for (const id of [1, 2]) expect({ refusals: b.stats(id).controlRefusals, violations: b.violations(id) }).toEqual({ refusals: 0, violations: {} });
    await b.honest.finish();
  });
}, 120_000);
