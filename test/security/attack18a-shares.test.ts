/**
 * THREATS case 113 (attack run 18a), the rule itself, step by step and without timing: a connect
 * refused because a partition's backlog is full holds back every other source holding more than
 * its share (the partition's half of its slots split evenly among the sources holding places and
 * the one refused, at least one), until a source not held back gets in. Partitions of one machine
 * on the hostile OS: V listens and accepts only when told; A, B and C connect.
 */
import { expect, it } from 'vitest';
import { SMALL, withBench } from './harness.js';

const [A, V, B, C] = [3, 4, 5, 6];
const PORT = 20;
const HALF = SMALL.channelsPerPartition / 2;

it('113: two sources holding the backlog between them are held back to their shares once a third is refused; the third then gets in', async () => {
  await withBench({ hostile: [A, V, B, C] }, async (b) => {
    const [a, v, bb, c] = [b.os(A), b.os(V), b.os(B), b.os(C)];
    for (const os of [a, v, bb, c]) expect(await os.open(0)).toMatchObject({ ok: true });
    expect(await v.listen(0, PORT)).toEqual({ ok: true });
    for (let i = 0; i < HALF / 2; i++) {
      expect(await a.connect(0, V, PORT)).toMatchObject({ ok: true });
      expect(await bb.connect(0, V, PORT)).toMatchObject({ ok: true });
    }
    // Full: C is refused, and A and B (4 each of 8, neither more than half) are held back to 8 / 3 = 2.
    expect(await c.connect(0, V, PORT)).toMatchObject({ ok: false, code: 'ECONNREFUSED', message: expect.stringContaining(`already has ${HALF} connections waiting`) });
    expect(await v.accept(0, PORT)).toMatchObject({ ok: true, remotePartition: A });
    // The place freed goes to neither A nor B, each still above its share.
    for (const [os, id] of [[a, A], [bb, B]] as const) {
      expect(await os.connect(0, V, PORT)).toMatchObject({ ok: false, code: 'ECONNREFUSED', message: expect.stringContaining(`connections from partition ${id} waiting to be accepted in their share of its backlog or more (2)`) });
    }
    expect(await c.connect(0, V, PORT)).toMatchObject({ ok: true });
    // C got in: A and B take their places as before.
    expect(await v.accept(0, PORT)).toMatchObject({ ok: true, remotePartition: B });
    expect(await a.connect(0, V, PORT)).toMatchObject({ ok: true });
    expect(await bb.connect(0, V, PORT)).toMatchObject({ ok: false, code: 'ECONNREFUSED', message: expect.stringContaining(`already has ${HALF} connections waiting`) });
    expect(b.violations(V)).toEqual({});
    await b.honest.finish();
  });
});

it('113: a source held back whose places were all accepted may take one more, though the one refused never came back', async () => {
  // 4 slots: 2 places. A and B hold one each, C is refused once and gives up: the even split is 0.
  await withBench({ hostile: [A, V, B, C], channelsPerPartition: 4 }, async (b) => {
    const [a, v, bb, c] = [b.os(A), b.os(V), b.os(B), b.os(C)];
    for (const os of [a, v, bb, c]) expect(await os.open(0)).toMatchObject({ ok: true });
    expect(await v.listen(0, PORT)).toEqual({ ok: true });
    expect(await a.connect(0, V, PORT)).toMatchObject({ ok: true });
    expect(await bb.connect(0, V, PORT)).toMatchObject({ ok: true });
    expect(await c.connect(0, V, PORT)).toMatchObject({ ok: false, code: 'ECONNREFUSED', message: expect.stringContaining('already has 2 connections waiting') });
    expect(await v.accept(0, PORT)).toMatchObject({ ok: true, remotePartition: A });
    expect(await a.connect(0, V, PORT)).toMatchObject({ ok: true });
    expect(await bb.connect(0, V, PORT)).toMatchObject({ ok: false, code: 'ECONNREFUSED', message: expect.stringContaining('already has 2 connections waiting') });
    expect(b.violations(V)).toEqual({});
    await b.honest.finish();
  });
});
