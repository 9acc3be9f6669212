/**
 * THREATS.md case 31: a listener's backlog after a raw CLOSE. Inside partition P, process L
 * (queue pair 0) listens; before it accepts, it closes the waiting channel with a raw CLOSE (its
 * handle is in the partition's connection table), and process M (queue pair 1) opens a channel
 * that takes the freed slot. The backlog must have kept the handle, not the slot: accept and
 * unlisten must never touch M's channel.
 */
import { describe, expect, it } from 'vitest';
import { ConnectionState, RecordType, Status } from 'lparlink/internal';
import { completions, numbered, receiveAll, SMALL, withBench, type Bench } from './harness.js';

const P = 3;
const A = 4;
const L = 0;
const M = 1;

interface TableEntry {
  slot: number;
  handle: number;
  localProcess: number;
  remotePartition: number;
  remoteProcess: number;
  state: number;
}

/** P's connection table as its processes read it. */
async function table(os: any): Promise<TableEntry[]> {
  const entries: TableEntry[] = [];
  for (let slot = 0; slot < SMALL.channelsPerPartition; slot++) {
    const [handle, localProcess, remotePartition, remoteProcess, state] = (await os.connectionEntry(slot)) as number[];
    entries.push({ slot, handle, localProcess, remotePartition, remoteProcess, state });
  }
  return entries;
}

/** The one open entry of P's table whose far end is A's process `remoteProcess`. */
async function entryTo(os: any, remoteProcess: number): Promise<TableEntry> {
  const found = (await table(os)).filter((e) => e.state === ConnectionState.OPEN && e.remotePartition === A && e.remoteProcess === remoteProcess);
  expect(found, `P's open entries to A's process ${remoteProcess}`).toHaveLength(1);
  return found[0];
}

/**
 * The set-up both tests share: L listens on `port`; A (queue pair 0) connects; L raw-CLOSEs the
 * channel waiting in its backlog; M connects out to A's listener on `port + 10` (A's queue pair 2)
 * and lands on the freed slot. Returns the processes and M's channel at both ends.
 */
async function reuseBacklogSlot(b: Bench, port: number) {
  const [p, a] = [b.os(P), b.os(A)];
  const process: Record<string, number> = {};
  for (const [os, qp, name] of [[p, L, 'L'], [p, M, 'M'], [a, 0, 'A0'], [a, 1, 'A1'], [a, 2, 'A2']] as const) {
    const r = await os.open(qp);
    expect(r).toMatchObject({ ok: true });
    process[name] = r.process;
  }
  expect(await p.listen(L, port)).toMatchObject({ ok: true });
  expect(await a.listen(2, port + 10)).toMatchObject({ ok: true });

  const first = await a.connect(0, P, port);
  expect(first).toMatchObject({ ok: true, remotePartition: P, remoteProcess: process.L });
  const waiting = await entryTo(p, process.A0);
  expect(waiting.localProcess).toBe(process.L);
  await p.close(L, waiting.handle);
  expect(await completions(p, L, 1)).toEqual([{ status: Status.OK, channel: waiting.handle, opcode: RecordType.CLOSE, count: 1 }]);
  expect(await receiveAll(a, 0, 1)).toEqual([{ type: RecordType.END, channel: first.handle, status: Status.OK, bytes: [] }]);

  const mine = await p.connect(M, A, port + 10);
  expect(mine).toMatchObject({ ok: true, remotePartition: A, remoteProcess: process.A2 });
  const theirs = await a.accept(2, port + 10);
  expect(theirs).toMatchObject({ ok: true, remotePartition: P, remoteProcess: process.M });
  const reused = await entryTo(p, process.A2);
  expect(reused, 'M\'s channel took the slot L closed').toMatchObject({ slot: waiting.slot, handle: mine.handle, localProcess: process.M });
  expect(mine.handle).not.toBe(waiting.handle);
  return { p, a, process, m: { handle: mine.handle as number, peer: theirs.handle as number, slot: waiting.slot } };
}

