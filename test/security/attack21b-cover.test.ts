/**
 * Attack run 21b found case 121 (attack21b-stale-close-ack.test.ts); what held is covered here.
 *
 * - In process (engine-differential.ts's hostile steps, floods, closes, DETACHes, faults, resets,
 *   restarts, remote ends): after every step each channel counter line (stats().partitions[i].channels)
 *   names the end its table entry holds (handle, state, processes, partition), a free entry's line
 *   reads free, a channel's two ends count alike (one end's sent is the other's delivered, in
 *   messages and bytes), a partition's channel lines add up to its own delivered count in any step
 *   that opened or closed none of its ends (and never to more than its sent count), and every
 *   completion a queue pair reads names a work request of its own (its opcode and handle).
 * - With workers: a restarted partition whose old run's messages wait kept for a reader: the
 *   reader's end counts every one of them once they are in its ring, the new run's channel in the
 *   same slot starts at 0 and counts only its own; a partition that scribbles over its whole
 *   port while two others talk changes none of their channel lines; and a queue pair's channel to
 *   itself counts each side on its own end's line.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { RecordType } from 'lparlink/internal';
import { NO_ENTRY } from '../../src/hardware/channel-state-table.js';
import { ChannelCounterLayout, CompletionBody, ConnectionState, CounterSlot, RecordType as Rt } from '../../src/shared/layout.js';
import { EMPTY, FAULT } from '../../src/shared/ring.js';
import { closeEndpoints, collect, Machine, P, step } from './engine-differential.js';
import { numbered, rawChannel, receiveAll, waitFor, withBench } from './harness.js';

afterAll(closeEndpoints);
const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const QPS = 3;
const W = ChannelCounterLayout.WORDS;
const S = ChannelCounterLayout.SLOTS;
/** Table-private state of a remote connect's own end (ChannelStateTable's CONNECTING): never written to a line. */
const CONNECTING = 0xfe;

/** The counts seen across a run, so that no check passes vacuously. */
const seen = { pairs: 0, ledgers: 0, completions: 0 };

function checkLines(m: Machine, after: string): void {
  const t = m.hw.table;
  const { words, values } = m.hw.channelCounters;
  for (let e = 0; e < t.state.length; e++) {
    if (t.state[e] === CONNECTING) continue;
    const w = e * W;
    if (!t.isLive(e)) {
      expect(words[w + ChannelCounterLayout.STATE_WORD], `line ${e} of a free entry after ${after}`).toBe(ConnectionState.FREE);
      continue;
    }
    expect(
      [ChannelCounterLayout.HANDLE_WORD, ChannelCounterLayout.STATE_WORD, ChannelCounterLayout.LOCAL_PROCESS_WORD, ChannelCounterLayout.REMOTE_PARTITION_WORD, ChannelCounterLayout.REMOTE_PROCESS_WORD].map((i) => words[w + i]),
      `line ${e} after ${after}`,
    ).toEqual([t.handle(e), t.state[e], t.ownerProcess[e], t.remotePartition[e], t.remoteProcess[e]]);
    const d = t.peer[e];
    if (d === NO_ENTRY || !t.isLive(d) || t.peer[d] !== e) continue;
    seen.pairs++;
    expect([values[e * S + ChannelCounterLayout.SENT], values[e * S + ChannelCounterLayout.BYTES_SENT]], `sent by ${e}, delivered to ${d}, after ${after}`).toEqual([
      values[d * S + ChannelCounterLayout.DELIVERED],
      values[d * S + ChannelCounterLayout.BYTES_DELIVERED],
    ]);
  }
}

function snapshot(m: Machine): { handles: number[]; lines: number[]; counters: number[] } {
  const t = m.hw.table;
  return {
    handles: Array.from(t.state, (_, e) => (t.isLive(e) ? t.handle(e) : -1)),
    lines: Array.from(m.hw.channelCounters.values),
    counters: Array.from(m.hw.counters.values),
  };
}

