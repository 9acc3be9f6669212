/**
 * Attack run 16a (found nothing; listed in THREATS under "Found nothing (attack run 16a)"): a traced
 * engine serves runs (Engine.sendRun, sendRemoteRun, each ending before its channel's next sampled
 * message: HardwareTrace.unsampledRun). Can a hostile partition make the hardware's trace lie:
 * record a message that was not delivered, miss a sampled one, number one differently from the
 * one-at-a-time path (the sender and the receiver number a channel's messages themselves, and a
 * flow is joined by that number)?
 *
 * The engine's differential harness (engine-differential.ts, as lookups-differential.test.ts), with
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
import { afterAll, describe, expect, it } from 'vitest';
import { makeCertificates } from '../link/certs.js';
import { F, HostilePeer } from '../link/hostile-peer.js';
import { LOOPBACK } from '../link/pair.js';
import { closeEndpoints, collect, Machine, same, step, taken } from './engine-differential.js';
import { waitFor } from './harness.js';
import { Status } from '../../src/shared/errors.js';
import { TraceKind } from '../../src/shared/trace-layout.js';
import { TraceSnapshot } from '../../src/shared/trace-ring.js';

const RUNS = Number(process.env.LOOKUP_FUZZ_RUNS ?? 400);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const TRACE_RECORDS = 4096;
/** The trace records the comparisons saw, by kind (counted once a run's whole trace agreed). */
const recorded = { delivered: 0, refused: 0, linkSent: 0 };
afterAll(closeEndpoints);

/** same(), and the hardware's trace records too. */
function sameTraced(a: Machine, b: Machine, after: string): void {
  same(a, b, after);
  const records = traceRecords(a.ring!);
  expect(records, `trace after ${after}`).toEqual(traceRecords(b.ring!));
  // Counted once the whole trace agreed (the last step's records include every earlier one's).
  if (after.startsWith('last')) {
    recorded.delivered += records.filter((r) => r[0] === TraceKind.HARDWARE_MESSAGE).length;
    recorded.refused += records.filter((r) => r[0] === TraceKind.HARDWARE_REFUSED).length;
    recorded.linkSent += records.filter((r) => r[0] === TraceKind.LINK_SEND).length;
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
    taken.runs = taken.lookUps = taken.keptAside = recorded.delivered = recorded.refused = recorded.linkSent = 0;
    fc.assert(
      fc.property(fc.array(step({ flood: true }), { minLength: 20, maxLength: 120, size: 'max' }), (steps) => {
        const test = new Machine(false, { sample, records: TRACE_RECORDS });
        const ref = new Machine(true, { sample, records: TRACE_RECORDS });
        const pool: number[] = [];
        const seen = new Set<number>();
        collect(ref.hw, pool, seen);
        for (const [i, s] of steps.entries()) {
          const n = test.apply(s, pool);
          const m = ref.apply(s, pool);
          expect(n, `round() after step ${i}`).toBe(m);
          sameTraced(test, ref, `${i === steps.length - 1 ? 'last ' : ''}step ${i} (${s.kind})`);
          collect(ref.hw, pool, seen);
        }
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    // Not vacuous: traced runs served SENDs, and the traces compared held deliveries, refusals and link sends.
    expect(taken.runs).toBeGreaterThan(0);
    expect(taken.lookUps).toBeGreaterThan(0);
    expect(taken.keptAside).toBeGreaterThan(0);
    expect(recorded.delivered).toBeGreaterThan(0);
    expect(recorded.refused).toBeGreaterThan(0);
    expect(recorded.linkSent).toBeGreaterThan(0);
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
