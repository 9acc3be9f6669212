/**
 * The differential harness of the engine (in process, one thread): two hardwares driven by exactly
 * the same hostile steps, a partition's records written straight into their ports, and compared
 * after every step (every port byte, the counter block, every control answer, what was handed to
 * the link). Used by lookups-differential.test.ts (runs and kept lookups against the general path)
 * and attack16a-cover.test.ts (a traced engine's runs against its general path, trace records too).
 */
import fc from 'fast-check';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { expect } from 'vitest';
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
import { allocateTraceRing } from '../../src/shared/trace-ring.js';

export const P = 3;
const QPS = 3;
export const MAX = 64;
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
export const OPTIONS = resolveOptions(OPTIONS_INPUT);
const REMOTE_NODE = 5;
/**
 * How often the machines under test took the paths under test (a run that served, lookups taken
 * quietly, a message kept aside for a full receive ring); a test zeroes it, then checks it moved.
 */
export const taken = { runs: 0, lookUps: 0, keptAside: 0 };
/** The engine's methods the reference replaces or the test counts (private, so a rename would leave them untouched: checked). */
const RUN_PATH = ['sendRun', 'sendRemoteRun', 'lookUpAnother', 'cache', 'keepAside'] as const;

/** Every MessagePort a restart bound: a test file closes them at its end (they would hold the test process). */
const endpoints: MessagePort[] = [];
export function closeEndpoints(): void {
  for (const p of endpoints.splice(0)) p.close();
}

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

/** One hardware driven in process by the steps, with the rings a hostile partition writes. */
export class Machine {
  readonly hw: Hardware;
  readonly remote: FakeRemote;
  tx: RingProducer[][] = [];
  rx: RingConsumer[][] = [];
  cq: RingConsumer[][] = [];
  readonly answers: string[] = [];
  /** The hardware's trace ring, when traced. */
  readonly ring: SharedArrayBuffer | undefined;
  private seq = 0;

  /**
   * `reference`: its engine takes the general path for every work request (no runs, no lookups
   * kept). `trace`: the engine traces (every `sample`-th message of a channel, into a ring of
   * `records`).
   */
  constructor(reference: boolean, trace?: { sample: number; records: number }) {
    this.ring = trace === undefined ? undefined : allocateTraceRing(trace.records);
    this.hw =
      trace === undefined
        ? new Hardware(OPTIONS)
        : new Hardware(resolveOptions({ ...OPTIONS_INPUT, trace }), { ports: [], counters: undefined as unknown as SharedArrayBuffer, trace: this.ring });
    if (trace !== undefined) expect(this.hw.engine.tracer).toBeDefined();
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
        // (THREATS case 51): runs decline while any are kept, and the general path keeps them.
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
const STEPS = [
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('send' as const), p: pi, q: qi, h, flags: fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0), fc.constant(0), fc.constant(1)), payload: size, publish: fc.oneof(fc.constant(true), fc.constant(true), fc.constant(false)) }) },
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
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('flood' as const), p: pi, q: qi, two: fc.boolean(), n: fc.integer({ min: 8, max: 24 }), payload: fc.integer({ min: 8, max: MAX }) }) },
] as const;
/** One step of a hostile run; `flood` (attack run 16a) fills receive rings so that messages are kept aside. */
export type Step = (typeof STEPS)[number]['arbitrary'] extends fc.Arbitrary<infer S> ? S : never;
/** A step, `flood` among them only when asked: lookups-differential's runs predate it. */
export function step({ flood }: { flood: boolean }): fc.Arbitrary<Step> {
  return fc.oneof(...STEPS.filter((s) => flood || s !== STEPS[STEPS.length - 1])) as fc.Arbitrary<Step>;
}

/** Every handle a live entry of the table ever carried, in the order first seen (the same on both machines). */
export function collect(hw: Hardware, pool: number[], seen: Set<number>): void {
  const t = hw.table;
  for (let e = 0; e < t.state.length; e++) {
    if (!t.isLive(e)) continue;
    const key = t.handle(e) * 4 + t.partitionIndexOf(e);
    if (seen.has(key)) continue;
    seen.add(key);
    pool.push(t.handle(e));
  }
}

/** Both machines agree on every port byte, the counter block, the link's log and every control answer. */
export function same(a: Machine, b: Machine, after: string): void {
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
}