/** A partition none of whose ends opened or closed in the step: its lines moved by its delivered count, and by no more than its sent count. */
function checkLedger(m: Machine, before: ReturnType<typeof snapshot>, after: string): void {
  const now = snapshot(m);
  const t = m.hw.table;
  for (let p = 0; p < P; p++) {
    let delivered = 0;
    let sent = 0;
    let stable = true;
    for (let slot = 0; slot < t.slotsPerPartition && stable; slot++) {
      const e = t.entry(p, slot);
      stable = before.handles[e] === now.handles[e];
      delivered += now.lines[e * S + ChannelCounterLayout.DELIVERED] - before.lines[e * S + ChannelCounterLayout.DELIVERED];
      sent += now.lines[e * S + ChannelCounterLayout.SENT] - before.lines[e * S + ChannelCounterLayout.SENT];
    }
    if (!stable) continue;
    const at = p * CounterSlot.PER_PARTITION;
    if (delivered > 0) seen.ledgers++;
    expect(delivered, `partition ${p}'s lines against its delivered count after ${after}`).toBe(now.counters[at + CounterSlot.DELIVERED] - before.counters[at + CounterSlot.DELIVERED]);
    expect(sent, `partition ${p}'s lines against its sent count after ${after}`).toBeLessThanOrEqual(now.counters[at + CounterSlot.SENT] - before.counters[at + CounterSlot.SENT]);
  }
}

