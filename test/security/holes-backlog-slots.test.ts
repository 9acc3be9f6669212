/**
 * THREATS.md case 41: others' connects and a partition's channel slots. Connecting costs the
 * listening partition a channel slot before it accepts (claim 1: its hardware stores the key in
 * its own entry). Attacker A, from inside its partition, connects to victim V's listener (which
 * has not come back to accept yet) and either closes each channel at once, so that it only ever
 * holds one slot of its own, or keeps them all. V's own connect out must still find a slot.
 */
import { expect, it } from 'vitest';
import { ConnectionState, RecordType, Status } from 'lparlink/internal';
import { completions, SMALL, withBench } from './harness.js';

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

async function openAll(os: any[], qps: number[]): Promise<void> {
  for (let i = 0; i < os.length; i++) expect(await os[i].open(qps[i])).toMatchObject({ ok: true });
}

it('41: connects closed at once free their slots in the listening partition; its own connect still works', async () => {
  await withBench({ hostile: [A, V, S] }, async (b) => {
    const [a, v, s] = [b.os(A), b.os(V), b.os(S)];
    await openAll([a, v, v, s], [0, 0, 1, 0]);
    expect(await v.listen(0, 20)).toEqual({ ok: true });
    expect(await s.listen(0, 30)).toEqual({ ok: true });

    // Three times V's slots, one channel at a time: each connect succeeds, and each close frees both ends.
    for (let i = 0; i < 3 * SMALL.channelsPerPartition; i++) {
      const c = await a.connect(0, V, 20);
      expect(c, `connect ${i}`).toMatchObject({ ok: true });
      expect(await a.close(0, c.handle)).toBeGreaterThan(0);
      expect(await completions(a, 0, 1)).toEqual([{ status: Status.OK, channel: c.handle, opcode: RecordType.CLOSE, count: 1 }]);
    }
    const states = await slotStates(v);
    expect({ open: count(states, ConnectionState.OPEN), peerClosed: count(states, ConnectionState.PEER_CLOSED) }).toEqual({ open: 0, peerClosed: 0 });
    expect(await v.connect(1, S, 30)).toMatchObject({ ok: true, remotePartition: S });

    // A channel that arrives now is still accepted (nothing of the closed ones is handed out).
    const late = await a.connect(0, V, 20);
    expect(late).toMatchObject({ ok: true });
    const accepted = await v.accept(0, 20);
    expect(accepted).toMatchObject({ ok: true, remotePartition: A });
    expect(count(await slotStates(v), ConnectionState.OPEN)).toBe(2); // the accepted end and V's own to S
    expect(b.violations(V)).toEqual({});
    await b.honest.finish();
  });
});

it('41: connects kept open take at most half the listening partition’s slots', async () => {
  await withBench({ hostile: [A, V, S] }, async (b) => {
    const [a, v, s] = [b.os(A), b.os(V), b.os(S)];
    await openAll([a, v, v, s], [0, 0, 1, 0]);
    expect(await v.listen(0, 20)).toEqual({ ok: true });
    expect(await s.listen(0, 30)).toEqual({ ok: true });

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
