/**
 * THREATS.md case 39: others' connects and a partition's channel slots. Connecting costs the
 * listening partition a channel slot before it accepts (claim 1: its hardware stores the key in
 * its own entry), and the slot stays taken until a process accepts the channel, even when the
 * connecting end closed meanwhile (what it sent, and its END, are still to be read). Attacker A,
 * from inside its partition, connects to victim V's listener (which has not come back to accept
 * yet) and either closes each channel at once, so that it only ever holds one slot of its own, or
 * keeps them all. Either way it gets at most half of V's slots, and V's own connect out works.
 */
import { expect, it } from 'vitest';
import { ConnectionState, RecordType, Status } from 'lparlink/internal';
import { completions, SMALL, withBench, type Bench } from './harness.js';

const A = 3;
const V = 4;
/** A third partition V wants to reach. */
const S = 5;
const HALF = SMALL.channelsPerPartition / 2;

/** V's slots in each state, as its processes read its connection table. */
async function slotStates(os: any): Promise<number[]> {
  const states: number[] = [];
  for (let slot = 0; slot < SMALL.channelsPerPartition; slot++) states.push(((await os.connectionEntry(slot)) as number[])[4]);
  return states;
}
const count = (states: number[], state: number): number => states.filter((s) => s === state).length;

/** A's queue pair 0, V's 0 (listening on 20) and 1 (to connect out), S's 0 (listening on 30); returns A's and V's OS. */
async function setUp(b: Bench): Promise<[any, any]> {
  const [a, v, s] = [b.os(A), b.os(V), b.os(S)];
  for (const [os, qp] of [[a, 0], [v, 0], [v, 1], [s, 0]] as const) expect(await os.open(qp)).toMatchObject({ ok: true });
  expect(await v.listen(0, 20)).toEqual({ ok: true });
  expect(await s.listen(0, 30)).toEqual({ ok: true });
  return [a, v];
}

it('39: connects closed at once take at most half the listening partition’s slots; its own connect still works', async () => {
  await withBench({ hostile: [A, V, S] }, async (b) => {
    const [a, v] = await setUp(b);

    // One channel at a time: A never holds more than one slot of its own.
    const answers: Array<{ ok: boolean; code?: string }> = [];
    for (let i = 0; i < SMALL.channelsPerPartition + 4; i++) {
      const c = await a.connect(0, V, 20);
      answers.push(c);
      if (!c.ok) continue;
      expect(await a.close(0, c.handle)).toBeGreaterThan(0);
      expect(await completions(a, 0, 1)).toEqual([{ status: Status.OK, channel: c.handle, opcode: RecordType.CLOSE, count: 1 }]);
    }
    expect(answers.map((r) => (r.ok ? 'ok' : r.code))).toEqual([...new Array(HALF).fill('ok'), ...new Array(SMALL.channelsPerPartition + 4 - HALF).fill('ECONNREFUSED')]);
    // The closed channels wait to be accepted as a connection whose peer closed (V reads its END): half of V's slots.
    expect(count(await slotStates(v), ConnectionState.PEER_CLOSED)).toBe(HALF);
    expect(await v.connect(1, S, 30)).toMatchObject({ ok: true, remotePartition: S });
    // Accepting one hands V that channel and makes room for exactly one more connection.
    expect(await v.accept(0, 20)).toMatchObject({ ok: true, remotePartition: A });
    expect(await a.connect(0, V, 20)).toMatchObject({ ok: true });
    expect(await a.connect(0, V, 20)).toMatchObject({ ok: false, code: 'ECONNREFUSED' });
    expect(b.violations(V)).toEqual({});
    await b.honest.finish();
  });
});

it('39: connects kept open take at most half the listening partition’s slots', async () => {
  await withBench({ hostile: [A, V, S] }, async (b) => {
    const [a, v] = await setUp(b);

    const answers: Array<{ ok: boolean; code?: string; message?: string }> = [];
    for (let i = 0; i < SMALL.channelsPerPartition; i++) answers.push(await a.connect(0, V, 20));
    expect(answers.slice(0, HALF).every((r) => r.ok)).toBe(true);
    for (const r of answers.slice(HALF)) {
      expect(r).toMatchObject({ ok: false, code: 'ECONNREFUSED', message: expect.stringContaining(`already has ${HALF} connections waiting to be accepted`) });
    }
    expect(count(await slotStates(v), ConnectionState.OPEN)).toBe(HALF);
    // V keeps the other half: its own connect out works, and so does accepting what waits.
    expect(await v.connect(1, S, 30)).toMatchObject({ ok: true, remotePartition: S });
    expect(await v.accept(0, 20)).toMatchObject({ ok: true, remotePartition: A });
    // Accepting made room for one more waiting connection.
    expect(await a.connect(0, V, 20)).toMatchObject({ ok: true });
    expect(await a.connect(0, V, 20)).toMatchObject({ ok: false, code: 'ECONNREFUSED' });
    await b.honest.finish();
  });
});