describe('attack run 21b: what held', () => {
  it('random hostile runs: channel lines name their ends and count alike, add up to the partition\'s counts, and every completion answers its own queue pair\'s work request', () => {
    seen.pairs = seen.ledgers = seen.completions = 0;
    fc.assert(
      fc.property(fc.array(step({ flood: true }), { minLength: 20, maxLength: 160, size: 'max' }), (steps) => {
        const m = new Machine(false);
        const wrote = new Map<string, Set<string>>();
        const write = m.write.bind(m);
        m.write = (p, q, type, handle, flags, payload, publish) => {
          const key = `${p}:${q}`;
          if (!wrote.has(key)) wrote.set(key, new Set());
          wrote.get(key)!.add(`${type}:${handle >>> 0}`);
          write(p, q, type, handle, flags, payload, publish);
        };
        const readCompletions = (p: number, q: number, after: string) => {
          const cq = m.cq[p][q];
          for (let type = cq.poll(); type !== EMPTY && type !== FAULT; type = cq.poll()) {
            const at = cq.bodyOffset;
            const channel = cq.u32[(at + CompletionBody.CHANNEL_OFFSET) >> 2];
            const opcode = cq.u32[(at + CompletionBody.OPCODE_OFFSET) >> 2];
            if (opcode === Rt.SEND || opcode === Rt.CLOSE) {
              seen.completions++;
              expect(wrote.get(`${p}:${q}`)?.has(`${opcode}:${channel}`), `a completion of opcode ${opcode} on ${channel} to ${p}:${q} after ${after}`).toBe(true);
            }
            cq.consume();
          }
          cq.release();
        };
        const pool: number[] = [];
        const handles = new Set<number>();
        collect(m.hw, pool, handles);
        for (const s of steps) {
          // What a queue pair's rings hold goes with a reset or a restart: read its completions first.
          if (s.kind === 'drain' || s.kind === 'reset') readCompletions(s.p, s.q, s.kind);
          if (s.kind === 'restart') {
            for (let q = 0; q < QPS; q++) {
              readCompletions(s.p, q, s.kind);
              wrote.delete(`${s.p}:${q}`);
            }
          }
          const before = snapshot(m);
          m.apply(s, pool);
          collect(m.hw, pool, handles);
          checkLines(m, s.kind);
          checkLedger(m, before, s.kind);
        }
        for (let p = 0; p < P; p++) for (let q = 0; q < QPS; q++) readCompletions(p, q, 'the end');
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    expect(seen.pairs).toBeGreaterThan(RUNS);
    expect(seen.ledgers).toBeGreaterThan(RUNS / 4);
    expect(seen.completions).toBeGreaterThan(RUNS);
  }, 600_000);

  it('a restarted partition\'s old run\'s kept messages count on the reader\'s end once they are in its ring; the new run\'s channel in the same slot counts only its own', async () => {
    const [A, B, C] = [3, 4, 5];
    await withBench({ hostile: [A, B, C] }, async (b) => {
      const c = b.os(C);
      const ch1 = await rawChannel(b, A, 0, C, 0, 30);
      const ch2 = await rawChannel(b, A, 0, B, 0, 31);
      const a = b.os(A);
      // 64-byte messages on ch1 until A's ring is full, and one on ch2 after every tenth: C reads
      // nothing, so what its ring cannot take is kept aside for it.
      let sent = 0;
      let bytes = 0;
      let beside = 0;
      for (let i = 0; i < 80; i++) {
        const r = await a.send(0, ch1.send, numbered(i, 64));
        if (r === 'FULL' || r === 'FAULT') break;
        sent++;
        bytes += 64;
        if (i % 10 === 9 && typeof (await a.send(0, ch2.send, numbered(900 + i, 16))) === 'number') beside++;
      }
      await a.doorbell();
      await waitFor('every message on ch1 in C\'s ring or kept for it', () => {
        const s = b.stats(C);
        return s.kept > 0 && s.delivered + s.kept >= sent;
      });
      await waitFor('the messages beside taken', () => b.stats(B).delivered + b.stats(B).kept === beside);
      const kept = b.stats(C).kept;
      const line = (id: number, channel: number) => b.stats(id).channels.find((r) => r.channel === channel);
      // Kept messages count on neither end until they are in the ring.
      expect(line(C, ch1.receive)).toMatchObject({ delivered: sent - kept, bytesDelivered: bytes - 64 * kept, sent: 0 });
      expect(line(A, ch1.send)).toMatchObject({ sent: sent - kept, bytesSent: bytes - 64 * kept, delivered: 0 });
      await b.machine.partition(A).restart();
      const na = b.os(A);
      expect(await na.open(0)).toMatchObject({ ok: true });
      const cn = await na.connect(0, C, 30);
      expect(cn).toMatchObject({ ok: true });
      expect(cn.handle & 15).toBe(ch1.send & 15); // the old run's slot
      const acc = await c.accept(0, 30);
      expect(acc).toMatchObject({ ok: true });
      for (let i = 0; i < 3; i++) await na.send(0, cn.handle, numbered(2000 + i, 32));
      await na.doorbell();
      await receiveAll(c, 0, sent + 1 + 3);
      await waitFor('nothing kept', () => b.stats(C).kept === 0);
      // C's old end: every old-run message, once in its ring, and it reads peer-dead.
      expect(line(C, ch1.receive)).toMatchObject({ state: 'peer-dead', delivered: sent, bytesDelivered: bytes, sent: 0, bytesSent: 0, remotePartition: A });
      // The new run's channel, in the old one's slot: its own three messages only, at both ends.
      expect(b.stats(A).channels).toEqual([expect.objectContaining({ channel: cn.handle, state: 'open', sent: 3, bytesSent: 96, delivered: 0, bytesDelivered: 0 })]);
      expect(line(C, acc.handle)).toMatchObject({ state: 'open', delivered: 3, bytesDelivered: 96, sent: 0, remotePartition: A });
      // The partition counts every message its runs sent.
      expect(b.stats(A).sent).toBe(sent + beside + 3);
      expect(b.violations(A)).toEqual({});
      expect(b.violations(C)).toEqual({});
      await b.honest.finish();
    });
  }, 60_000);

  it('a partition scribbling over its whole port while two others talk changes none of their channel lines', async () => {
    const [A, Q, V] = [3, 4, 5];
    await withBench({ hostile: [A, Q, V] }, async (b) => {
      const [a, q, v] = [b.os(A), b.os(Q), b.os(V)];
      const own = await rawChannel(b, A, 0, Q, 0, 9);
      const talk = await rawChannel(b, Q, 1, V, 0, 10);
      const before = { q: b.stats(Q).channels, v: b.stats(V).channels };
      await a.startHelper('scribble', { seed: 0x21b });
      for (let i = 0; i < 40; i++) {
        await a.resetAll();
        expect(await q.send(1, talk.send, numbered(i, 24))).toEqual(expect.any(Number));
        await q.doorbell();
      }
      const scribbled = await a.stopHelper();
      expect(scribbled.writes).toBeGreaterThan(0);
      expect((await receiveAll(v, 0, 40)).map((r) => r.bytes)).toEqual(Array.from({ length: 40 }, (_, i) => numbered(i, 24)));
      const lineOf = (rows: Array<{ channel: number }>, channel: number) => rows.find((r) => r.channel === channel);
      // Q's end of the talk: 40 sent; V's: 40 delivered; Q's end of A's channel as it was, whatever A wrote.
      expect(lineOf(b.stats(Q).channels, talk.send)).toEqual({ ...lineOf(before.q, talk.send), sent: 40, bytesSent: 960 });
      expect(b.stats(V).channels).toEqual([{ ...lineOf(before.v, talk.receive), delivered: 40, bytesDelivered: 960 }]);
      const ownLine = lineOf(b.stats(Q).channels, own.receive);
      expect(ownLine === undefined ? undefined : { ...ownLine, delivered: 0, bytesDelivered: 0, state: 'open' }).toEqual({ ...lineOf(before.q, own.receive), state: 'open' });
      for (const id of [1, 2, Q, V]) expect(b.violations(id), `violations of partition ${id}`).toEqual({});
      expect(b.stats(A).violations.total).toBeGreaterThan(0);
      await b.honest.finish();
    });
  }, 60_000);

  it('a channel from a queue pair to itself: both ends are lines of one partition, each counting its own side', async () => {
    const A = 3;
    await withBench({ hostile: [A] }, async (b) => {
      const a = b.os(A);
      const loop = await rawChannel(b, A, 0, A, 0, 12);
      expect(loop.send).not.toBe(loop.receive);
      const before = b.stats(A);
      for (let i = 0; i < 5; i++) expect(await a.send(0, loop.send, numbered(i, 8 + i))).toEqual(expect.any(Number));
      await a.doorbell();
      expect((await receiveAll(a, 0, 5)).map((r) => [r.channel, r.bytes])).toEqual(Array.from({ length: 5 }, (_, i) => [loop.receive, numbered(i, 8 + i)]));
      const line = (channel: number) => b.stats(A).channels.find((r) => r.channel === channel);
      expect(line(loop.send)).toMatchObject({ remotePartition: A, state: 'open', sent: 5, bytesSent: 50, delivered: 0, bytesDelivered: 0 });
      expect(line(loop.receive)).toMatchObject({ remotePartition: A, state: 'open', sent: 0, bytesSent: 0, delivered: 5, bytesDelivered: 50 });
      expect(line(loop.send)!.localProcess).toBe(line(loop.receive)!.remoteProcess);
      expect(b.stats(A).sent - before.sent).toBe(5);
      expect(b.stats(A).delivered - before.delivered).toBe(5);
      // The sender closes: its line goes, the reader's reads peer-closed with its counts.
      expect(await a.close(0, loop.send)).toEqual(expect.any(Number));
      await a.doorbell();
      await waitFor('the closed end to leave its line', () => line(loop.send) === undefined);
      expect(line(loop.receive)).toMatchObject({ state: 'peer-closed', delivered: 5, bytesDelivered: 50 });
      expect(b.violations(A)).toEqual({});
      await b.honest.finish();
    });
  }, 60_000);
});

