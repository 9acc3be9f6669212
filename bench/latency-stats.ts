/**
 * Round-trip statistics as `ib_send_lat` prints them: min, mean, stdev,
 * p50, p99, p99.9 and max, recorded in a node:perf_hooks histogram. Shared
 * by the bench programs (inside partitions) and the baselines' workers.
 */
import { createHistogram } from 'node:perf_hooks';

/** Round-trip latencies in microseconds. */
export interface LatencySummary {
  roundTrips: number;
  seconds: number;
  minUs: number;
  meanUs: number;
  stdevUs: number;
  p50us: number;
  p99us: number;
  p999us: number;
  maxUs: number;
  /** [percentile, microseconds] pairs for a distribution chart. */
  distribution: Array<[number, number]>;
}

const CHART_PERCENTILES = [1, 5, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99];

/**
 * Run `op` one at a time for `durationMs`, each run timed into a histogram (one clock read between
 * two runs ends the one and starts the next); the summary of them all.
 */
export async function timeEach(durationMs: number, op: () => Promise<unknown>): Promise<LatencySummary> {
  const rec = latencyRecorder();
  const start = performance.now();
  const end = start + durationMs;
  let n = 0;
  for (let now = start; now < end; n++) {
    const t0 = now;
    await op();
    now = performance.now();
    rec.record((now - t0) * 1e6);
  }
  return rec.summary(n, (performance.now() - start) / 1000);
}

export function latencyRecorder(): { record(ns: number): void; summary(roundTrips: number, seconds: number): LatencySummary } {
  const h = createHistogram({ lowest: 1, highest: 60_000_000_000, figures: 3 });
  return {
    record(ns: number) {
      h.record(Math.max(1, Math.round(ns)));
    },
    summary(roundTrips: number, seconds: number) {
      const us = (ns: number): number => ns / 1000;
      const distribution: Array<[number, number]> = CHART_PERCENTILES.map((p) => [p, us(h.percentile(p))]);
      distribution.push([100, us(h.max)]);
      return {
        roundTrips,
        seconds,
        minUs: us(h.min),
        meanUs: us(h.mean),
        stdevUs: us(h.stddev),
        p50us: us(h.percentile(50)),
        p99us: us(h.percentile(99)),
        p999us: us(h.percentile(99.9)),
        maxUs: us(h.max),
        distribution,
      };
    },
  };
}
