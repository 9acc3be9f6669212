/**
 * Attack run 21b: a CLOSE of an end whose peer had closed first was acknowledged to whoever sent on
 * the channel that reused the peer's slot. Engine.close() deferred the acknowledgement behind the
 * messages kept for `peer[e]` (THREATS case 51: an end's CLOSE is acknowledged after what was kept
 * of it), but once the peer closed, `peer[e]` names a freed slot, and here another partition's
 * channel: partition X's messages kept for it. The closer never heard its CLOSE answered, and X's
 * process got a CLOSE acknowledgement on its own live handle, which it never closed: a completion
 * in X's ring caused by another partition's work request on another channel.
 */
import { expect, it } from 'vitest';
import { RecordType, Status } from 'lparlink/internal';
import { numbered, rawChannel, receiveAll, waitFor, withBench } from './harness.js';

const [A, V, X] = [3, 4, 5];
const PORT = 40;
const SIDE_PORT = 41;
/** 200-byte messages take 216-byte records: 18 fill a 4 KiB receive ring. */
const SIZE = 200;
const SLOT_MASK = 15; // 16 channel slots (harness SMALL)

/** Every completion of (os, qp) that arrives within `ms`. */
async function completionsWithin(os: any, qp: number, ms: number): Promise<Array<{ status: number; channel: number; opcode: number; count: number }>> {
  const got: Array<{ status: number; channel: number; opcode: number; count: number }> = [];
  const until = Date.now() + ms;
  while (Date.now() < until) {
    for (const c of await os.readCompletions(qp)) got.push({ status: c.status, channel: c.channel, opcode: c.opcode, count: c.count });
    await new Promise((r) => setTimeout(r, 10));
  }
  return got;
}

it('121: a CLOSE of an end whose peer closed first is acknowledged to its own process, never to the sender of the channel that reused the peer\'s slot', async () => {
  await withBench({ hostile: [A, V, X] }, async (b) => {
    const [a, v, x] = [b.os(A), b.os(V), b.os(X)];
    // A's channel to V; V closes its end: A's end reads peer-closed, V's slot is free.
    const old = await rawChannel(b, A, 0, V, 0, PORT);
    // X's first channel, to V's other queue pair (so X's channel below is not handle 0).
    const side = await rawChannel(b, X, 0, V, 1, SIDE_PORT);
    expect(await v.close(0, old.receive)).toEqual(expect.any(Number));
    await v.doorbell();
    await waitFor('V\'s CLOSE acknowledged', async () => (await v.readCompletions(0)).some((c: any) => c.opcode === RecordType.CLOSE && c.status === Status.OK));
    await receiveAll(a, 0, 1); // A's END

    // X connects to V: its channel takes the slot V's closed end left.
    const mine = await rawChannel(b, X, 0, V, 0, PORT);
    expect(mine.receive & SLOT_MASK).toBe(old.receive & SLOT_MASK);
    expect(mine.send).not.toBe(0);
    // X fills V's unread ring, then two more messages with a SEND of its other channel behind them:
    // those two are kept aside for V's end (case 51).
    for (let i = 0; i < 18; i++) expect(await x.send(0, mine.send, numbered(i, SIZE))).toEqual(expect.any(Number));
    await x.doorbell();
    await waitFor('V\'s ring full', () => b.stats(V).delivered >= 18);
    for (let i = 18; i < 20; i++) await x.writeRecord(0, { words: [mine.send, 0], bytes: Uint8Array.from(numbered(i, SIZE)), publish: false });
    await x.writeRecord(0, { words: [side.send, 0], bytes: Uint8Array.from(numbered(99, 16)) });
    await x.doorbell();
    await waitFor('two messages kept for V', () => b.stats(V).kept === 2);

    // A closes its peer-closed end.
    expect(await a.close(0, old.send)).toEqual(expect.any(Number));
    await a.doorbell();
    const closer = await completionsWithin(a, 0, 1000);

    // V reads: the kept messages go into its ring.
    const got = await receiveAll(v, 0, 20);
    await v.doorbell();
    await waitFor('nothing kept', () => b.stats(V).kept === 0);
    expect(got.map((r) => r.channel)).toEqual(new Array(20).fill(mine.receive));
    const sender = await completionsWithin(x, 0, 500);

    const outcome = { closer, sender };
    console.log('121 outcome', JSON.stringify(outcome));
    expect(outcome).toEqual({
      // A's CLOSE answered at once, on A's handle.
      closer: [{ status: Status.OK, channel: old.send, opcode: RecordType.CLOSE, count: 1 }],
      // X closed nothing and hears nothing.
      sender: [],
    });
    // X's channel is still open: its next message arrives.
    await x.send(0, mine.send, numbered(20, 16));
    await x.doorbell();
    expect((await receiveAll(v, 0, 1)).map((r) => r.bytes)).toEqual([numbered(20, 16)]);
    expect(b.violations(A)).toEqual({});
    expect(b.violations(X)).toEqual({});
    await b.honest.finish();
  });
}, 60_000);

it('121: the same when the peer\'s end went with its partition\'s run (restarted): the closer hears its CLOSE answered, the new channel\'s sender nothing', async () => {
  await withBench({ hostile: [A, V, X] }, async (b) => {
    const [a, x] = [b.os(A), b.os(X)];
    const old = await rawChannel(b, A, 0, V, 0, PORT);
    // V's run ends: A's end reads peer-dead, V's slots are free.
    await b.machine.partition(V).restart();
    await receiveAll(a, 0, 1); // A's END (EPEERDEAD)
    const v = b.os(V);
    const side = await rawChannel(b, X, 0, V, 1, SIDE_PORT);
    const mine = await rawChannel(b, X, 0, V, 0, PORT);
    // V's first slot again, under a later generation: the slot A's end still names as its peer.
    expect(side.receive & SLOT_MASK).toBe(old.receive & SLOT_MASK);
    expect(mine.send).not.toBe(0);
    // X fills V's unread ring on `side`, then two more with a SEND of `mine` behind them: kept aside.
    for (let i = 0; i < 18; i++) expect(await x.send(0, side.send, numbered(i, SIZE))).toEqual(expect.any(Number));
    await x.doorbell();
    await waitFor('V\'s ring full', () => b.stats(V).delivered >= 18);
    for (let i = 18; i < 20; i++) await x.writeRecord(0, { words: [side.send, 0], bytes: Uint8Array.from(numbered(i, SIZE)), publish: false });
    await x.writeRecord(0, { words: [mine.send, 0], bytes: Uint8Array.from(numbered(99, 16)) });
    await x.doorbell();
    await waitFor('two messages kept for V', () => b.stats(V).kept === 2);
    expect(await a.close(0, old.send)).toEqual(expect.any(Number));
    await a.doorbell();
    const closer = await completionsWithin(a, 0, 1000);
    const got = await receiveAll(v, 1, 20);
    await v.doorbell();
    await waitFor('nothing kept', () => b.stats(V).kept === 0);
    expect(got.map((r) => r.channel)).toEqual(new Array(20).fill(side.receive));
    const sender = await completionsWithin(x, 0, 500);
    const outcome = { closer, sender };
    console.log('121 (restart) outcome', JSON.stringify(outcome));
    expect(outcome).toEqual({ closer: [{ status: Status.OK, channel: old.send, opcode: RecordType.CLOSE, count: 1 }], sender: [] });
    expect(b.violations(A)).toEqual({});
    expect(b.violations(X)).toEqual({});
    await b.honest.finish();
  });
}, 60_000);

