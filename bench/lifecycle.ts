/**
 * Lifecycle benchmark: how long `createMachine` takes to boot a machine with
 * 4 partitions, and `machine.close()` to stop it, against one bare
 * `new Worker` spawn measured in the same run (rounds interleaved, so load
 * from elsewhere hits every case alike).
 *
 * "Bare spawn" is `new Worker(minimal ES module)` until the module posts its
 * first message: the same point a partition reaches when it says it booted.
 * A machine is 1 hardware worker + N partition workers, so the run also
 * measures N + 1 bare workers spawned at once: the floor for a parallel boot
 * on this machine's cores. And since `createMachine` resolves only when every
 * partition's OS is up, it measures the time to first useful work too:
 * `createMachine` plus one trivial program run in every partition.
 *
 * Targets (issue 6): boot ≤ 3 × one bare spawn, close ≤ 50 ms.
 *
 * `node dist/bench/lifecycle.js [--rounds N] [--partitions N] [--json]`
 */
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { createMachine } from '../src/index.js';

export interface LifecycleBenchOptions {
  /** Measured rounds, each with one of every case (default 15). */
  readonly rounds?: number;
  /** Unmeasured rounds first (default 3). */
  readonly warmup?: number;
  /** Partitions per machine (default 4). */
  readonly partitions?: number;
}

/** Milliseconds over the measured rounds. */
export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly samples: readonly number[];
}

export interface LifecycleBenchReport {
  readonly node: string;
  readonly cpus: number;
  readonly rounds: number;
  readonly partitions: number;
  /** One `new Worker` until its module ran (first message). */
  readonly bareSpawnMs: Summary;
  /** One `new Worker` until its 'online' event (thread started, before the module loads). */
  readonly bareOnlineMs: Summary;
  /** partitions + 1 bare workers started at once, until all ran: the floor of a parallel boot here. */
  readonly bareParallelMs: Summary;
  /** `createMachine` until it resolves (every worker booted). */
  readonly bootMs: Summary;
  /** `createMachine` plus one trivial program run to completion in every partition: time to first useful work. */
  readonly firstResultMs: Summary;
  /** `machine.close()` until it resolves (every worker exited). */
  readonly closeMs: Summary;
  /** bootMs.median / bareSpawnMs.median; target ≤ 3. */
  readonly bootRatio: number;
  /** bootMs.median / bareParallelMs.median: how close boot is to its floor. */
  readonly bootVsParallelFloor: number;
  readonly targets: { readonly bootRatio: number; readonly closeMs: number };
  readonly met: { readonly boot: boolean; readonly close: boolean };
}

const DEFAULTS = { rounds: 15, warmup: 3, partitions: 4 } as const;
const TARGETS = { bootRatio: 3, closeMs: 50 } as const;

/** A compiled module of this folder (workers run JavaScript even when this file runs as TypeScript). */
function compiled(name: string): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL(`../dist/bench/${name}.js`, here) : new URL(`./${name}.js`, here);
}

async function spawnBare(count: number, until: 'message' | 'online'): Promise<number> {
  const url = compiled('lifecycle-bare');
  const start = performance.now();
  const workers = Array.from({ length: count }, () => new Worker(url));
  try {
    await Promise.all(workers.map((w) => once(w, until)));
    return performance.now() - start;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** Boot (and with runPrograms, run a trivial program in every partition), then close; both timed. */
async function bootAndClose(partitions: number, runPrograms: boolean): Promise<{ boot: number; close: number }> {
  const start = performance.now();
  const machine = await createMachine({ partitions: Array.from({ length: partitions }, (_, i) => ({ id: i + 1 })) });
  let ready: number;
  try {
    if (runPrograms) await Promise.all(machine.partitions.map(async (p) => (await p.spawn(compiled('lifecycle-program'))).result));
    ready = performance.now();
  } catch (e) {
    await machine.close();
    throw e;
  }
  await machine.close();
  return { boot: ready - start, close: performance.now() - ready };
}

function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1], samples };
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`lifecycle bench: ${name} must be a positive integer, got ${String(value)}`);
  return v;
}

