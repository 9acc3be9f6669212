/**
 * Attack run 16a (found nothing; listed in THREATS under "Found nothing (attack run 16a)"): a traced
 * engine serves runs (Engine.sendRun, sendRemoteRun, each ending before its channel's next sampled
 * message: HardwareTrace.unsampledRun). Can a hostile partition make the hardware's trace lie:
 * record a message that was not delivered, miss a sampled one, number one differently from the
 * one-at-a-time path (the sender and the receiver number a channel's messages themselves, and a
 * flow is joined by that number)?
 *
 * lookups-differential.test.ts's harness (copied: a test file's helpers are not importable), with
 * the machine under test traced and serving runs, and the reference traced and taking the general
 * path for every work request (sendTraced(), sendRemoteTraced()), driven by the same random hostile
 * steps. After every step, besides every port byte, counter, control answer and link message, the
 * hardware's trace ring must hold the same records: kind, the five fields (partition, handle,
 * destination, delivery handle, message number) and which of the times are set. Sampled every 3rd
 * (the division) and every 4th (the mask). LOOKUP_FUZZ_RUNS sets the number of cases (default 400
 * each); FUZZ_SEED replays one. One step more than there: `flood`, a stream past a receive ring,
 * so that messages are kept aside (the harness's own steps never filled a ring in 400 cases).
 */
import fc from 'fast-check';
import { createMachine } from 'lparlink';
import { makeCertificates } from '../link/certs.js';
import { F, HostilePeer } from '../link/hostile-peer.js';
import { LOOPBACK } from '../link/pair.js';
import { waitFor } from './harness.js';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { NO_ENTRY } from '../../src/hardware/channel-state-table.js';
import type { RemoteEnds } from '../../src/hardware/engine.js';
import { Hardware } from '../../src/hardware/hardware.js';
import type { HardwareQueuePair } from '../../src/hardware/partition-port.js';
import type { Stamp } from '../../src/hardware/stamp.js';
import { resolveOptions } from '../../src/options.js';
import { Status } from '../../src/shared/errors.js';
import { ConnectionState, RecordType, RING_CONSUMER_POSITION_OFFSET, RING_PRODUCER_POSITION_OFFSET, SendBody } from '../../src/shared/layout.js';
import { queuePairRings } from '../../src/shared/port.js';
import { EMPTY, FAULT, RingConsumer, RingProducer } from '../../src/shared/ring.js';
import { allocateTraceRing, TraceSnapshot } from '../../src/shared/trace-ring.js';
import { TraceKind } from '../../src/shared/trace-layout.js';

const RUNS = Number(process.env.LOOKUP_FUZZ_RUNS ?? 400);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const P = 3;
const QPS = 3;
const MAX = 64;
const OPTIONS_INPUT = {
  partitions: [{ id: 1, name: 'a' }, { id: 2, name: 'b' }, { id: 3, name: 'c' }],
  processesPerPartition: QPS,
  channelsPerPartition: 8,
  sendRingBytes: 1024,
  receiveRingBytes: 1024,
  maxMessageBytes: MAX,
  budgetPerRound: 4,
  testHooks: true,
};
const OPTIONS = resolveOptions(OPTIONS_INPUT);
const TRACE_RECORDS = 4096;
const tracedOptions = (sample: number) => resolveOptions({ ...OPTIONS_INPUT, trace: { sample, records: TRACE_RECORDS } });
const REMOTE_NODE = 5;
/** How often the machine under test took the paths under test (a run that served, lookups taken quietly), and the records compared. */
const taken = { runs: 0, lookUps: 0, keptAside: 0, delivered: 0, refused: 0, linkSent: 0 };
/** The engine's methods the reference replaces (private, so a rename would leave it unreplaced: checked). */
const RUN_PATH = ['sendRun', 'sendRemoteRun', 'lookUpAnother', 'cache', 'keepAside'] as const;

/** Every MessagePort a restart bound, closed at the end (they would hold the test process). */
const endpoints: MessagePort[] = [];
afterAll(() => {
  for (const p of endpoints) p.close();
});

