/**
 * Property-based fuzzing of the hardware engine, in-process (THREATS.md cases 1–7, 21, 22 at scale).
 *
 * Partition A's port is the fuzzer's: between engine rounds it writes random words anywhere in
 * it, forged records (any type, handle, flags, length, published or not), producer positions,
 * and resets or reopens A's queue pairs. With a small budget per round, records published in one
 * step are read by the engine over several rounds, with fuzzer writes in between (the race).
 * Partition B runs honest traffic to C in the same machine. After every round:
 *   - round() did not throw;
 *   - every record the engine consumed from A is accounted for: delivered, or answered with a
 *     completion, and every error completion came with exactly one counter increment;
 *   - everything delivered to B or C came on a channel it holds, and what came from A is, in
 *     order, a well-formed SEND (its body long enough, its payload within maxMessageBytes) that
 *     A's owning queue pair published on that channel;
 * and at the end the honest messages all arrived exactly once, in order, and no key byte is in
 * any port. FUZZ_RUNS sets the number of cases (default 10 000; `npm run fuzz` runs 1 000 000).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Hardware } from '../../src/hardware/hardware.js';
import { readPartitionStats } from '../../src/shared/counter-block.js';
import type { HardwareQueuePair, PartitionPort } from '../../src/hardware/partition-port.js';
import { resolveOptions } from '../../src/options.js';
import {
  DeliverBody,
  RecordLayout,
  RecordType,
  RING_CONSUMER_POSITION_OFFSET,
  RING_HEADER_BYTES,
  RING_PRODUCER_POSITION_OFFSET,
  SendBody,
} from '../../src/shared/layout.js';
import { queuePairRings } from '../../src/shared/port.js';
import { EMPTY, FAULT, RingConsumer, RingProducer } from '../../src/shared/ring.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const QPS = 2;

const OPTIONS = resolveOptions({
  partitions: [{ id: 1, name: 'fuzzed' }, { id: 2, name: 'honest-sender' }, { id: 3, name: 'honest-receiver' }],
  processesPerPartition: QPS,
  channelsPerPartition: 8,
  sendRingBytes: 1024,
  receiveRingBytes: 1024,
  maxMessageBytes: 64,
  budgetPerRound: 4,
  testHooks: true,
});

// ── the steps the fuzzer takes between rounds ──────────────────────────────

const anyWord = fc.oneof(
  fc.constantFrom(0, 1, 2, 3, 4, 7, 8, 12, 16, 24, 32, 512, 1024, 1025, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x1_0000),
  fc.integer({ min: 0, max: 0xffff_ffff }),
);
const qpIndex = fc.integer({ min: 0, max: QPS - 1 });
type HandleName = 'ab' | 'ac' | 'b' | 'c' | 'bc';

const step = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('word' as const), region: fc.constantFrom('anywhere', 'sendRings', 'ringHeaders'), at: fc.nat(), value: anyWord }) },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('record' as const),
      qp: qpIndex,
      type: fc.oneof(
        { weight: 12, arbitrary: fc.constant(RecordType.SEND) },
        { weight: 1, arbitrary: fc.constantFrom(RecordType.CLOSE, RecordType.DETACH) },
        { weight: 1, arbitrary: anyWord },
      ),
      handle: fc.oneof({ weight: 6, arbitrary: fc.constantFrom<HandleName>('ab', 'ab', 'ac', 'ac', 'b', 'c', 'bc') }, { weight: 1, arbitrary: anyWord }),
      flags: fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0), anyWord),
      payload: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 72 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 400 }) }),
      length: fc.oneof({ weight: 7, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: anyWord }),
      publish: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('producer' as const), qp: qpIndex, delta: fc.oneof(fc.integer({ min: -64, max: 2048 }), anyWord) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('publish' as const), qp: qpIndex }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('receiveConsumer' as const), qp: qpIndex, delta: fc.oneof(fc.integer({ min: -2048, max: 64 }), anyWord) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('round' as const), n: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reset' as const), qp: qpIndex }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const), qp: qpIndex }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('honest' as const), n: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reply' as const), n: fc.integer({ min: 1, max: 6 }) }) },
);
type Step = typeof step extends fc.Arbitrary<infer S> ? S : never;

// ── one machine, driven by hand ────────────────────────────────────────────

interface Delivery {
  channel: number;
  payload: number[];
}

class Run {
  readonly hw = new Hardware(OPTIONS);
  readonly a: PartitionPort;
  private readonly u8: Uint8Array;
  readonly handles: Record<HandleName, number>;
  /** The fuzzer's producers on A's send rings (rebuilt when a ring is reset). */
  private readonly producers: RingProducer[] = [];
  private readonly honestTx: RingProducer;
  private readonly replyTx: RingProducer;
  /** B's and C's completion rings: B's sends never fail; C's may (A's receive ring is the fuzzer's). */
  private readonly completions: Record<'b' | 'c', RingConsumer>;
  private readonly rx: Record<'b' | 'c', RingConsumer>;
  private honestSent = 0;
  private honestReceived = 0;
  private payloadSeq = 0;
  /** complete() calls on A's queue pairs with an opcode (one per consumed record that was not delivered). */
  private answered = 0;
  /** Per partition, violations + send errors as of the last completion: every error completion adds exactly one. */
  private readonly counted: number[];

  constructor() {
    const { hw } = this;
    const [a, b, c] = hw.ports;
    this.a = a;
    this.u8 = new Uint8Array(a.buffer);
    for (let qp = 0; qp < QPS; qp++) expect(hw.manager.openQueuePair(a, qp).ok).toBe(true);
    for (const p of [b, c]) expect(hw.manager.openQueuePair(p, 0).ok).toBe(true);
    const channel = (from: PartitionPort, fromQp: number, to: PartitionPort, port: number): [number, number] => {
      expect(hw.manager.listen(to, 0, port).ok).toBe(true);
      const sent = hw.manager.connect(from, fromQp, to.id, port);
      const got = hw.manager.accept(to, 0, port);
      if (!sent.ok || got instanceof Promise || !got.ok) throw new Error('set-up failed');
      return [sent.handle, got.handle];
    };
    const [ab, b1] = channel(a, 0, b, 1);
    const [ac, c1] = channel(a, 1, c, 2);
    const [bc, c2] = channel(b, 0, c, 3);
    this.handles = { ab, ac, b: b1, c: c1, bc };
    this.cHonest = c2;
    for (let qp = 0; qp < QPS; qp++) this.producers.push(this.producerOf(qp));
    this.honestTx = new RingProducer(queuePairRings(b.buffer, b.geometry, 0).send);
    this.replyTx = new RingProducer(queuePairRings(c.buffer, c.geometry, 0).send);
    this.completions = {
      b: new RingConsumer(queuePairRings(b.buffer, b.geometry, 0).completion),
      c: new RingConsumer(queuePairRings(c.buffer, c.geometry, 0).completion),
    };
    this.rx = {
      b: new RingConsumer(queuePairRings(b.buffer, b.geometry, 0).receive),
      c: new RingConsumer(queuePairRings(c.buffer, c.geometry, 0).receive),
    };
    this.counted = hw.ports.map((_, i) => this.errorCount(i));
    const engine = hw.engine;
    const complete = engine.complete.bind(engine);
    engine.complete = (qp, status, opcode, handle) => {
      const p = qp.port.index;
      const now = this.errorCount(p);
      expect(now, `counters of partition ${p} at a completion with status ${status}`).toBe(this.counted[p] + (status === 0 ? 0 : 1));
      this.counted[p] = now;
      if (qp.port === a && opcode !== 0) this.answered++;
      complete(qp, status, opcode, handle);
    };
  }

  private readonly cHonest: number;

  private errorCount(p: number): number {
    const s = readPartitionStats(this.hw.counters.values, p, 0, '');
    return s.violations.total + s.sendErrors;
  }

  private producerOf(qp: number): RingProducer {
    return new RingProducer(queuePairRings(this.a.buffer, this.a.geometry, qp).send, this.hwQp(qp).send.consumedPosition);
  }

  private hwQp(qp: number): HardwareQueuePair {
    return this.a.queuePairs[qp];
  }

  apply(s: Step): void {
    const u32 = this.a.u32;
    switch (s.kind) {
      case 'word': {
        const rings = queuePairRings(this.a.buffer, this.a.geometry, s.at % QPS);
        if (s.region === 'anywhere') u32[s.at % u32.length] = s.value;
        else if (s.region === 'sendRings') u32[((rings.send.base + RING_HEADER_BYTES) >> 2) + (s.at % (rings.send.capacity >> 2))] = s.value;
        else {
          const ring = [rings.send, rings.receive, rings.completion][s.at % 3];
          u32[(ring.base >> 2) + (s.at % (RING_HEADER_BYTES >> 2))] = s.value;
        }
        return;
      }
      case 'record': {
        const tx = this.producers[s.qp];
        const body = SendBody.BYTES + s.payload;
        if (body + RecordLayout.HEADER_BYTES > tx.maxRecordBytes) return;
        const at = tx.tryClaim(s.type, body);
        if (at < 0) return;
        const handle = typeof s.handle === 'string' ? this.handles[s.handle] : s.handle;
        u32[at >> 2] = handle;
        u32[(at + SendBody.FLAGS_OFFSET) >> 2] = s.flags;
        const seq = ++this.payloadSeq;
        for (let i = 0; i < s.payload; i++) this.u8[at + SendBody.BYTES + i] = (seq * 31 + i) & 0xff;
        if (s.length !== null) u32[(at - RecordLayout.HEADER_BYTES + RecordLayout.LENGTH_OFFSET) >> 2] = s.length;
        if (s.publish) tx.publish();
        return;
      }
      case 'producer': {
        const tx = queuePairRings(this.a.buffer, this.a.geometry, s.qp).send;
        u32[(tx.base + RING_PRODUCER_POSITION_OFFSET) >> 2] = (this.producers[s.qp].position + s.delta) >>> 0;
        return;
      }
      case 'receiveConsumer': {
        const rx = queuePairRings(this.a.buffer, this.a.geometry, s.qp).receive;
        u32[(rx.base + RING_CONSUMER_POSITION_OFFSET) >> 2] = (u32[(rx.base + RING_PRODUCER_POSITION_OFFSET) >> 2] + s.delta) >>> 0;
        return;
      }
      case 'publish':
        this.producers[s.qp].publish();
        return;
      case 'reset':
        if (this.hw.manager.resetQueuePair(this.a, s.qp).ok) this.producers[s.qp] = this.producerOf(s.qp);
        return;
      case 'reopen':
        this.hw.manager.openQueuePair(this.a, s.qp);
        return;
      case 'honest':
        for (let i = 0; i < s.n; i++) {
          const at = this.honestTx.tryClaim(RecordType.SEND, SendBody.BYTES + 8);
          if (at < 0) break;
          const w = this.honestTx.u32;
          w[at >> 2] = this.handles.bc;
          w[(at >> 2) + 1] = 0;
          w[(at >> 2) + 2] = this.honestSent;
          w[(at >> 2) + 3] = ~this.honestSent >>> 0;
          this.honestSent++;
        }
        this.honestTx.publish();
        return;
      case 'reply':
        // C answers A on its end of their channel: deliveries into the ring A scribbles over.
        for (let i = 0; i < s.n; i++) {
          const at = this.replyTx.tryClaim(RecordType.SEND, SendBody.BYTES + 4);
          if (at < 0) break;
          this.replyTx.u32[at >> 2] = this.handles.c;
          this.replyTx.u32[(at >> 2) + 1] = 0;
          this.replyTx.u32[(at >> 2) + 2] = i;
        }
        this.replyTx.publish();
        return;
      case 'round':
        for (let i = 0; i < s.n; i++) this.round();
        return;
    }
  }

  /** What the engine will read from A's send rings this round: the records in a copy of the port, from its own positions. */
  private snapshot(): Array<{ ring: RingConsumer; start: number; limit: number; faulted: boolean }> {
    const copy = new SharedArrayBuffer(this.a.buffer.byteLength);
    new Uint8Array(copy).set(new Uint8Array(this.a.buffer));
    return this.a.queuePairs.map((qp, i) => {
      const engineSide = qp.send as unknown as { limit: number };
      return {
        ring: new RingConsumer(queuePairRings(copy, this.a.geometry, i).send, qp.send.consumedPosition),
        start: qp.send.consumedPosition,
        limit: engineSide.limit,
        faulted: qp.send.faulted,
      };
    });
  }

  /** The records between the snapshot's start and the engine's position now, as the engine read them. */
  private consumed(snap: ReturnType<Run['snapshot']>[number], end: number): Array<{ type: number; handle: number; flags: number; payload: number[]; bodyBytes: number }> {
    const out = [];
    if (snap.faulted || snap.start === end) return [];
    const r = snap.ring;
    (r as unknown as { limit: number }).limit = snap.limit;
    for (;;) {
      if (r.consumedPosition === end) break;
      const t = r.poll();
      if (r.consumedPosition === end) break; // the engine stopped right after a padding record
      if (t === EMPTY || t === FAULT) throw new Error(`the engine consumed past what its ring holds (${r.faultReason || 'empty'})`);
      const at = r.bodyOffset;
      out.push({
        type: t,
        handle: r.bodyBytes >= 4 ? r.u32[at >> 2] : -1,
        flags: r.bodyBytes >= 8 ? r.u32[(at >> 2) + 1] : -1,
        payload: Array.from(r.u8.subarray(at + SendBody.BYTES, at + r.bodyBytes)),
        bodyBytes: r.bodyBytes,
      });
      r.consume();
    }
    return out;
  }

  private drain(name: 'b' | 'c'): Delivery[] {
    const rx = this.rx[name];
    const out: Delivery[] = [];
    for (let t = rx.poll(); t !== EMPTY; t = rx.poll()) {
      expect(t, `record type delivered to ${name}`).not.toBe(FAULT);
      if (t === RecordType.DATA) {
        const at = rx.bodyOffset;
        out.push({ channel: rx.u32[(at + DeliverBody.CHANNEL_OFFSET) >> 2], payload: Array.from(rx.u8.subarray(at + DeliverBody.BYTES, at + rx.bodyBytes)) });
      } else expect(t).toBe(RecordType.END);
      rx.consume();
    }
    rx.release();
    return out;
  }

  round(): void {
    const snaps = this.snapshot();
    const sentBefore = readPartitionStats(this.hw.counters.values, 0, 0, '').sent;
    const answeredBefore = this.answered;
    this.hw.engine.round(); // must not throw
    const records = snaps.map((s, qp) => this.consumed(s, this.hwQp(qp).send.consumedPosition));
    const sent = readPartitionStats(this.hw.counters.values, 0, 0, '').sent - sentBefore;
    // Every consumed record: delivered, or answered (with a counter increment when it is an error).
    expect(records.flat().length, 'records consumed from the fuzzed partition').toBe(sent + this.answered - answeredBefore);
    for (let p = 0; p < this.counted.length; p++) expect(this.errorCount(p), `counters of partition ${p} without a completion`).toBe(this.counted[p]);

    expect(this.completions.b.poll(), 'a completion for the honest sender').toBe(EMPTY);
    const cq = this.completions.c;
    for (let t = cq.poll(); t !== EMPTY; t = cq.poll()) cq.consume();
    cq.release();

    // Deliveries: only on channels the receiver holds; A's only as well-formed SENDs its owning queue pair published on them.
    const toB = this.drain('b');
    const toC = this.drain('c');
    const candidates = (qp: number, handle: number) =>
      records[qp]
        .filter((r) => r.type === RecordType.SEND && r.handle === handle && r.flags === 0 && r.bodyBytes >= SendBody.BYTES && r.payload.length <= OPTIONS.geometry.maxMessageBytes)
        .map((r) => r.payload);
    const fromA = [
      ...this.subsequence(toB.filter((d) => d.channel !== this.handles.b), [], 'b'),
      ...this.subsequence(toB.filter((d) => d.channel === this.handles.b), candidates(0, this.handles.ab), 'B from A'),
      ...this.subsequence(toC.filter((d) => d.channel === this.handles.c), candidates(1, this.handles.ac), 'C from A'),
    ];
    expect(fromA.length, 'deliveries from A match its sent counter').toBe(sent);
    for (const d of toC.filter((x) => x.channel !== this.handles.c)) {
      expect(d.channel, 'a delivery to C on a channel it does not hold').toBe(this.cHonest);
      const v = new DataView(Uint8Array.from(d.payload).buffer);
      expect([d.payload.length, v.getUint32(0, true), v.getUint32(4, true)]).toEqual([8, this.honestReceived, ~this.honestReceived >>> 0]);
      this.honestReceived++;
    }
  }

  /** Check `got` is, in order, a subsequence of `allowed`; returns `got`. */
  private subsequence(got: Delivery[], allowed: number[][], what: string): Delivery[] {
    let i = 0;
    for (const d of got) {
      const key = d.payload.join(',');
      while (i < allowed.length && allowed[i].join(',') !== key) i++;
      expect(i < allowed.length, `delivery to ${what} that its owner did not send on that channel: [${d.payload.slice(0, 8)}…]`).toBe(true);
      i++;
    }
    return got;
  }

  /** Finish: the honest stream arrives whole; no key byte sits in any port. */
  finish(): void {
    for (let i = 0; i < 10_000 && this.honestReceived < this.honestSent; i++) this.round();
    expect(this.honestReceived).toBe(this.honestSent);
    const windows = new Set<string>();
    for (const k of this.hw.keys.keyHistory()) for (let i = 0; i + 8 <= 16; i++) windows.add(Buffer.from(k.subarray(i, i + 8)).toString('hex'));
    for (const port of this.hw.ports) {
      const bytes = Buffer.from(new Uint8Array(port.buffer));
      for (const w of windows) expect(bytes.indexOf(Buffer.from(w, 'hex')), `a key in partition ${port.id}'s port`).toBe(-1);
    }
  }
}

describe('fuzzing the engine in-process', () => {
  it(`engine invariants hold for ${RUNS} random runs of hostile port writes between rounds`, () => {
    let runs = 0;
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
        // Long runs (npm run fuzz) say how far they got.
        if (++runs % 50_000 === 0 && RUNS > 100_000) process.stderr.write(`fuzz: ${runs} of ${RUNS} runs passed\n`);
        const run = new Run();
        for (const s of steps) {
          run.apply(s);
          run.round();
        }
        run.finish();
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: false },
    );
  }, Math.max(120_000, RUNS * 20));
});
