/** THREATS.md cases 1–10 (send ring and descriptors), each provoked from inside a hostile partition. */
import { describe, expect, it } from 'vitest';
import { handleGeneration, handleSlot, RecordType, Status } from 'lparlink/internal';
import { Counters } from '../../src/hardware/counters.js';
import { VIOLATION_COUNTER_MAX } from '../../src/shared/layout.js';
import { completionCounts, type Completion, completions, numbered, rawChannel, RECORD_SERVER, receiveAll, SMALL, waitFor, withBench } from './harness.js';

const SLOTS = SMALL.channelsPerPartition;
/** The handle of `slot` at `generation` in the test machines' layout (16 slots: the slot in the low 4 bits). */
const handleOf = (slot: number, generation: number) => ((generation << 4) | slot) >>> 0;

const A = 3; // the attacker
const P = 4; // the attacker's legitimate peer (a raw observer)
const V = 5; // a victim: it holds a channel, but not with the attacker's sending process

describe('send ring and descriptors', () => {
  it('case 1: descriptor words flipped by a second thread while the hardware reads them: each record is delivered as fetched once or rejected, never on another channel', async () => {
    await withBench({ hostile: [A, P, V] }, async (b) => {
      const [a, p, v] = [b.os(A), b.os(P), b.os(V)];
      const own = await rawChannel(b, A, 0, P, 0, 9);
      const other = await rawChannel(b, A, 1, V, 0, 9); // owned by the attacker's queue pair 1, not 0
      const w = await a.words(0);
      const mark = b.honest.progress();
      // 32-byte slots: length (25 or 32, same span), type, handle (own or queue pair 1's), flags.
      await a.startHelper('flip', {
        data: w.send.data,
        capacity: w.send.capacity,
        slotBytes: 32,
        choices: [[25, 32], [RecordType.SEND, 99], [own.send, other.send], [0, 1]],
      });
      const N = 2000;
      expect(await a.sendMany(0, own.send, N, 16)).toBe(N);
      await waitFor('the hardware to consume every record', async () => {
        const s = await a.sendPositions(0);
        return s.consumer === s.producer;
      });
      const flips = await a.stopHelper();
      // What P's ring could not take was kept aside (THREATS case 51): it arrives as P reads, and
      // counts as sent once it does. Every record is delivered or refused (a counted violation).
      const got: Awaited<ReturnType<typeof receiveAll>> = [];
      await waitFor('every record delivered or refused', async () => {
        got.push(...(await p.readReceive(0)));
        return got.length + b.stats(A).violations.total === N;
      });
      const sent = b.stats(A).sent;
      expect(got.length).toBe(sent);
      let last = -1;
      for (const r of got) {
        expect(r.type).toBe(RecordType.DATA);
        expect(r.channel).toBe(own.receive);
        // Exactly the bytes of one fetched length: 9 (length 25) or 16 (length 32), intact.
        expect([9, 16]).toContain(r.bytes.length);
        const seq = r.bytes[0] | (r.bytes[1] << 8) | (r.bytes[2] << 16) | (r.bytes[3] << 24);
        const check = (r.bytes[4] | (r.bytes[5] << 8) | (r.bytes[6] << 16) | (r.bytes[7] << 24)) >>> 0;
        expect(check).toBe((seq ^ 0x5a5a5a5a) >>> 0);
        expect(r.bytes.slice(8).every((x) => x === 0)).toBe(true);
        expect(seq).toBeGreaterThan(last);
        last = seq;
      }
      expect(await v.readReceive(0)).toEqual([]);
      expect(b.stats(V).delivered).toBe(0);
      const rejected = N - sent;
      expect(rejected, `the flipper (${flips.passes} passes) changed no record in time`).toBeGreaterThan(0);
      const kinds = b.violations(A);
      expect(Object.keys(kinds).filter((k) => !['total', 'notOwner', 'badOpcode', 'badFlags'].includes(k))).toEqual([]);
      expect(kinds.total).toBe(rejected);
      expect((kinds.notOwner ?? 0) + (kinds.badOpcode ?? 0) + (kinds.badFlags ?? 0)).toBe(rejected);
      const counts = completionCounts(await a.readCompletions(0));
      expect((counts[Status.EPERM] ?? 0) + (counts[Status.EINVAL] ?? 0) + b.stats(A).completionsDropped).toBe(rejected);
      await b.honest.advances(mark);
      await b.honest.finish();
    });
  });

  it('case 2: a length above the ring or the maximum message, negative, zero or shorter than a header is a counted violation; nothing is delivered', async () => {
    await withBench({ hostile: [A, P] }, async (b) => {
      const [a, p] = [b.os(A), b.os(P)];
      const own = await rawChannel(b, A, 0, P, 0, 9);
      const mark = b.honest.progress();
      const delivered: number[][] = [];
      const expectOnly = async (seq: number) => {
        expect(await a.send(0, own.send, numbered(seq))).toBeGreaterThan(0);
        delivered.push(numbered(seq));
        const got = await receiveAll(p, 0, 1);
        expect(got.map((r) => r.bytes)).toEqual([numbered(seq)]);
      };

      // A body shorter than the SEND body: the record is well formed, the work request is not.
      await a.writeRecord(0, { bodyBytes: 4, words: [own.send] });
      expect(await completions(a, 0, 1)).toEqual([{ status: Status.EINVAL, channel: 0, opcode: RecordType.SEND, count: 1 }]);
      // A payload above maxMessageBytes (256) that still fits the ring.
      await a.send(0, own.send, new Array(257).fill(7));
      expect(await completions(a, 0, 1)).toEqual([{ status: Status.EMSGSIZE, channel: own.send, opcode: RecordType.SEND, count: 1 }]);
      expect(b.violations(A)).toEqual({ total: 2, badLength: 1, messageSize: 1 });
      await expectOnly(1);

      // Header lengths that cannot be parsed: the ring faults until the partition resets it.
      const forged = [
        2048 + 8, // above the largest record (half the 4096-byte ring)
        4096 + 8, // above the ring
        0xffff_ffff, // -1 as int32
        0x8000_0000, // most negative int32
        0, // zero
        4, // shorter than the record header
        1000, // runs past the 24 bytes published
      ];
      for (const [i, length] of forged.entries()) {
        await a.writeRecord(0, { bodyBytes: 16, words: [own.send, 0, 1, 2], length });
        await waitFor(`badLength for length ${length}`, () => b.stats(A).violations.badLength === 2 + i);
        expect(await completions(a, 0, 1)).toEqual([{ status: Status.EFAULT, channel: 0, opcode: 0, count: 1 }]);
        // Still faulted: this valid work request is never consumed (the next one after the reset arrives alone).
        expect(await a.send(0, own.send, numbered(1000 + i))).toBeGreaterThan(0);
        expect(await a.reset(0)).toEqual({ ok: true });
        await expectOnly(100 + i);
      }
      expect(b.violations(A)).toEqual({ total: 2 + forged.length, badLength: 1 + forged.length, messageSize: 1 });
      expect(b.stats(P).delivered).toBe(delivered.length);
      expect(await p.readReceive(0)).toEqual([]);
      await b.honest.advances(mark);
      await b.honest.finish();
    });
  });

  it('case 3: a producer position beyond the ring faults that ring until the partition resets it; nothing else is affected', async () => {
    await withBench({ hostile: [A, P] }, async (b) => {
      const [a, p] = [b.os(A), b.os(P)];
      const own = await rawChannel(b, A, 0, P, 0, 9);
      const w = await a.words(0);
      const mark = b.honest.progress();
      const positions = [4096 + 1, 4096 + 8, 0x8000_0000, 0xffff_ffff, 12]; // consumer is 0 each time
      for (const [i, position] of positions.entries()) {
        await a.setWord(w.send.producer, position);
        await a.doorbell();
        await waitFor(`sendRingPosition for producer ${position}`, () => b.stats(A).violations.sendRingPosition === i + 1);
        expect(await completions(a, 0, 1)).toEqual([{ status: Status.EFAULT, channel: 0, opcode: 0, count: 1 }]);
        expect(await a.getWord(w.send.consumer)).toBe(0);
        expect(await a.reset(0)).toEqual({ ok: true });
      }
      expect(b.violations(A)).toEqual({ total: positions.length, sendRingPosition: positions.length });
      await a.send(0, own.send, numbered(1));
      expect((await receiveAll(p, 0, 1)).map((r) => r.bytes)).toEqual([numbered(1)]);
      expect(b.stats(P).delivered).toBe(1);
      await b.honest.advances(mark);
      await b.honest.finish();
    });
  });

  it('case 4: rewriting the send consumer, the receive producer and the connection table changes nothing the hardware does', async () => {
    await withBench({ hostile: [A, P] }, async (b) => {
      const [a, p] = [b.os(A), b.os(P)];
      const own = await rawChannel(b, A, 0, P, 0, 9);
      const w = await a.words(0);
      const mark = b.honest.progress();

      // Send ring consumer: claim to the hardware that it already consumed what it has not.
      for (let i = 0; i < 3; i++) await a.writeRecord(0, { words: [own.send, 0], bytes: numbered(i), publish: false });
      await a.setWord(w.send.consumer, 0x7777_0000);
      await a.publish(0);
      expect((await receiveAll(p, 0, 3)).map((r) => r.bytes)).toEqual([0, 1, 2].map((i) => numbered(i)));
      await waitFor('the hardware to publish its own consumer position', async () => (await a.getWord(w.send.consumer)) === 3 * 32);

      // Receive ring producer: the hardware writes at its private position and republishes the truth.
      await a.setWord(w.receive.producer, 0x4000_0000);
      for (let i = 0; i < 3; i++) await p.send(0, own.receive, numbered(10 + i));
      await waitFor('three deliveries to the attacker', () => b.stats(A).delivered === 3);
      await waitFor('the true producer position', async () => (await a.getWord(w.receive.producer)) === 3 * 32);
      const back: Array<{ type: number; channel: number; bytes: number[] }> = await a.readReceive(0);
      expect(back.map((r) => [r.type, r.channel, r.bytes])).toEqual([10, 11, 12].map((i) => [RecordType.DATA, own.send, numbered(i)]));

      // Connection table: fill it with lies; sends still follow the hardware's own table.
      const table = await a.connectionTableWords();
      await a.fillWords(table.first, table.count, 0xffff_ffff);
      await a.send(0, own.send, numbered(20));
      expect((await receiveAll(p, 0, 1)).map((r) => r.bytes)).toEqual([numbered(20)]);
      expect(await a.connectionEntry(0)).toEqual(new Array(8).fill(0xffff_ffff));
      // A new channel's entry is written from the hardware's tables, not from what the partition wrote.
      const second = await rawChannel(b, A, 0, P, 0, 10);
      const entry = await a.connectionEntry(handleSlot(second.send, SLOTS));
      expect(entry.slice(0, 5)).toEqual([second.send, expect.any(Number), P, expect.any(Number), 1]);

      expect(b.violations(A)).toEqual({});
      expect(b.stats(P).delivered).toBe(4);
      await b.honest.advances(mark);
      await b.honest.finish();
    });
  });

  it('case 5: a receive consumer ahead of the producer or more than a ring behind is a violation; that ring takes no more deliveries; senders get EFAULT', async () => {
    await withBench({ hostile: [A, P] }, async (b) => {
      const [a, p] = [b.os(A), b.os(P)];
      const ahead = await rawChannel(b, A, 0, P, 0, 9);
      const behind = await rawChannel(b, A, 1, P, 1, 10);
      const [w0, w1] = [await a.words(0), await a.words(1)];
      const mark = b.honest.progress();

      await a.setWord(w0.receive.consumer, 8); // ahead of the producer (0)
      await p.send(0, ahead.receive, numbered(1));
      await waitFor('receiveRingPosition', () => b.stats(A).violations.receiveRingPosition === 1);
      await p.send(0, ahead.receive, numbered(2)); // the ring is out of service now
      expect(completionCounts(await completions(p, 0, 2))).toEqual({ [Status.EFAULT]: 2 });
      expect(await completions(a, 0, 1)).toEqual([{ status: Status.EFAULT, channel: 0, opcode: 0, count: 1 }]);

      await a.setWord(w1.receive.consumer, (0 - 4096 - 8) >>> 0); // further behind than the ring
      await p.send(1, behind.receive, numbered(3));
      await waitFor('receiveRingPosition again', () => b.stats(A).violations.receiveRingPosition === 2);
      expect(completionCounts(await completions(p, 1, 1))).toEqual({ [Status.EFAULT]: 1 });

      expect(b.violations(A)).toEqual({ total: 2, receiveRingPosition: 2 });
      expect(b.stats(A).delivered).toBe(0);
      expect(b.stats(P)).toMatchObject({ sent: 0, sendErrors: 3, violations: { total: 0 } });
      expect(await a.readReceive(0)).toEqual([]);
      expect(await a.readReceive(1)).toEqual([]);

      // After a reset the ring takes deliveries again, starting clean.
      expect(await a.reset(0)).toEqual({ ok: true });
      await p.send(0, ahead.receive, numbered(4));
      expect((await receiveAll(a, 0, 1)).map((r) => r.bytes)).toEqual([numbered(4)]);
      await b.honest.advances(mark);
      await b.honest.finish();
    });
  });

  it('case 6: unknown opcodes, non-zero flags and reserved fields are violations; nothing is delivered', async () => {
    await withBench({ hostile: [A, P] }, async (b) => {
      const [a, p] = [b.os(A), b.os(P)];
      const own = await rawChannel(b, A, 0, P, 0, 9);
      const mark = b.honest.progress();
      const opcodes = [99, RecordType.DATA, RecordType.END, RecordType.COMPLETION, RecordType.RAW, (0x8000_0000 | RecordType.SEND) >>> 0];
      for (const type of opcodes) await a.writeRecord(0, { type, bodyBytes: 8, words: [own.send, 0] });
      await a.writeRecord(0, { bodyBytes: 16, words: [own.send, 1, 0, 0] });
      await a.writeRecord(0, { bodyBytes: 16, words: [own.send, 0x8000_0000, 0, 0] });
      await a.writeRecord(0, { type: RecordType.CLOSE, bodyBytes: 8, words: [own.send, 2] });
      await a.writeRecord(0, { type: RecordType.CLOSE, bodyBytes: 12, words: [own.send, 0, 0] });
      await a.writeRecord(0, { type: RecordType.DETACH, bodyBytes: 8, words: [5, 0] });
      const expected = [
        ...opcodes.map((opcode) => ({ status: Status.EINVAL, channel: own.send, opcode, count: 1 })),
        { status: Status.EINVAL, channel: own.send, opcode: RecordType.SEND, count: 1 },
        { status: Status.EINVAL, channel: own.send, opcode: RecordType.SEND, count: 1 },
        { status: Status.EINVAL, channel: own.send, opcode: RecordType.CLOSE, count: 1 },
        { status: Status.EINVAL, channel: own.send, opcode: RecordType.CLOSE, count: 1 },
        { status: Status.EINVAL, channel: 5, opcode: RecordType.DETACH, count: 1 },
      ];
      const got = await completions(a, 0, expected.length);
      // Equal neighbours may be coalesced into one record with a count: compare the runs.
      const runs = (cs: Completion[]) => cs.flatMap((c) => new Array(c.count).fill({ ...c, count: 1 }));
      expect(runs(got)).toEqual(runs(expected));
      expect(b.violations(A)).toEqual({ total: 11, badOpcode: 6, badFlags: 3, badLength: 1, badHandle: 1 });
      // The channel and the queue pair still work; the peer saw none of it.
      await a.send(0, own.send, numbered(1));
      expect((await receiveAll(p, 0, 1)).map((r) => r.bytes)).toEqual([numbered(1)]);
      // Type 0 is zeroed memory, not an opcode: the ring cannot be trusted past it and faults.
      await a.writeRecord(0, { type: 0, bodyBytes: 8, words: [own.send, 0] });
      await waitFor('the fault', () => b.stats(A).violations.badLength === 2);
      expect(await completions(a, 0, 1)).toEqual([{ status: Status.EFAULT, channel: 0, opcode: 0, count: 1 }]);
      expect(b.stats(P).delivered).toBe(1);
      await b.honest.advances(mark);
      await b.honest.finish();
    });
  });

  it('case 7: a handle out of range or owned by another process is a violation; the answer depends only on the sender\'s own table', async () => {
    await withBench({ hostile: [A, P, V] }, async (b) => {
      const [a, p, v] = [b.os(A), b.os(P), b.os(V)];
      const own = await rawChannel(b, A, 0, P, 0, 9); // slot 0, owned by queue pair 0
      expect(await a.open(1)).toMatchObject({ ok: true });
      const mark = b.honest.progress();
      // A free slot's next handle, the last slot's, a future generation of the last slot and of slot 1, a handle queue
      // pair 0 owns, and the handles other partitions are about to hold (slots 1–3, generation 0).
      const probes = [handleOf(4, 0), handleOf(SLOTS - 1, 0), 0xffff_ffff, handleOf(1, 5), own.send, 1, 2, 3];
      const probe = async () => {
        expect(await a.sendMany(1, probes, probes.length)).toBe(probes.length);
        return completions(a, 1, probes.length);
      };
      const before = await probe();
      expect(before).toEqual(
        [Status.EINVAL, Status.EINVAL, Status.ESTALE, Status.ESTALE, Status.EPERM, Status.EINVAL, Status.EINVAL, Status.EINVAL].map((status, i) => ({
          status,
          channel: probes[i],
          opcode: RecordType.SEND,
          count: 1,
        })),
      );
      // Now other partitions hold live channels under exactly these handle values.
      const victims = [await rawChannel(b, V, 0, P, 1, 20), await rawChannel(b, V, 0, P, 1, 21), await rawChannel(b, V, 0, P, 1, 22)];
      const honestHandle = new Uint32Array(b.machine.hooks!.portOf(2))[(192) >> 2];
      for (const h of [...victims.flatMap((c) => [c.send, c.receive]), honestHandle]) expect(probes).toContain(h);
      expect(await probe()).toEqual(before);
      expect(b.violations(A)).toEqual({ total: 16, badHandle: 10, staleHandle: 4, notOwner: 2 });
      expect(b.stats(P).delivered).toBe(0);
      expect(b.stats(V).delivered).toBe(0);
      expect(await v.readReceive(0)).toEqual([]);
      expect(await p.readReceive(0)).toEqual([]);
      expect(await p.readReceive(1)).toEqual([]);
      await b.honest.advances(mark);
      await b.honest.finish();
    });
  });

  it('case 8: spoofed source, process, key or sequence fields are ignored; the receiver sees the true sender', async () => {
    await withBench({ hostile: [A], standard: [6] }, async (b) => {
      const a = b.os(A);
      const server = await b.machine.partition(6).spawn(RECORD_SERVER, { port: 11 });
      const { process } = await a.open(0);
      const grant = await waitFor('the listener', async () => {
        const r = await a.connect(0, 6, 11);
        return r.ok ? r : undefined;
      });
      const mark = b.honest.progress();
      // Claims in the flags word are refused; claims in the body are only payload.
      await a.writeRecord(0, { bodyBytes: 16, words: [grant.handle, 1, 1, 1] });
      const spoof = [1, 0, 0, 0, 1, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 7]; // "partition 1, process 1, key …, seq 7"
      await a.send(0, grant.handle, spoof);
      await a.send(0, grant.handle, numbered(1));
      await a.close(0, grant.handle);
      const r = (await server.result) as { count: number; messages: number[][]; peer: unknown; end: string; table: unknown[] };
      expect(r.peer).toEqual({ node: 0, partition: A, process });
      expect(r.table).toEqual([{ channel: expect.any(Number), localProcess: expect.any(Number), remoteNode: 0, remotePartition: A, remoteProcess: process, state: expect.any(String), held: false }]);
      expect(r).toMatchObject({ count: 2, messages: [spoof, numbered(1)], end: 'ECLOSED' });
      expect(b.violations(A)).toEqual({ total: 1, badFlags: 1 });
      expect(await completions(a, 0, 2)).toEqual([
        { status: Status.EINVAL, channel: grant.handle, opcode: RecordType.SEND, count: 1 },
        { status: Status.OK, channel: grant.handle, opcode: RecordType.CLOSE, count: 1 },
      ]);
      await b.honest.advances(mark);
      await b.honest.finish();
    });
  });

  it('case 9: guessing handles only raises the violation counter (there is no key to guess); completions are rate limited; counters saturate', async () => {
    await withBench({ hostile: [A, P] }, async (b) => {
      const a = b.os(A);
      await rawChannel(b, P, 0, P, 1, 9); // somebody else's live channels exist in the machine
      expect(await a.open(0)).toMatchObject({ ok: true });
      const mark = b.honest.progress();
      let seed = 0x2545f491;
      const handles = Array.from({ length: 20_000 }, (_, i) => {
        if (i < 64) return handleOf(i & 15, i >> 4); // every slot, generations 0–3
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        return seed >>> 0;
      });
      // The attacker holds no channel: a slot in range with generation 0 is free (badHandle), with another generation stale.
      const stale = handles.filter((h) => handleSlot(h, SLOTS) < SLOTS && handleGeneration(h, SLOTS) !== 0).length;
      expect(await a.sendMany(0, handles, handles.length)).toBe(handles.length);
      await waitFor('every guess to be counted', () => b.stats(A).violations.total === handles.length);
      expect(b.violations(A)).toEqual({ total: handles.length, badHandle: handles.length - stale, staleHandle: stale });
      const seen = (await a.readCompletions(0)).reduce((n: number, c: { count: number }) => n + c.count, 0);
      expect(seen + b.stats(A).completionsDropped).toBe(handles.length);
      for (const s of b.machine.stats().partitions) if (s.id !== 1 && s.id !== 2) expect(s.delivered, `deliveries to ${s.id}`).toBe(0);
      await b.honest.advances(mark);
      await b.honest.finish();
    });
    const counters = new Counters(1);
    counters.values.fill(VIOLATION_COUNTER_MAX - 1);
    for (let i = 0; i < 3; i++) counters.violation(0, 'badHandle');
    expect(Array.from(counters.values)).toEqual(new Array(counters.values.length).fill(VIOLATION_COUNTER_MAX - 1).map((v, i) => (i === 6 || i === 7 ? VIOLATION_COUNTER_MAX : v)));
  });

  it('case 10: a send on a channel the peer closed, or that this process closed or is closing, gets ECLOSED and delivers nothing', async () => {
    await withBench({ hostile: [A, P] }, async (b) => {
      const [a, p] = [b.os(A), b.os(P)];
      const first = await rawChannel(b, A, 0, P, 0, 9);
      const second = await rawChannel(b, A, 0, P, 0, 10);
      const mark = b.honest.progress();

      await p.close(0, first.receive);
      expect(await receiveAll(a, 0, 1)).toEqual([{ type: RecordType.END, channel: first.send, status: Status.OK, bytes: [] }]);
      await a.send(0, first.send, numbered(1));
      expect(await completions(a, 0, 1)).toEqual([{ status: Status.ECLOSED, channel: first.send, opcode: RecordType.SEND, count: 1 }]);

      // Closing: a SEND queued behind this process's own CLOSE, published together; then one more later.
      await a.writeRecord(0, { type: RecordType.CLOSE, bodyBytes: 8, words: [second.send, 0], publish: false });
      await a.send(0, second.send, numbered(2));
      expect(await completions(a, 0, 2)).toEqual([
        { status: Status.OK, channel: second.send, opcode: RecordType.CLOSE, count: 1 },
        { status: Status.ECLOSED, channel: second.send, opcode: RecordType.SEND, count: 1 },
      ]);
      await a.send(0, second.send, numbered(3));
      expect(await completions(a, 0, 1)).toEqual([{ status: Status.ECLOSED, channel: second.send, opcode: RecordType.SEND, count: 1 }]);

      expect(await receiveAll(p, 0, 1)).toEqual([{ type: RecordType.END, channel: second.receive, status: Status.OK, bytes: [] }]);
      expect(await completions(p, 0, 1)).toEqual([{ status: Status.OK, channel: first.receive, opcode: RecordType.CLOSE, count: 1 }]);
      expect(b.stats(A)).toMatchObject({ sent: 0, sendErrors: 3, violations: { total: 0 } });
      expect(b.stats(P)).toMatchObject({ delivered: 0, violations: { total: 0 } });
      await b.honest.advances(mark);
      await b.honest.finish();
    });
  });
});