/** M's channel is open and carries data both ways; A saw no END on it. */
async function expectWorking(p: any, a: any, m: { handle: number; peer: number; slot: number }, process: Record<string, number>) {
  expect((await p.connectionEntry(m.slot)).slice(0, 5)).toEqual([m.handle, process.M, A, process.A2, ConnectionState.OPEN]);
  await p.send(M, m.handle, numbered(41));
  expect(await receiveAll(a, 2, 1)).toEqual([{ type: RecordType.DATA, channel: m.peer, status: Status.OK, bytes: numbered(41) }]);
  await a.send(2, m.peer, numbered(42));
  expect(await receiveAll(p, M, 1)).toEqual([{ type: RecordType.DATA, channel: m.handle, status: Status.OK, bytes: numbered(42) }]);
  expect(await p.readCompletions(M)).toEqual([]);
  expect(await a.readCompletions(2)).toEqual([]);
}

describe('listener backlog after a raw CLOSE', () => {
  it('31: accept skips a backlog channel closed before it was accepted: it never returns the channel another process opened on the reused slot, but the next real connection', async () => {
    await withBench({ hostile: [P, A] }, async (b) => {
      const mark = b.honest.progress();
      const { p, a, process, m } = await reuseBacklogSlot(b, 50);

      // A connection that really waits in L's backlog, behind the closed one.
      const secondFromA = await a.connect(1, P, 50);
      expect(secondFromA).toMatchObject({ ok: true, remoteProcess: process.L });
      const second = await entryTo(p, process.A1);
      const accepted = await p.accept(L, 50);
      expect(accepted.handle, 'accept handed out M\'s channel').not.toBe(m.handle);
      expect(accepted).toEqual({ ok: true, handle: second.handle, remoteNode: 0, remotePartition: A, remoteProcess: process.A1 });

      // With the backlog empty, accept waits for the next connection and returns exactly that one.
      const pending = p.accept(L, 50);
      const third = await a.connect(0, P, 50);
      expect(third).toMatchObject({ ok: true, remoteProcess: process.L });
      const thirdEnd = (await table(p)).find((e) => e.state === ConnectionState.OPEN && e.remoteProcess === process.A0 && e.localProcess === process.L);
      expect(await pending).toEqual({ ok: true, handle: thirdEnd?.handle, remoteNode: 0, remotePartition: A, remoteProcess: process.A0 });

      // L's accepted channel is L's: A's message on it arrives on L's queue pair.
      await a.send(1, secondFromA.handle, numbered(40));
      expect(await receiveAll(p, L, 1)).toEqual([{ type: RecordType.DATA, channel: second.handle, status: Status.OK, bytes: numbered(40) }]);
      await expectWorking(p, a, m, process);
      expect(b.violations(P)).toEqual({});
      expect(b.violations(A)).toEqual({});
      await b.honest.advances(mark);
      await b.honest.finish();
    });
  });

  it('31: unlisten after a raw CLOSE of a backlog channel refuses only the listener\'s own waiting channels; the channel another process opened on the reused slot stays open and working', async () => {
    await withBench({ hostile: [P, A] }, async (b) => {
      const mark = b.honest.progress();
      const { p, a, process, m } = await reuseBacklogSlot(b, 51);
      // A connection still waiting in the backlog: unlisten must refuse it.
      const waiting = await a.connect(1, P, 51);
      expect(waiting).toMatchObject({ ok: true, remoteProcess: process.L });

      // It names the one connection it refused (THREATS case 44: what the process kept for it goes).
      expect(await p.unlisten(L, 51)).toEqual({ ok: true, refused: [expect.any(Number)] });
      expect(await receiveAll(a, 1, 1)).toEqual([{ type: RecordType.END, channel: waiting.handle, status: Status.ECONNREFUSED, bytes: [] }]);
      expect(await a.readReceive(2), 'what M\'s peer received after unlisten').toEqual([]);
      await expectWorking(p, a, m, process);
      expect(b.violations(P)).toEqual({});
      expect(b.violations(A)).toEqual({});
      await b.honest.advances(mark);
      await b.honest.finish();
    });
  });
});