/** A fake link layer: it logs what the engine hands it, and checks claim 10's send stage for each message. */
class FakeRemote implements RemoteEnds {
  readonly log: string[] = [];
  /** Nothing is ever held (hold() keeps nothing). */
  readonly holding = false;
  room = Infinity;
  /** Partition indexes whose stamps the operator's test hook corrupts (the key's first word flipped). */
  readonly corrupt = new Set<number>();
  private last = NO_ENTRY;
  constructor(private readonly hw: Hardware) {}
  private check(e: number, what: string): void {
    const t = this.hw.table;
    // Nothing is ever handed to a link for an end that is not open, not remote, or whose stamp is not its own.
    expect(t.state[e], `${what} on an end that is not open`).toBe(ConnectionState.OPEN);
    expect(t.remoteNode[e], `${what} on an end that is not remote`).not.toBe(0);
  }
  private take(e: number, src: RingConsumer, payload: number, bytes: number): void {
    this.room--;
    this.last = e;
    this.log.push(`msg e=${e} ${Array.from(src.u8.subarray(payload, payload + bytes)).join(',')}`);
  }
  send(e: number, stamp: Stamp, src: RingConsumer, payload: number, bytes: number): boolean {
    this.check(e, 'send');
    const k = this.hw.keys;
    const flip = this.corrupt.has(this.hw.table.partitionIndexOf(e)) ? 1 : 0;
    expect([stamp.k0 ^ flip, stamp.k1, stamp.k2, stamp.k3, stamp.sourcePartition]).toEqual([0, 1, 2, 3].map((i) => k.word(e, i)).concat(this.hw.table.localPartition[e]));
    if (this.room <= 0) return false;
    this.take(e, src, payload, bytes);
    return true;
  }
  // A full fake link is back-pressure of the link itself (room), never a spent window: nothing is held.
  waitsForWindow(): boolean {
    return false;
  }
  hold(): boolean {
    return false;
  }
  closing(): boolean {
    return false;
  }
  closeAfterHeld(): boolean {
    return false;
  }
  sendNext(e: number, src: RingConsumer, payload: number, bytes: number): boolean {
    this.check(e, 'sendNext');
    if (e !== this.last || this.room <= 0) return false;
    this.take(e, src, payload, bytes);
    return true;
  }
  closed(e: number, status: number): void {
    this.last = NO_ENTRY;
    this.log.push(`closed e=${e} ${status}`);
  }
  faulted(qp: HardwareQueuePair): void {
    // As LinkedChannels.faulted: the queue pair's open remote ends end here with EFAULT.
    const t = this.hw.table;
    for (let slot = 0; slot < t.slotsPerPartition; slot++) {
      const e = t.entry(qp.port.index, slot);
      if (t.state[e] === ConnectionState.OPEN && t.remoteNode[e] !== 0 && t.ownerQueuePair[e] === qp.index) {
        this.log.push(`faulted e=${e}`);
        this.hw.engine.endByPeer(e, Status.EFAULT);
      }
    }
  }
  poll(): number {
    return 0;
  }
  flush(): void {
    this.last = NO_ENTRY;
  }
}

class Machine {
  readonly hw: Hardware;
  readonly remote: FakeRemote;
  tx: RingProducer[][] = [];
  rx: RingConsumer[][] = [];
  cq: RingConsumer[][] = [];
  readonly answers: string[] = [];
  /** The hardware's trace ring. */
  readonly ring = allocateTraceRing(TRACE_RECORDS);
  private seq = 0;

