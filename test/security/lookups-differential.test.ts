/**
 * Attack run on the per-queue-pair lookups and Engine.lookUpAnother (in process, one thread).
 *
 * Two machines are driven by exactly the same hostile steps: the machine under test, and a
 * reference whose engine takes the general path for every work request (no runs, no lookups
 * kept: sendRun, sendRemoteRun and lookUpAnother answer 0/false and cache() keeps nothing). After
 * every step both must agree on everything a partition or the operator can see: every byte of
 * every port (deliveries, completions and their coalesced counts, connection tables, ring words),
 * the whole counter block, what round() returned, every control call's answer, and what was
 * handed to the link (a fake RemoteEnds for channels to another node). So a SEND served by a run
 * gets exactly the answer, counters and delivery the general path gives it.
 *
 * The steps mix, on three partitions of three queue pairs each: SENDs on any handle ever issued
 * (current, closed, reused slots, other queue pairs, other partitions, ends whose peer closed or
 * died, unaccepted ends, ends to another node) or a garbage one, with bad flags and sizes;
 * CLOSE and DETACH records; connects and accepts (slot reuse), listeners closed with a backlog;
 * queue pairs faulted (receive consumer ahead, send producer out of reach) and reset; partitions
 * taken down and restarted; stamps corrupted; receive rings left full; remote ends opened, closed
 * by their peer, their link down, the link taking no more. LOOKUP_FUZZ_RUNS sets the number of
 * cases (default 1000, about 15 s); FUZZ_SEED replays one. The runs must also have taken the paths
 * under test (runs, and lookups taken quietly), or agreeing with the reference would prove nothing.
 * The harness is engine-differential.ts (shared with attack16a-cover.test.ts).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { closeEndpoints, collect, Machine, same, step, taken } from './engine-differential.js';

const RUNS = Number(process.env.LOOKUP_FUZZ_RUNS ?? 1000);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
/** The traced machines' sampling (every 3rd: the division, not the mask) and trace ring. */
const TRACE = { sample: 3, records: 1024 };
afterAll(closeEndpoints);

describe('attack: per-queue-pair lookups and lookUpAnother against a general-path-only reference', () => {
  // The third: the untraced machine, runs and all, against a traced one (attack run 14a): tracing
  // on or off, a partition and the operator see exactly the same answers, deliveries and counts.
  it.each([
    ['', false, RUNS, false],
    [' (tracing on)', true, Math.ceil(RUNS / 4), false],
    [' (untraced against traced)', false, Math.ceil(RUNS / 4), true],
  ])(`random hostile runs%s: every port byte, counter and link message equals the reference's after every step`, (_, traced, runs, tracedReference) => {
    taken.runs = taken.lookUps = 0;
    fc.assert(
      fc.property(fc.array(step({ flood: false }), { minLength: 20, maxLength: 120, size: 'max' }), (steps) => {
        const test = new Machine(false, traced ? TRACE : undefined);
        const ref = tracedReference ? new Machine(false, TRACE) : new Machine(true, traced ? TRACE : undefined);
        const pool: number[] = [];
        const seen = new Set<number>();
        collect(ref.hw, pool, seen);
        for (const [i, s] of steps.entries()) {
          const n = test.apply(s, pool);
          const m = ref.apply(s, pool);
          expect(n, `round() after step ${i}`).toBe(m);
          same(test, ref, `step ${i} (${s.kind})`);
          collect(ref.hw, pool, seen);
        }
      }),
      { numRuns: runs, seed: SEED, endOnFailure: true },
    );
    // Not vacuous: lookups were taken quietly, and runs served SENDs (traced too, since wave 27).
    expect(taken.lookUps).toBeGreaterThan(0);
    expect(taken.runs).toBeGreaterThan(0);
  }, Math.max(120_000, RUNS * 40));
});
