/** THREATS.md cases 16–22 (denial of service and fairness), provoked from inside hostile partitions. */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { handleSlot, RecordType, Status } from 'lparlink/internal';
import { completions, numbered, rawChannel, receiveAll, SMALL, waitFor, withBench } from './harness.js';

const A = 3; // the attacker
const P = 4; // a raw peer
const V = 5; // a bystander with channels of its own

describe('denial of service and fairness', () => {
  it('case 16: a partition that floods its send ring and rings the doorbell in a loop does not starve the honest pair', async () => {
    await withBench({ hostile: [A] }, async (b) => {
      const a = b.os(A);
      const loop = await rawChannel(b, A, 0, A, 1, 9); // the flood goes to the attacker itself
      expect(handleSlot(loop.send, SMALL.channelsPerPartition)).not.toBe(handleSlot(loop.receive, SMALL.channelsPerPartition)); // two ends, two entries
      await a.startHelper('flood', { sendQp: 0, recvQp: 1, handle: loop.send, size: 64 });
      await waitFor('the flood to be under way', () => b.stats(A).delivered > 1000);
      const mark = b.honest.progress();
      // Served round-robin with a budget per round: the honest pair keeps moving while the flood runs.
      await b.honest.advances(mark, 64);
      const flood = await a.stopHelper();
      // Every message the flood got in arrived exactly once, in order: what the flooder read, then the rest.
      await a.forget(0);
      await a.forget(1);
      await waitFor('the hardware to take the rest of the flood', async () => {
        const s = await a.sendPositions(0);
        return s.consumer === s.producer;
      });
      const rest = await receiveAll(a, 1, flood.sent - flood.received);
      expect(flood.outOfOrder).toBe(0);
      expect(rest.map((r) => new DataView(Uint8Array.from(r.bytes).buffer).getUint32(0, true))).toEqual(
        Array.from({ length: flood.sent - flood.received }, (_, i) => flood.received + i),
      );
      expect(b.stats(A)).toMatchObject({ sent: flood.sent, delivered: flood.sent });
      expect(b.violations(A)).toEqual({});
      expect(b.stats(A).sendErrors).toBe(0);
      await b.honest.finish();
    });
  });

  it('case 17: a doorbell storm with no work behind it is throttled for that partition only: the hardware stops waking for it', async () => {
    await withBench({ hostile: [A, P], wait: 'adaptive' }, async (b) => {
      const [a, p] = [b.os(A), b.os(P)];
      const own = await rawChannel(b, A, 0, P, 0, 9);
      const hardware = (b.machine as unknown as { hardware: import('node:worker_threads').Worker }).hardware;
      const started = Date.now();
      const utilization = hardware.performance.eventLoopUtilization();
      await a.startHelper('storm', {});
      const mark = b.honest.progress();
      await waitFor('the hardware to throttle the storm', () => b.stats(A).idleWakeups >= 64);
      await b.honest.advances(mark, 64);
      await waitFor('half a second of storm', () => Date.now() - started >= 500);
      const idle = b.stats(A).idleWakeups;
      const elapsed = Date.now() - started;
      const busy = hardware.performance.eventLoopUtilization(utilization).utilization;
      // 64 wake-ups, then pauses doubling to 64 ms: about 70 + elapsed / 64. Unthrottled, every ring that finds the
      // hardware asleep wakes it: thousands a second.
      expect(idle, `${idle} idle wake-ups in ${elapsed} ms (hardware busy ${(busy * 100).toFixed(0)}%)`).toBeLessThanOrEqual(100 + elapsed / 16);
      // The stormer's own work is still served (in the rounds the engine runs for others, or after its pause).
      await a.send(0, own.send, numbered(1));
      expect((await receiveAll(p, 0, 1)).map((r) => r.bytes)).toEqual([numbered(1)]);
      const storm = await a.stopHelper();
      expect(storm.rings).toBeGreaterThan(100 * idle);
      for (const id of [1, 2, P]) expect(b.stats(id).idleWakeups, `idle wake-ups of partition ${id}`).toBeLessThan(64);
      expect(b.violations(A)).toEqual({});
      await b.honest.finish();
    });
  });

  it('case 18: a receiver that never drains back-pressures its sender\'s queue pair only; nothing is dropped or buffered in the hardware; other traffic flows', async () => {
    await withBench({ hostile: [A, P, V] }, async (b) => {
      const [a, p, v] = [b.os(A), b.os(P), b.os(V)];
      const stuck = await rawChannel(b, P, 0, A, 0, 9); // A never reads its receive ring
      const free = await rawChannel(b, P, 1, V, 0, 9);
      const mark = b.honest.progress();
      // 32-byte records: 128 fill A's 4096-byte receive ring, 72 more wait in P's send ring.
      expect(await p.sendMany(0, stuck.send, 200, 16)).toBe(200);
      await waitFor('the receive ring to fill', () => b.stats(A).delivered === 128);
      await waitFor('the hardware to stop at the first record that does not fit', async () => (await p.sendPositions(0)).consumer === 128 * 32);
      // While it is stuck: the honest pair and the sender's other queue pair keep going.
      expect(await p.sendMany(1, free.send, 10, 16)).toBe(10);
      expect((await receiveAll(v, 0, 10)).map((r) => r.bytes)).toEqual(Array.from({ length: 10 }, (_, i) => numbered(i)));
      await b.honest.advances(mark, 64);
      // Still exactly where it was: the rest waits in the sender's own ring, nothing dropped or copied elsewhere.
      expect(b.stats(A).delivered).toBe(128);
      expect(await p.sendPositions(0)).toEqual({ producer: 200 * 32, consumer: 128 * 32 });
      expect(b.stats(P)).toMatchObject({ sent: 138, sendErrors: 0, completionsDropped: 0 });
      // Draining releases the rest, exactly once and in order.
      const got = await receiveAll(a, 0, 200);
      expect(got.map((r) => r.bytes)).toEqual(Array.from({ length: 200 }, (_, i) => numbered(i)));
      expect(b.stats(A).delivered).toBe(200);
      for (const id of [A, P, V]) expect(b.violations(id)).toEqual({});
      await b.honest.finish();
    });
  });

  it('case 19: a partition that hangs in while (true) {} never stalls the hardware; the operator can still terminate it and close the machine', async () => {
    await withBench({ hostile: [A, P] }, async (b) => {
      const [a, p] = [b.os(A), b.os(P)];
      const ch = await rawChannel(b, P, 0, A, 0, 9);
      expect(await a.listen(0, 10)).toEqual({ ok: true });
      let pending = 0;
      await a.hang();
      const mark = b.honest.progress();
      // The hardware answers everyone else, and delivers to the hung partition without waiting on it.
      await b.honest.advances(mark, 64);
      const unaccepted = await p.connect(0, A, 10); // its listener cannot accept: the hardware answers anyway
      expect(unaccepted).toMatchObject({ ok: true });
      pending = unaccepted.handle;
      await p.send(0, ch.send, numbered(1));
      await waitFor('the delivery to the hung partition', () => b.stats(A).delivered === 1);
      const exited = once(b.machine, 'partitionExit');
      await b.machine.partition(A).terminate();
      expect(((await exited) as [{ id: number }])[0].id).toBe(A);
      // The open channel ends with EPEERDEAD; the one still waiting in the backlog is refused.
      const ends = await receiveAll(p, 0, 2);
      expect(ends.sort((x, y) => x.channel - y.channel)).toEqual(
        [
          { type: RecordType.END, channel: ch.send, status: Status.EPEERDEAD, bytes: [] },
          { type: RecordType.END, channel: pending, status: Status.ECONNREFUSED, bytes: [] },
        ].sort((x, y) => x.channel - y.channel),
      );
      await b.honest.finish();
    });
  });

  it('case 20: a partition that exhausts its memory dies alone, under its resourceLimits; the machine keeps serving', async () => {
    await withBench({ hostile: [A, P], extra: { [A]: { resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8 } } } }, async (b) => {
      const [a, p] = [b.os(A), b.os(P)];
      expect((await a.info()).resourceLimits).toMatchObject({ maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8 });
      // A partition that sets no limits still has a bounded heap.
      expect((await p.info()).resourceLimits).toMatchObject({ maxOldGenerationSizeMb: 512 });
      const ch = await rawChannel(b, A, 0, P, 0, 9);
      const exited = once(b.machine, 'partitionExit');
      await a.bomb();
      const [info] = (await exited) as [{ id: number; error?: Error & { code?: string } }];
      expect(info.id).toBe(A);
      expect(info.error?.code).toBe('ERR_WORKER_OUT_OF_MEMORY');
      expect(b.machine.partitions.filter((x) => !x.running).map((x) => x.id)).toEqual([A]);
      expect(b.machine.failure).toBeUndefined();
      expect(await receiveAll(p, 0, 1)).toEqual([{ type: RecordType.END, channel: ch.receive, status: Status.EPEERDEAD, bytes: [] }]);
      const mark = b.honest.progress();
      await b.honest.advances(mark, 64);
      await b.machine.partition(A).restart();
      expect(await b.os(A).open(0)).toMatchObject({ ok: true });
      for (const id of [A, P]) expect(b.violations(id)).toEqual({});
      await b.honest.finish();
    });
  });

  it('case 21: a partition that exits or throws between writing a work request and publishing it: the half record is never consumed', async () => {
    await withBench({ hostile: [A, P] }, async (b) => {
      const p = b.os(P);
      const mark = b.honest.progress();
      for (const [i, die] of (['exit', 'throwSoon'] as const).entries()) {
        const a = b.os(A);
        const half = await rawChannel(b, A, 0, P, 0, 20 + i);
        const sync = await rawChannel(b, A, 1, P, 1, 30 + i);
        await a.writeRecord(0, { words: [half.send, 0], bytes: numbered(666), publish: false });
        await a.doorbell();
        // A later, published request on another queue pair is served: the hardware has passed over the half one.
        await a.send(1, sync.send, numbered(i));
        expect((await receiveAll(p, 1, 1)).map((r) => r.bytes)).toEqual([numbered(i)]);
        expect(await a.sendPositions(0)).toEqual({ producer: 32, consumer: 0 });
        const exited = once(b.machine, 'partitionExit');
        await a[die]();
        await exited;
        // The peer learns that the partition died, and never sees the half-written message.
        expect(await receiveAll(p, 0, 1)).toEqual([{ type: RecordType.END, channel: half.receive, status: Status.EPEERDEAD, bytes: [] }]);
        expect(await receiveAll(p, 1, 1)).toEqual([{ type: RecordType.END, channel: sync.receive, status: Status.EPEERDEAD, bytes: [] }]);
        await b.machine.partition(A).restart();
      }
      expect(b.stats(P).delivered).toBe(2);
      expect(b.violations(A)).toEqual({});
      await b.honest.advances(mark);
      await b.honest.finish();
    });
  });

  it('case 22: random bytes over the whole port, from a second thread, for many rounds: the hardware never throws and delivers nothing to anyone else', async () => {
    await withBench({ hostile: [A, P, V] }, async (b) => {
      const [a, p, v] = [b.os(A), b.os(P), b.os(V)];
      const own = await rawChannel(b, A, 0, P, 0, 9); // garbage on its own channel would be its own business
      const bystander = await rawChannel(b, V, 0, P, 1, 10);
      for (let qp = 1; qp < 4; qp++) expect(await a.open(qp)).toMatchObject({ ok: true });
      const hardwareExit = once(b.machine, 'hardwareExit');
      hardwareExit.catch(() => {});
      const mark = b.honest.progress();
      await a.startHelper('scribble', { seed: 0x1234567 });
      let resets = 0;
      for (let round = 0; round < 40; round++) {
        // Bring faulted queue pairs back so the hardware keeps parsing fresh garbage.
        resets += await a.resetAll();
        await p.send(1, bystander.receive, numbered(round));
      }
      await b.honest.advances(mark, 32);
      const scribbled = await a.stopHelper();
      expect(scribbled.writes).toBeGreaterThan(0);
      expect(resets).toBeGreaterThan(0);
      expect(b.machine.failure).toBeUndefined();
      expect(b.stats(A).violations.total).toBeGreaterThan(0);
      for (const id of [1, 2, P, V]) expect(b.violations(id), `violations of partition ${id}`).toEqual({});
      // The bystander got exactly what P sent it; P got nothing except, possibly, on the attacker's own channel.
      expect((await receiveAll(v, 0, 40)).map((r) => [r.channel, r.bytes])).toEqual(Array.from({ length: 40 }, (_, i) => [bystander.send, numbered(i)]));
      for (const r of [...(await p.readReceive(0)), ...(await p.readReceive(1))]) expect(r.channel).toBe(own.receive);
      expect(b.stats(V).delivered).toBe(40);
      await b.honest.finish();
    });
  });
});