  constructor(reference: boolean, sample: number) {
    this.hw = new Hardware(tracedOptions(sample), { ports: [], counters: undefined as unknown as SharedArrayBuffer, trace: this.ring });
    expect(this.hw.engine.tracer).toBeDefined();
    const engine = this.hw.engine as unknown as Record<string, unknown>;
    for (const name of RUN_PATH) expect(typeof engine[name], `Engine.${name}`).toBe('function');
    if (!reference) {
      for (const name of ['sendRun', 'sendRemoteRun', 'lookUpAnother'] as const) {
        const f = (engine[name] as (...a: unknown[]) => number | boolean).bind(engine);
        engine[name] = (...a: unknown[]) => {
          const r = f(...a);
          if (r === true) taken.lookUps++;
          else if (typeof r === 'number' && r > 0) taken.runs++;
          return r;
        };
      }
      const keepAside = (engine.keepAside as (...a: unknown[]) => unknown).bind(engine);
      engine.keepAside = (...a: unknown[]) => {
        taken.keptAside++;
        return keepAside(...a);
      };
    }
    if (reference) {
      engine.sendRun = () => 0;
      engine.sendRemoteRun = () => 0;
      engine.lookUpAnother = () => false;
      engine.cache = () => {};
    }
    this.remote = new FakeRemote(this.hw);
    this.hw.engine.remote = this.remote;
    for (let p = 0; p < P; p++) this.boot(p);
  }

  private boot(p: number): void {
    this.tx[p] = [];
    this.rx[p] = [];
    this.cq[p] = [];
    for (let q = 0; q < QPS; q++) {
      this.answer('open', this.hw.manager.openQueuePair(this.hw.ports[p], q));
      this.answer('listen', this.hw.manager.listen(this.hw.ports[p], q, 10 + q));
      this.rings(p, q);
    }
  }

  private rings(p: number, q: number): void {
    const r = queuePairRings(this.hw.ports[p].buffer, OPTIONS.geometry, q);
    const hq = this.hw.ports[p].queuePairs[q];
    this.tx[p][q] = new RingProducer(r.send, hq.send.consumedPosition);
    this.rx[p][q] = new RingConsumer(r.receive, 0);
    this.cq[p][q] = new RingConsumer(r.completion, 0);
  }

  private answer(what: string, r: unknown): void {
    this.answers.push(`${what} ${JSON.stringify(r)}`);
  }

  write(p: number, q: number, type: number, handle: number, flags: number, payload: number, publish: boolean): void {
    const tx = this.tx[p][q];
    const at = tx.tryClaim(type, SendBody.BYTES + payload);
    if (at < 0) return;
    tx.u32[at >> 2] = handle;
    tx.u32[(at + SendBody.FLAGS_OFFSET) >> 2] = flags;
    const s = ++this.seq;
    for (let i = 0; i < payload; i++) tx.u8[at + SendBody.BYTES + i] = (s * 37 + i) & 0xff;
    if (publish) tx.publish();
  }