/** Run the benchmark; returns structured results (see formatLifecycleBench for a table). */
export async function runLifecycleBench(options: LifecycleBenchOptions = {}): Promise<LifecycleBenchReport> {
  const rounds = positiveInt('rounds', options.rounds, DEFAULTS.rounds);
  const warmup = options.warmup ?? DEFAULTS.warmup;
  const partitions = positiveInt('partitions', options.partitions, DEFAULTS.partitions);
  const s = { spawn: [] as number[], online: [] as number[], parallel: [] as number[], boot: [] as number[], close: [] as number[], first: [] as number[] };
  for (let r = 0; r < warmup + rounds; r++) {
    const spawn = await spawnBare(1, 'message');
    const online = await spawnBare(1, 'online');
    const parallel = await spawnBare(partitions + 1, 'message');
    const { boot, close } = await bootAndClose(partitions, false);
    const first = (await bootAndClose(partitions, true)).boot;
    if (r < warmup) continue;
    s.first.push(first);
    s.spawn.push(spawn);
    s.online.push(online);
    s.parallel.push(parallel);
    s.boot.push(boot);
    s.close.push(close);
  }
  const bareSpawnMs = summarize(s.spawn);
  const bootMs = summarize(s.boot);
  const closeMs = summarize(s.close);
  const bareParallelMs = summarize(s.parallel);
  const bootRatio = bootMs.median / bareSpawnMs.median;
  return {
    node: process.version,
    cpus: availableParallelism(),
    rounds,
    partitions,
    bareSpawnMs,
    bareOnlineMs: summarize(s.online),
    bareParallelMs,
    bootMs,
    firstResultMs: summarize(s.first),
    closeMs,
    bootRatio,
    bootVsParallelFloor: bootMs.median / bareParallelMs.median,
    targets: TARGETS,
    met: { boot: bootRatio <= TARGETS.bootRatio, close: closeMs.median <= TARGETS.closeMs },
  };
}

/** A small table for humans. */
export function formatLifecycleBench(r: LifecycleBenchReport): string {
  const row = (name: string, x: Summary, note = '') =>
    `  ${name.padEnd(40)} ${x.median.toFixed(1).padStart(8)} ${x.min.toFixed(1).padStart(8)} ${x.max.toFixed(1).padStart(8)}  ${note}\n`;
  return (
    `lifecycle: ${r.partitions} partitions, ${r.rounds} rounds, node ${r.node}, ${r.cpus} cpus (ms: median, min, max)\n` +
    row('bare new Worker (module ran)', r.bareSpawnMs) +
    row('bare new Worker (online)', r.bareOnlineMs) +
    row(`${r.partitions + 1} bare workers at once`, r.bareParallelMs, 'the floor for a parallel boot') +
    row('createMachine', r.bootMs, `${r.bootRatio.toFixed(2)}× bare spawn (target ≤ ${r.targets.bootRatio}×) ${r.met.boot ? 'met' : 'MISSED'}; ${r.bootVsParallelFloor.toFixed(2)}× the floor`) +
    row('createMachine + a program per partition', r.firstResultMs, 'time to first useful work') +
    row('machine.close()', r.closeMs, `target ≤ ${r.targets.closeMs} ms ${r.met.close ? 'met' : 'MISSED'}`)
  );
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { rounds: { type: 'string' }, partitions: { type: 'string' }, json: { type: 'boolean', default: false } },
    strict: true,
  });
  const report = await runLifecycleBench({
    rounds: values.rounds === undefined ? undefined : Number(values.rounds),
    partitions: values.partitions === undefined ? undefined : Number(values.partitions),
  });
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatLifecycleBench(report));
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`lifecycle bench: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  });
}
