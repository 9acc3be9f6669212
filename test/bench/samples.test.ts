/**
 * How a run's samples become the rows it reports: medians with every sample
 * kept, ratios paired within a round and only against a baseline of the same
 * shape, latency pooled as ib_send_lat would over all round trips, and
 * Jain's index.
 */
import { describe, expect, it } from 'vitest';
import { row, type ResultRow } from '../../bench/results.js';
import { mergeRounds } from '../../bench/samples.js';
import { jainIndex, median, spreadOf } from '../../bench/spread.js';

const bw = (system: ResultRow['system'], variant: string, msgsPerSec: number, suite = 'bandwidth'): ResultRow =>
  row({ suite, system, variant, payloadBytes: 64, msgsPerSec });

describe('samples and spreads', () => {
  it('median, spread and Jain index', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(spreadOf([1, 2, 3])).toEqual({ values: [1, 2, 3], min: 1, max: 3, mean: 2, stdev: 1 });
    expect(spreadOf([5]).stdev).toBe(0);
    expect(jainIndex([2, 2, 2])).toBe(1);
    expect(jainIndex([1, 0])).toBe(0.5);
    expect(jainIndex([3, 1])).toBeCloseTo(16 / 20, 12);
    expect(() => median([])).toThrow(RangeError);
    expect(() => jainIndex([1, -1])).toThrow(/non-negative/);
  });

  it('pairs each lparlink row with the same-shape baseline of its own round, and merges to medians with every sample', () => {
    // Round 1 ran under load (everything halved): per-round ratios stay 0.5, 0.5, 0.5.
    const rounds = [
      [bw('lparlink', 'batched', 2), bw('raw-relay', 'batched', 4), bw('raw-relay', 'per-message', 100), bw('postMessage', 'per-message', 1)],
      [bw('lparlink', 'batched', 1), bw('raw-relay', 'batched', 2), bw('raw-relay', 'per-message', 100), bw('postMessage', 'per-message', 1)],
      [bw('lparlink', 'batched', 3), bw('raw-relay', 'batched', 6), bw('raw-relay', 'per-message', 100), bw('postMessage', 'per-message', 1)],
    ];
    const merged = mergeRounds(rounds);
    const ours = merged.find((r) => r.system === 'lparlink')!;
    expect(ours.samples).toBe(3);
    expect(ours.msgsPerSec).toBe(2);
    expect(ours.spread.msgsPerSec).toMatchObject({ values: [2, 1, 3], min: 1, max: 3 });
    expect(ours.vsRawRelay).toBe(0.5); // batched against batched, never against per-message
    expect(ours.spread.vsRawRelay!.values).toEqual([0.5, 0.5, 0.5]);
    expect(ours.vsPostMessage).toBe(2);
    expect(merged.filter((r) => r.system === 'raw-relay').map((r) => r.variant)).toEqual(['batched', 'per-message']);
  });

  it('gives rows of a shape no baseline has (all-to-all, fan-in, fairness) no ratio, even when the bandwidth suite ran', () => {
    const round = [bw('lparlink', 'batched', 2), bw('raw-relay', 'batched', 4), bw('postMessage', 'per-message', 1)];
    for (const suite of ['all-to-all', 'fan-in', 'fairness']) round.push(bw('lparlink', 'batched', 3, suite));
    const merged = mergeRounds([round]);
    for (const r of merged.filter((x) => x.suite !== 'bandwidth')) {
      expect(r.vsRawRelay, r.suite).toBeNull();
      expect(r.vsPostMessage, r.suite).toBeNull();
    }
    expect(merged.find((r) => r.suite === 'bandwidth' && r.system === 'lparlink')!.vsRawRelay).toBe(0.5);
  });

  it('pools latency samples: min of mins, max of maxes, the mean and stdev of all round trips; ratios of p50', () => {
    const lat = (system: ResultRow['system'], n: number, mean: number, stdev: number, p50: number, min: number, max: number): ResultRow =>
      row({ suite: 'latency', system, variant: 'round-trip', payloadBytes: 64, msgsPerSec: n, roundTrips: n, meanUs: mean, stdevUs: stdev, p50us: p50, p99us: max, p999us: max, minUs: min, maxUs: max, distribution: [[50, p50]] });
    const merged = mergeRounds([
      [lat('lparlink', 100, 10, 1, 10, 5, 20), lat('raw-relay', 100, 5, 1, 5, 2, 9)],
      [lat('lparlink', 300, 14, 2, 12, 6, 40), lat('raw-relay', 300, 6, 1, 6, 3, 8)],
    ]);
    const ours = merged.find((r) => r.system === 'lparlink')!;
    expect(ours).toMatchObject({ roundTrips: 400, minUs: 5, maxUs: 40, meanUs: 13 });
    // Population variance of the union: (100·(1 + 9) + 300·(4 + 1)) / 400 = 6.25.
    expect(ours.stdevUs).toBeCloseTo(2.5, 12);
    expect(ours.spread.vsRawRelay!.values).toEqual([0.5, 0.5]);
    expect(ours.p50us).toBe(11);
  });

  it("pools the round trips of fairness's request/response rows too, and leaves its stream rows without any", () => {
    const pair = (variant: string, n: number, mean: number, p50: number, p99: number): ResultRow =>
      row({ suite: 'fairness', system: 'lparlink', variant, payloadBytes: 64, partitions: 3, msgsPerSec: n, roundTrips: n, meanUs: mean, stdevUs: 0, p50us: p50, p99us: p99, p999us: p99, minUs: p50, maxUs: p99 });
    const stream = bw('lparlink', 'stream alone', 5e6, 'fairness');
    const merged = mergeRounds([
      [pair('request-response beside flooder', 100, 40, 30, 600), stream],
      [pair('request-response beside flooder', 300, 80, 34, 900), stream],
      [pair('request-response beside flooder', 100, 60, 32, 700), stream],
    ]);
    const rr = merged.find((r) => r.variant === 'request-response beside flooder')!;
    // The mean is over all 500 round trips (not the median sample's 60), the percentiles are medians.
    expect(rr).toMatchObject({ roundTrips: 500, meanUs: 68, stdevUs: 16, minUs: 30, maxUs: 900, p50us: 32, p99us: 700 });
    expect(rr.spread.p99us!.values).toEqual([600, 900, 700]);
    expect(rr.distribution).toBeUndefined();
    expect(merged.find((r) => r.variant === 'stream alone')).toMatchObject({ roundTrips: null, meanUs: null, p50us: null });
  });
});