  apply(s: Step, pool: number[]): number | undefined {
    const hw = this.hw;
    // A handle: >= 1000, the k-th live end this queue pair owns now (its channels, ended by their peer
    // or not); 0..999, any handle ever issued (stale, another queue pair's or partition's); < 0, junk.
    const handle = (h: number, p = -1, q = -1): number => {
      if (h < 0) return (-h * 0x9e37_79b9) >>> 0;
      if (h >= 1000 && p >= 0) {
        const t = hw.table;
        const mine: number[] = [];
        for (let slot = 0; slot < t.slotsPerPartition; slot++) {
          const e = t.entry(p, slot);
          if (t.isLive(e) && t.ownerQueuePair[e] === q) mine.push(t.handle(e));
        }
        if (mine.length > 0) return mine[(h - 1000) % mine.length];
      }
      return pool[h % pool.length] ?? 0;
    };
    switch (s.kind) {
      case 'send':
        this.write(s.p, s.q, RecordType.SEND, handle(s.h, s.p, s.q), s.flags, s.payload, s.publish);
        return;
      case 'sends':
        // A burst on a few handles in turn: runs, and lookups taken quietly between them.
        for (let i = 0; i < s.n; i++) this.write(s.p, s.q, RecordType.SEND, handle(s.hs[i % s.hs.length], s.p, s.q), 0, s.payload, false);
        this.tx[s.p][s.q].publish();
        return;
      case 'flood':
        // Added for attack run 16a: a stream on the queue pair's own live ends (two in turn, or one)
        // past what a receive ring holds, served at once, so rings fill and messages are kept aside
        // (THREATS case 51): the traced runs decline while any are kept, and the general path keeps
        // and numbers them.
        for (let i = 0; i < s.n; i++) this.write(s.p, s.q, RecordType.SEND, handle(1000 + (s.two ? i % 2 : 0), s.p, s.q), 0, s.payload, false);
        this.tx[s.p][s.q].publish();
        for (let i = 0; i < 3; i++) hw.engine.round();
        return;
      case 'close':
        this.write(s.p, s.q, RecordType.CLOSE, handle(s.h, s.p, s.q), 0, 0, true);
        return;
      case 'detach':
        this.write(s.p, s.q, RecordType.DETACH, 0, 0, 0, true);
        return;
      case 'publish':
        this.tx[s.p][s.q].publish();
        return;
      case 'reopen':
        this.answer('open', hw.manager.openQueuePair(hw.ports[s.p], s.q));
        this.answer('listen', hw.manager.listen(hw.ports[s.p], s.q, 10 + s.q));
        return;
      case 'connect': {
        const g = hw.manager.connect(hw.ports[s.p], s.q, s.to + 1, 10 + s.tq);
        this.answer('connect', g);
        if (g.ok && s.accept) {
          const a = hw.manager.accept(hw.ports[s.to], s.tq, 10 + s.tq);
          expect(a).not.toBeInstanceOf(Promise);
          this.answer('accept', a);
        }
        return;
      }
      case 'remoteOpen': {
        const port = hw.ports[s.p];
        const r = hw.manager.receiveSideAccept({
          sourceNode: REMOTE_NODE,
          keyEntry: NO_ENTRY,
          sourceChannel: 1000 + s.q,
          sourceWindow: 65536,
          sourceMaxMessage: s.small ? 16 : 4096,
          storeKey: (d) => hw.keys.store(d, 11, 22, 33, 44),
          sourcePartition: 9,
          sourceProcess: 1,
          destinationPartition: port.id,
          destinationService: 10 + s.q,
        });
        this.answer('remote', r);
        if (r.ok && s.accept) {
          const a = hw.manager.accept(port, s.q, 10 + s.q);
          expect(a).not.toBeInstanceOf(Promise);
          this.answer('accept', a);
        }
        return;
      }
      case 'remoteEnd': {
        const t = hw.table;
        const open: number[] = [];
        for (let e = 0; e < t.state.length; e++) if (t.state[e] === ConnectionState.OPEN && t.remoteNode[e] !== 0) open.push(e);
        if (s.linkDown) for (const e of open) hw.engine.endByPeer(e, Status.ELINKDOWN);
        else if (open.length > 0) hw.engine.endByPeer(open[s.k % open.length], Status.OK);
        hw.engine.publishAll();
        return;
      }
      case 'room':
        this.remote.room = s.n;
        return;
      case 'unlisten':
        this.answer('unlisten', hw.manager.unlisten(hw.ports[s.p], s.q, 10 + s.q));
        return;
      case 'drain': {
        const rx = this.rx[s.p][s.q];
        for (let t = rx.poll(); t !== EMPTY && t !== FAULT; t = rx.poll()) rx.consume();
        rx.release();
        const cq = this.cq[s.p][s.q];
        for (let t = cq.poll(); t !== EMPTY && t !== FAULT; t = cq.poll()) cq.consume();
        cq.release();
        return;
      }
      case 'lie': {
        const r = queuePairRings(hw.ports[s.p].buffer, OPTIONS.geometry, s.q);
        const u32 = new Uint32Array(hw.ports[s.p].buffer);
        if (s.receive) {
          const at = (r.receive.base + RING_CONSUMER_POSITION_OFFSET) >> 2;
          u32[at] = (u32[(r.receive.base + RING_PRODUCER_POSITION_OFFSET) >> 2] + 8 + 1024) >>> 0;
        } else u32[(r.send.base + RING_PRODUCER_POSITION_OFFSET) >> 2] = 0xffff_fff8;
        return;
      }
      case 'reset': {
        const r = hw.manager.resetQueuePair(hw.ports[s.p], s.q);
        this.answer('reset', r);
        if (r.ok) this.rings(s.p, s.q);
        return;
      }
      case 'down':
        hw.partitionDown(s.p);
        return;
      case 'restart': {
        const mc = new MessageChannel();
        endpoints.push(mc.port1, mc.port2);
        hw.restartPartition(s.p, mc.port1);
        this.boot(s.p);
        return;
      }
      case 'corrupt':
        hw.engine.corruptStamps(s.p, s.on);
        if (s.on) this.remote.corrupt.add(s.p);
        else this.remote.corrupt.delete(s.p);
        return;
      case 'round': {
        let n = 0;
        for (let i = 0; i < s.n; i++) n += hw.engine.round(s.exact);
        if (s.releaseAll) hw.engine.releaseAll();
        return n;
      }
    }
  }
}

const pi = fc.integer({ min: 0, max: P - 1 });
const qi = fc.integer({ min: 0, max: QPS - 1 });
const h = fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 1000, max: 1007 }) }, { weight: 6, arbitrary: fc.nat({ max: 63 }) }, { weight: 1, arbitrary: fc.integer({ min: -1000, max: -1 }) });
const size = fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 24 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: MAX + 8 }) });
const step = fc.oneof(
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('send' as const), p: pi, q: qi, h, flags: fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0), fc.constant(0), fc.constant(1)), payload: size, publish: fc.oneof(fc.constant(true), fc.constant(true), fc.constant(false)) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('flood' as const), p: pi, q: qi, two: fc.boolean(), n: fc.integer({ min: 8, max: 24 }), payload: fc.integer({ min: 8, max: MAX }) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('sends' as const), p: pi, q: qi, hs: fc.array(h, { minLength: 1, maxLength: 3 }), n: fc.integer({ min: 1, max: 12 }), payload: size }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('close' as const), p: pi, q: qi, h }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('detach' as const), p: pi, q: qi }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('publish' as const), p: pi, q: qi }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reopen' as const), p: pi, q: qi }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('connect' as const), p: pi, q: qi, to: pi, tq: qi, accept: fc.oneof(fc.constant(true), fc.constant(true), fc.constant(false)) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('remoteOpen' as const), p: pi, q: qi, small: fc.boolean(), accept: fc.oneof(fc.constant(true), fc.constant(true), fc.constant(false)) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remoteEnd' as const), linkDown: fc.boolean(), k: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('room' as const), n: fc.oneof(fc.constant(Infinity), fc.integer({ min: 0, max: 3 })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unlisten' as const), p: pi, q: qi }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('drain' as const), p: pi, q: qi }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('lie' as const), p: pi, q: qi, receive: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reset' as const), p: pi, q: qi }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('down' as const), p: pi }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const), p: pi }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('corrupt' as const), p: pi, on: fc.boolean() }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('round' as const), n: fc.integer({ min: 1, max: 3 }), exact: fc.boolean(), releaseAll: fc.boolean() }) },
);
type Step = typeof step extends fc.Arbitrary<infer S> ? S : never;

/** Every handle a live entry of the table ever carried, in the order first seen (the same on both machines). */
function collect(hw: Hardware, pool: number[], seen: Set<number>): void {
  const t = hw.table;
  for (let e = 0; e < t.state.length; e++) {
    if (!t.isLive(e)) continue;
    const key = t.handle(e) * 4 + t.partitionIndexOf(e);
    if (seen.has(key)) continue;
    seen.add(key);
    pool.push(t.handle(e));
  }
}

function same(a: Machine, b: Machine, after: string): void {
  for (let p = 0; p < P; p++) {
    const x = Buffer.from(a.hw.ports[p].buffer);
    const y = Buffer.from(b.hw.ports[p].buffer);
    if (!x.equals(y)) {
      let i = 0;
      while (x[i] === y[i]) i++;
      expect.fail(`after ${after}: partition ${p + 1}'s port differs from the reference at byte ${i}`);
    }
  }
  expect(Array.from(a.hw.counters.values), `counters after ${after}`).toEqual(Array.from(b.hw.counters.values));
  expect(a.remote.log, `link after ${after}`).toEqual(b.remote.log);
  expect(a.answers, `control answers after ${after}`).toEqual(b.answers);
  const records = traceRecords(a.ring);
  expect(records, `trace after ${after}`).toEqual(traceRecords(b.ring));
  // Counted once the whole trace agreed (the last step's records include every earlier one's).
  if (after.startsWith('last')) {
    taken.delivered += records.filter((r) => r[0] === TraceKind.HARDWARE_MESSAGE).length;
    taken.refused += records.filter((r) => r[0] === TraceKind.HARDWARE_REFUSED).length;
    taken.linkSent += records.filter((r) => r[0] === TraceKind.LINK_SEND).length;
  }
}

/** Every record of a trace ring: its kind, its five fields, and which of its four times are set (their values differ run to run). */
function traceRecords(ring: SharedArrayBuffer): number[][] {
  const s = new TraceSnapshot(ring, TRACE_RECORDS);
  expect(s.dropped, 'the trace ring never wrapped (the comparison saw every record)').toBe(0);
  const out: number[][] = [];
  for (let i = 0; i < s.length; i++) {
    const r = s.at(i);
    out.push([s.kind(r), s.field(r, 1), s.field(r, 2), s.field(r, 3), s.field(r, 4), s.field(r, 5), ...[0, 1, 2, 3].map((t) => (s.time(r, t) === 0 ? 0 : 1))]);
  }
  return out;
}

describe('attack run 16a: a traced engine\'s runs against its general path', () => {
  it.each([3, 4])('random hostile steps, sampled 1 in %i: the same trace records (and port bytes, counters, answers, link messages) after every step', (sample) => {
    taken.runs = taken.lookUps = taken.keptAside = taken.delivered = taken.refused = taken.linkSent = 0;
    fc.assert(
      fc.property(fc.array(step, { minLength: 20, maxLength: 120, size: 'max' }), (steps) => {
        const test = new Machine(false, sample);
        const ref = new Machine(true, sample);
        const pool: number[] = [];
        const seen = new Set<number>();
        collect(ref.hw, pool, seen);
        for (const [i, s] of steps.entries()) {
          const n = test.apply(s, pool);
          const m = ref.apply(s, pool);
          expect(n, `round() after step ${i}`).toBe(m);
          same(test, ref, `${i === steps.length - 1 ? 'last ' : ''}step ${i} (${s.kind})`);
          collect(ref.hw, pool, seen);
        }
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    // Not vacuous: traced runs served SENDs, and the traces compared held deliveries, refusals and link sends.
    expect(taken.runs).toBeGreaterThan(0);
    expect(taken.lookUps).toBeGreaterThan(0);
    expect(taken.keptAside).toBeGreaterThan(0);
    expect(taken.delivered).toBeGreaterThan(0);
    expect(taken.refused).toBeGreaterThan(0);
    expect(taken.linkSent).toBeGreaterThan(0);
  }, Math.max(120_000, RUNS * 60));
});

// ── The connect abort race (case 105), from inside a partition ─────────────────────────────────

const ROLES = new URL('../fixtures/security/attack16a-roles.mjs', import.meta.url);

describe('attack run 16a: a program that catches its abort\'s ECLOSED and keeps running', () => {
  it('its waiting connect ends ECLOSED, a new one too; the grant that comes later stays with its queue pair until the program ends, then closes (EPEERDEAD): nothing reaches the program, nothing outlives it', async () => {
    const certs = makeCertificates([1, 2]);
    const machine = await createMachine({
      wait: 'sleep',
      processesPerPartition: 2,
      partitions: [{ id: 1, name: 'victim' }],
      // The answer bound is 10 × deadAfterMs: 10 s, past anything the test waits for.
      node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], tls: certs.tls(2), deadAfterMs: 1000 },
    });
    const peer = await HostilePeer.dial(machine.listening!.port, certs.tls(1));
    try {
      await waitFor('the link to node 1', () => machine.stats().links![0].state === 'up');
      const exits: string[] = [];
      machine.on('partitionExit', ({ reason }) => exits.push(reason));
      const flag = new Int32Array(new SharedArrayBuffer(5 * 4));
      const controller = new AbortController();
      // A long grace: the program runs on under its abort for as long as the test lets it.
      const victim = await machine
        .partition(1)
        .spawn(ROLES, { role: 'connectAbortCaught', target: { node: 1, partition: 1, port: 7 }, flag: flag.buffer }, { signal: controller.signal, abortGraceMs: 60_000 });
      const ended = victim.result.then(
        () => 'resolved',
        (e: { code?: string }) => e.code,
      );
      const connect = await peer.next((f) => f.type === F.FrameType.CONNECT, 'the CONNECT from node 2'); // not answered yet
      controller.abort(new Error('operator gave up'));
      await waitFor('the program to run on past its abort', () => Atomics.load(flag, 1) === 1);
      // Both connects ECLOSED: the one waiting at the abort, and the one tried after it (never asked: one CONNECT only).
      expect(Array.from(flag.subarray(2, 5))).toEqual([1, 1, 1]);
      expect(peer.frames.filter((f) => f.type === F.FrameType.CONNECT)).toHaveLength(0); // the first was taken above

      // Node 1 answers now: the channel opens for the queue pair, which still serves the aborted process.
      const request = connect.bytes.readUInt32LE(F.ConnectFrame.REQUEST_OFFSET);
      const ours = connect.bytes.readUInt32LE(F.ConnectFrame.SOURCE_CHANNEL_OFFSET);
      const key = connect.bytes.subarray(F.ConnectFrame.KEY_OFFSET, F.ConnectFrame.KEY_OFFSET + F.LINK_KEY_BYTES);
      const CHANNEL = 0x6100;
      peer.send(peer.connectOkFrame(request, CHANNEL, 1));
      // It takes node 1's messages on that channel (acknowledged: the end is open), which the program never sees: it holds no channel for it.
      peer.send(peer.dataFrame([1, 2, 3].map((sequence) => ({ channel: ours, sourcePartition: 1, sequence, key, payload: new Uint8Array([sequence]) }))));
      await waitFor('node 2 to acknowledge the 3 messages', () => peer.acknowledged(CHANNEL) === 3);
      const closes = () => peer.frames.filter((f) => f.type === F.FrameType.CLOSE && f.bytes.readUInt32LE(F.CloseFrame.CHANNEL_OFFSET) === CHANNEL);
      expect(closes()).toHaveLength(0); // the aborted program still runs: the grant is its queue pair's until it ends

      // The program ends: its DETACH closes what the grant opened, and node 1 hears it.
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      expect(await ended).toBe('EABORTED');
      const close = await peer.next((f) => f.type === F.FrameType.CLOSE && f.bytes.readUInt32LE(F.CloseFrame.CHANNEL_OFFSET) === CHANNEL, 'the CLOSE of the granted channel');
      expect(close.bytes.readUInt32LE(F.CloseFrame.STATUS_OFFSET)).toBe(Status.EPEERDEAD);
      expect(close.bytes.readUInt32LE(F.CloseFrame.SENDER_CHANNEL_OFFSET)).toBe(ours);
      expect(exits).toEqual([]); // not restarted
      const link = machine.stats().links![0];
      expect(link.violations).toEqual(Object.fromEntries(Object.keys(link.violations).map((k) => [k, 0])));
      expect(machine.partition(1).running).toBe(true);
    } finally {
      peer.close();
      await machine.close();
      certs.remove();
    }
  }, 60_000);
});
