/**
 * `lparlink bench`: perftest-style suites for partition-to-partition
 * messaging, each lparlink row beside the baselines measured in the same run
 * (raw relay, raw ring, postMessage, comlink, piscina).
 *
 *   lparlink bench [--suite NAME] [--partitions N] [--size BYTES…] [--duration S]
 *                  [--wait spin|sleep|adaptive] [--json [FILE]] [--report FILE] [--cpu-prof DIR]
 *                  [--trace FILE [--trace-sample N] [--trace-records N]]
 */
import { writeFileSync } from 'node:fs';
import { join as joinPath, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import type { Machine, WaitMode } from '../src/index.js';
import { DEFAULTS, droppedAdvice, MAX_TRACE_RECORDS, MIN_TRACE_RECORDS, recordThreadName, setThreadLabel, THREAD_NAMES_ENV, WAIT_MODES } from '../src/internal.js';
import { withMachine } from './fabric.js';
import { BenchTrace } from './trace.js';
import { printBusiest, runProfiled } from './profile.js';
import { renderReport } from './report.js';
import { unwritable } from './output-path.js';
import { decimalNumber, joinNegativeValues, NEGATIVE_NUMBER } from './negative-values.js';
import { packageVersion } from './package-version.js';
import { machineInfo, roundedLoad, type BenchJson, type ResultRow } from './results.js';
import { mergeRounds } from './samples.js';
import { formatTable } from './table.js';
import { formatRingBench } from './ring.js';
import { benchCertificates } from './link-certs.js';
import { ALL, LINK_WARMUP_MS, SUITES, type Case, type RunContext, type SuiteOptions } from './suites.js';

/** Seconds per case: 3 samples of 0.25 s keep every suite together at about a minute on 2 cores. */
const DEFAULT_DURATION_S = 0.75;
/** Samples per case by default; fewer when --duration leaves a sample less than MIN_SAMPLE_S. */
const DEFAULT_SAMPLES = 3;
const MIN_SAMPLE_S = 0.2;
const MAX_SAMPLES = 20;
const DEFAULT_PARTITIONS = 4;
/** --trace-sample: every 64th message keeps tracing's cost small (README "Tracing"). */
const DEFAULT_TRACE_SAMPLE = 64;
const MAX_PAYLOAD = 64 * 1024;
/** The ring suite's own default, kept from before the other suites existed. */
const RING_DEFAULT_DURATION_S = 5;
/**
 * The link suite's: each sample starts two processes and a TLS link, and leaves out its first 250
 * ms (warm-up). Five samples of 1 s: the raw TLS socket's rate moves by up to a third from one
 * sample to the next, and a median of three followed it.
 */
const LINK_DEFAULT_DURATION_S = 5;
const LINK_DEFAULT_SAMPLES = 5;
/**
 * The fairness suite's, run alone: 3 samples of 1 s. With 0.25 s samples the request/response
 * pair's rate beside the flooder moved from 4.9k to 13.5k round trips/s between runs of one build
 * (kept of alone 0.23–0.86); with 1 s samples, 0.43–0.57.
 */
const FAIRNESS_DEFAULT_DURATION_S = 3;
/** Suites --trace does not record, and why. */
const UNTRACED_SUITES = new Map([
  ['link', 'its two nodes run in two processes'],
  ['ring', 'it boots no machine'],
  ['lifecycle', 'tracing would slow the boots it times'],
]);

const usage = `usage: lparlink bench [--suite NAME] [--partitions N] [--size BYTES…] [--duration S] [--samples N]
                      [--wait spin|sleep|adaptive] [--no-demote] [--json [FILE]] [--report FILE] [--cpu-prof DIR]
                      [--trace FILE [--trace-sample N] [--trace-records N]]

options:
  --suite NAME      a suite below, several joined by commas, or 'all' (the default: every suite
                    but those marked 'not in all'; about a minute on 2 cores)
  --partitions N    most partitions for all-to-all, fan-in and fairness (default ${DEFAULT_PARTITIONS}, 2 to 64)
  --size BYTES…     payload sizes, e.g. --size 64 4K 64K (default: each suite's own; multiples
                    of 4 from 4 to 64K)
  --duration S      seconds per case, shared by its samples (default ${DEFAULT_DURATION_S}; ring ${RING_DEFAULT_DURATION_S}, link ${LINK_DEFAULT_DURATION_S},
                    fairness ${FAIRNESS_DEFAULT_DURATION_S} when run alone)
  --samples N       samples per case, 1 to ${MAX_SAMPLES} (default ${DEFAULT_SAMPLES}, link ${LINK_DEFAULT_SAMPLES}; fewer when a sample would be under ${MIN_SAMPLE_S} s);
                    the table shows their median and range, --json every sample
  --wait MODE       how idle threads wait: spin, sleep or adaptive (default adaptive)
  --no-demote       machines keep every partition's thread at its priority (createMachine's
                    demoteFlooders: false); the first line says whether flooders were lowered
  --json [FILE]     write { version, machine, command, results } as JSON to FILE (stdout without FILE)
  --report FILE     write a self-contained HTML report with charts
  --cpu-prof DIR    write one .cpuprofile per thread and DIR/threads.json (thread id → name)
  --trace FILE      trace every machine of the run and write one message-flow trace
                    (Chrome Trace Event Format: ui.perfetto.dev, chrome://tracing, DevTools)
  --trace-sample N  trace every Nth message of each channel (default ${DEFAULT_TRACE_SAMPLE})
  --trace-records N records per thread's trace ring of each machine, ${MIN_TRACE_RECORDS} to ${MAX_TRACE_RECORDS}
                    (default ${DEFAULTS.traceRecords}; a full ring overwrites its oldest records)
  -h, --help        show this help

suites:
${Object.entries(SUITES)
  .map(([name, s]) => `  ${name.padEnd(12)}  ${s.describe}`)
  .join('\n')}

Every lparlink row of the bandwidth, latency and micro suites shows its
ratio to the raw relay (producer → relay → consumer over two plain rings, no
verification) of the same shape, and those of bandwidth and latency also to
postMessage (micro runs in one thread, where postMessage has no twin), paired
within each round of samples. All-to-all, fan-in and fairness have no baseline of their shape,
so no ratio. The link suite's lparlink rows (two nodes, two OS processes)
show their ratio to a raw TLS 1.3 socket between the same two processes that
packs framed messages into large writes, its best case. Both receivers leave
each link sample's first ${LINK_WARMUP_MS} ms (JIT warm-up; at most a quarter of
the sample) out of what they count.
`;

/** A usage error: one line saying what was wrong, one saying where the usage is; nothing runs (exit 2). */
function fail(message: string): number {
  process.stderr.write(`lparlink bench: ${message}\nRun 'lparlink bench --help' for usage.\n`);
  return 2;
}

/** Exit code after Ctrl-C: 128 + SIGINT, as shells report it. */
const INTERRUPTED = 130;
/** The run itself failed (cli/exit.ts's EXIT.FAILED: bench/ imports only bench/ and src/). */
const RUN_FAILED = 1;

/** 64, 4K, 4KiB, 64k → bytes; NaN when unreadable. */
function parseSize(text: string): number {
  const m = /^(\d+)\s*(k|kb|kib)?$/i.exec(text.trim());
  if (m === null) return Number.NaN;
  return Number(m[1]) * (m[2] ? 1024 : 1);
}

/**
 * parseArgs wants `--size 64 --size 4K`; also accept `--size 64 4K 64K`,
 * `--size 64,4K`, and a bare `--json` (print to stdout).
 */
function normalize(argv: readonly string[]): string[] {
  const out: string[] = [];
  const sizeValue = (v: string): boolean => !v.startsWith('-') || NEGATIVE_NUMBER.test(v);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--size' || a.startsWith('--size=')) {
      // --size 64 4K, --size=64 4K and --size 64,4K alike; a negative size reaches the range check.
      const values = a === '--size' ? [] : [a.slice('--size='.length)];
      while (i + 1 < argv.length && sizeValue(argv[i + 1])) values.push(argv[++i]);
      const parts = values.flatMap((v) => v.split(',')).filter(Boolean);
      if (parts.length === 0) out.push('--size=');
      for (const part of parts) out.push(`--size=${part}`);
    } else if (a === '--json' && (i + 1 >= argv.length || argv[i + 1].startsWith('-'))) {
      // No file (or '-'): JSON to stdout.
      if (argv[i + 1] === '-') i++;
      out.push('--json=-');
    } else out.push(a);
  }
  return joinNegativeValues(out, VALUE_OPTIONS);
}

/** The options that take one value (normalize() reads --size, which takes several, and --json, whose value may be left out). */
const VALUE_OPTIONS = new Set(['--suite', '--partitions', '--duration', '--samples', '--wait', '--report', '--cpu-prof', '--trace', '--trace-sample', '--trace-records']);

/** Boots at most one machine per (suite, partitions) and reuses it across that suite's cases. */
class MachinePool implements RunContext {
  private current: { key: string; machine: Machine; done: () => void; closed: Promise<void> } | undefined;
  ringReport?: RunContext['ringReport'];

  constructor(
    private readonly wait: WaitMode,
    private readonly maxPayload: number,
    readonly trace: BenchTrace | undefined,
    private readonly demoteFlooders: boolean,
  ) {}

  async machine(partitions: number, label: string, ringBytes?: number, messageBytes = 0): Promise<Machine> {
    const maxPayload = Math.max(this.maxPayload, messageBytes);
    const key = `${label}:${partitions}:${ringBytes}:${maxPayload}`;
    if (this.current?.key === key) return this.current.machine;
    await this.close();
    let done!: () => void;
    const release = new Promise<void>((r) => (done = r));
    let booted!: (m: Machine) => void;
    const ready = new Promise<Machine>((r) => (booted = r));
    const closed = withMachine(partitions, { wait: this.wait, maxPayload, ringBytes, trace: this.trace, demoteFlooders: this.demoteFlooders }, label, async (m) => {
      booted(m);
      await release;
    });
    const machine = await Promise.race([ready, closed.then(() => Promise.reject(new Error('machine closed while booting')))]);
    this.current = { key, machine, done, closed };
    return machine;
  }

  async close(): Promise<void> {
    const c = this.current;
    this.current = undefined;
    if (c !== undefined) {
      c.done();
      await c.closed;
    }
  }
}

/** One sample of one case, in the order they run; see Suite.interleaved. */
interface Step {
  case: Case;
  round: number;
}

function plan(suiteNames: readonly string[], o: SuiteOptions): Step[] {
  const steps: Step[] = [];
  for (const name of suiteNames) {
    const suite = SUITES[name];
    const cases = suite.cases(o);
    const rounds = (c: Case): number => (c.once === true ? 1 : o.samples);
    if (suite.interleaved) {
      for (let round = 0; round < o.samples; round++) for (const c of cases) if (round < rounds(c)) steps.push({ case: c, round });
    } else {
      for (const c of cases) for (let round = 0; round < rounds(c); round++) steps.push({ case: c, round });
    }
  }
  return steps;
}

export async function runBenchCli(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: normalize(argv),
      options: {
        suite: { type: 'string', default: 'all' },
        partitions: { type: 'string' },
        size: { type: 'string', multiple: true },
        duration: { type: 'string' },
        samples: { type: 'string' },
        wait: { type: 'string', default: 'adaptive' },
        json: { type: 'string' },
        report: { type: 'string' },
        'cpu-prof': { type: 'string' },
        trace: { type: 'string' },
        'trace-sample': { type: 'string' },
        'trace-records': { type: 'string' },
        'no-demote': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    // One line: parseArgs' last line of advice (an option value written with `=`) is left out.
    return fail((e as Error).message.split('\n').filter((line) => !line.startsWith('To specify')).join(' '));
  }
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  // 'all' may stand in a list too (--suite all,ring); each suite runs once.
  const suiteNames = [...new Set(values.suite.split(',').flatMap((s) => (s === 'all' ? ALL : [s])))];
  for (const s of suiteNames) {
    if (SUITES[s] === undefined) return fail(`unknown suite '${s}'; the suites are ${Object.keys(SUITES).join(', ')}, and all (${ALL.join(', ')})`);
  }
  const wait = values.wait as WaitMode;
  if (!WAIT_MODES.includes(wait)) return fail(`--wait must be one of ${WAIT_MODES.join(', ')}, got '${values.wait}'`);
  const alone = suiteNames.length === 1 ? suiteNames[0] : undefined;
  // The lifecycle suite boots a fixed number of machines with the default wait: these would change nothing.
  const ignored = ['--duration', '--samples', '--wait'].filter((flag) => argv.some((a) => a === flag || a.startsWith(`${flag}=`)));
  if (alone === 'lifecycle' && ignored.length > 0) {
    return fail(`--suite lifecycle times a fixed number of boots (about 10 s) and takes no ${ignored.join(', ')}: leave ${ignored.length > 1 ? 'them' : 'it'} out`);
  }
  const suiteDuration: Record<string, number> = { ring: RING_DEFAULT_DURATION_S, link: LINK_DEFAULT_DURATION_S, fairness: FAIRNESS_DEFAULT_DURATION_S };
  let durationSeconds = (alone === undefined ? undefined : suiteDuration[alone]) ?? DEFAULT_DURATION_S;
  if (values.duration !== undefined) {
    durationSeconds = decimalNumber(values.duration);
    if (!(durationSeconds > 0) || !Number.isFinite(durationSeconds)) {
      return fail(`--duration must be a positive number of seconds, got '${values.duration}'`);
    }
  }
  let samples = Math.min(alone === 'link' ? LINK_DEFAULT_SAMPLES : DEFAULT_SAMPLES, Math.max(1, Math.floor(durationSeconds / MIN_SAMPLE_S)));
  if (values.samples !== undefined) {
    samples = decimalNumber(values.samples);
    if (!Number.isInteger(samples) || samples < 1 || samples > MAX_SAMPLES) {
      return fail(`--samples must be an integer from 1 to ${MAX_SAMPLES}, got '${values.samples}'`);
    }
  }
  let partitions = DEFAULT_PARTITIONS;
  if (values.partitions !== undefined) {
    partitions = decimalNumber(values.partitions);
    if (!Number.isInteger(partitions) || partitions < 2 || partitions > 64) {
      return fail(`--partitions must be an integer from 2 to 64, got '${values.partitions}'`);
    }
    const why: Record<string, string> = { 'fan-in': 'fan-in (senders and a receiver)', fairness: 'fairness (an honest pair and a flooder)' };
    const needThree = suiteNames.filter((s) => why[s] !== undefined);
    if (partitions < 3 && needThree.length > 0) {
      const them = needThree.length > 1;
      const instead = values.suite === 'all' ? 'or name the suites you want with --suite (all includes them)' : `or leave ${them ? 'them' : 'it'} out of --suite`;
      return fail(`--partitions ${partitions}: ${needThree.map((s) => why[s]).join(' and ')} ${them ? 'need' : 'needs'} at least 3; give 3 or more, ${instead}`);
    }
  }
  let sizes: number[] | undefined;
  if (values.size !== undefined) {
    sizes = values.size.map(parseSize);
    const bad = values.size.find((s, i) => !(sizes![i] >= 4 && sizes![i] <= MAX_PAYLOAD && sizes![i] % 4 === 0));
    if (bad !== undefined) return fail(`--size takes byte counts that are multiples of 4 from 4 to 64K (e.g. 64 4K 64K), got '${bad}'`);
  }

  const badPath =
    (values.json !== undefined && values.json !== '-' ? unwritable('--json', values.json) : undefined) ??
    (values.report !== undefined ? unwritable('--report', values.report) : undefined) ??
    (values['cpu-prof'] !== undefined ? unwritable('--cpu-prof', values['cpu-prof'], true) : undefined) ??
    (values.trace !== undefined ? unwritable('--trace', values.trace) : undefined);
  if (badPath !== undefined) return fail(badPath);
  // `-` is stdout for --json only; two outputs on one path would overwrite each other.
  for (const flag of ['report', 'trace'] as const) {
    if (values[flag] === '-') return fail(`--${flag} - would write a file named '-' (only --json writes to stdout): give a file name`);
  }
  const outputs = (['json', 'report', 'trace'] as const).filter((f) => values[f] !== undefined && values[f] !== '-');
  for (const [i, a] of outputs.entries()) {
    const b = outputs.slice(i + 1).find((f) => resolvePath(values[f]!) === resolvePath(values[a]!));
    if (b !== undefined) return fail(`--${a} and --${b} name the same file, ${resolvePath(values[a]!)}: give each its own`);
    // --cpu-prof writes threads.json into its folder, after the run.
    const profiles = values['cpu-prof'];
    if (profiles !== undefined && resolvePath(values[a]!) === joinPath(resolvePath(profiles), 'threads.json')) {
      return fail(`--${a} ${values[a]} is the threads.json that --cpu-prof writes in ${resolvePath(profiles)}: give another path`);
    }
  }
  // An empty trace from these would mislead: refuse, saying why.
  const untraced = suiteNames.filter((s) => UNTRACED_SUITES.has(s));
  if (values.trace !== undefined && untraced.length > 0) {
    const why = untraced.map((s) => `${s}: ${UNTRACED_SUITES.get(s)}`).join('; ');
    return fail(`--trace does not record the ${untraced.join(' or ')} suite (${why}): run ${untraced.length > 1 ? 'them' : 'it'} without --trace`);
  }
  /** A --trace-… count: its default, or the integer given (only beside --trace); a string says what is wrong. */
  const traceCount = (flag: 'trace-sample' | 'trace-records', fallback: number, min: number, max: number): number | string => {
    const raw = values[flag];
    if (raw === undefined) return fallback;
    if (values.trace === undefined) return `--${flag} needs --trace FILE`;
    const n = decimalNumber(raw);
    return Number.isInteger(n) && n >= min && n <= max ? n : `--${flag} takes an integer from ${min} to ${max}, got '${raw}'`;
  };
  const traceSample = traceCount('trace-sample', DEFAULT_TRACE_SAMPLE, 1, 0xffff_ffff);
  if (typeof traceSample === 'string') return fail(traceSample);
  const traceRecords = traceCount('trace-records', DEFAULTS.traceRecords, MIN_TRACE_RECORDS, MAX_TRACE_RECORDS);
  if (typeof traceRecords === 'string') return fail(traceRecords);

  // --cpu-prof: run again under the profiler, then name the profiles. A run already under one
  // (the child, or `lparlink profile -- … bench`) just runs: its threads are being recorded.
  const profDir = values['cpu-prof'];
  if (profDir !== undefined && process.env[THREAD_NAMES_ENV] === undefined) {
    const rest = argv.filter((a, i) => a !== '--cpu-prof' && argv[i - 1] !== '--cpu-prof' && !a.startsWith('--cpu-prof='));
    const script = fileURLToPath(new URL('../../bin/lparlink.mjs', import.meta.url));
    const dir = resolvePath(profDir);
    const run = await runProfiled(dir, [script, 'bench', ...rest]);
    // With --json to stdout the summary goes to stderr, so stdout stays one JSON document.
    // The machines' threads only: the baselines' workers are in threads.json for whoever wants them.
    const machineThread = (f: { name: string }): boolean => f.name === 'main' || f.name.startsWith('hardware') || f.name.startsWith('partition');
    printBusiest(values.json === '-' ? process.stderr : process.stdout, dir, run, machineThread);
    return run.code;
  }
  setThreadLabel('bench driver');
  recordThreadName(0, 'main');

  const options: SuiteOptions = { wait, durationSeconds: durationSeconds / samples, samples, sizes, partitions };
  const schedule = plan(suiteNames, options);
  // Before anything runs, as the output paths are: the link suite needs openssl for its certificates.
  if (schedule.some((step) => step.case.suite === 'link')) {
    try {
      benchCertificates();
    } catch (e) {
      return runFailed(undefined, e);
    }
  }
  const maxPayload = Math.max(64, ...(sizes ?? [MAX_PAYLOAD]));
  const trace = values.trace === undefined ? undefined : await BenchTrace.open(values.trace, traceSample, traceRecords);
  const pool = new MachinePool(wait, maxPayload, trace, values['no-demote'] !== true);
  // Suites whose one case repeats itself (ring, lifecycle) take the whole duration as one sample: say so.
  const onlyOnce = schedule.length > 0 && schedule.every((step) => step.case.once === true);
  const json: BenchJson = {
    version: packageVersion(),
    machine: machineInfo(wait, durationSeconds, onlyOnce ? 1 : samples, values['no-demote'] !== true),
    command: `lparlink bench ${argv.join(' ')}`.trim(),
    results: [],
  };
  const toStdout = values.json === '-';
  const bar =
    process.stderr.isTTY && !toStdout
      ? new cliProgress.SingleBar(
          { format: 'bench [{bar}] {value}/{total} samples | {eta_formatted} left | {case}', hideCursor: true, stream: process.stderr, etaBuffer: 8 },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  bar?.start(schedule.length, 0, { case: schedule[0]?.case.label ?? '' });
  const rounds: ResultRow[][] = Array.from({ length: samples }, () => []);
  // Ctrl-C: finish the sample under way, then report what was measured; a second Ctrl-C stops at once.
  let interrupted = false;
  const onInterrupt = (): void => {
    if (interrupted) {
      bar?.stop(); // shows the cursor again
      process.exit(INTERRUPTED);
    }
    interrupted = true;
    process.stderr.write('\ninterrupted: finishing this sample, then writing the results so far (Ctrl-C again to stop now)\n');
  };
  process.on('SIGINT', onInterrupt);
  let done = 0;
  // A case that fails ends the run there: what was measured before it is still reported and
  // written, then one line says what failed (exit 1), rather than a stack trace and nothing.
  let failure: { where: string; error: unknown } | undefined;
  try {
    for (const [i, { case: c, round }] of schedule.entries()) {
      if (interrupted) break;
      const label = samples > 1 ? `${c.label} (sample ${round + 1})` : c.label;
      bar?.update(i, { case: label });
      setThreadLabel(c.suite);
      if (bar === undefined && !toStdout) process.stderr.write(`[${i + 1}/${schedule.length}] ${label}\n`);
      try {
        rounds[round].push(...(await c.run(pool)));
        done = i + 1;
      } catch (e) {
        failure = { where: label, error: e };
        break;
      }
      try {
        if (schedule[i + 1]?.case.suite !== c.suite) await pool.close();
      } catch (e) {
        failure = { where: `closing the ${c.suite} suite's machine`, error: e };
        break;
      }
    }
    if (!interrupted && failure === undefined) bar?.update(schedule.length, { case: 'done' });
  } finally {
    process.off('SIGINT', onInterrupt);
    bar?.stop();
    try {
      await pool.close();
    } catch (e) {
      failure ??= { where: 'closing the last machine', error: e };
    }
  }
  json.results = mergeRounds(rounds);
  json.machine.loadAverageAtEnd = roundedLoad();
  if (pool.ringReport !== undefined) json.ring = pool.ringReport;

  if (toStdout) process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  else {
    process.stdout.write(formatTable(json));
    if (pool.ringReport !== undefined) process.stdout.write(`\n${formatRingBench(pool.ringReport)}`);
  }
  // Each output on its own: one that cannot be written (a full disk) costs only itself.
  const write = (what: string, path: string, text: () => string): boolean => {
    try {
      writeFileSync(path, text());
      return true;
    } catch (e) {
      failure ??= { where: `${what} ${path}`, error: e };
      return false;
    }
  };
  if (values.json !== undefined && !toStdout && write('--json', values.json, () => `${JSON.stringify(json, null, 2)}\n`)) {
    process.stdout.write(`json: ${resolvePath(values.json)}\n`);
  }
  if (values.report !== undefined && write('--report', values.report, () => renderReport(json)) && !toStdout) {
    process.stdout.write(`report: ${resolvePath(values.report)}\n`);
  }
  if (trace !== undefined) {
    try {
      const t = await trace.close();
      const n = (x: number): string => x.toLocaleString('en-US');
      const advice = droppedAdvice(t);
      const line = `trace: ${n(t.messages)} sampled messages with their flows (${n(t.events)} events, ${n(t.dropped)} records dropped) in ${resolvePath(values.trace!)}\n${advice === '' ? '' : `       ${advice}\n`}`;
      (toStdout ? process.stderr : process.stdout).write(line);
    } catch (e) {
      failure ??= { where: `--trace ${values.trace}`, error: e };
    }
  }
  if (failure !== undefined) {
    const measured = done < schedule.length ? `; the results above are the first ${done} of ${schedule.length} samples` : '';
    const code = runFailed(failure.where, failure.error, measured);
    // Ctrl-C came first (the failure may be its doing): the exit code says interrupted.
    if (!interrupted) return code;
  }
  if (interrupted) {
    process.stderr.write(`interrupted after ${done} of ${schedule.length} samples; the results above are those measured\n`);
    return INTERRUPTED;
  }
  return 0;
}

/** One line on stderr saying what failed and why (no stack trace: the run's own fault is in the message); RUN_FAILED. */
function runFailed(where: string | undefined, error: unknown, after = ''): number {
  const why = error instanceof Error ? error.message : String(error);
  process.stderr.write(`lparlink bench: ${where === undefined ? '' : `${where}: `}${why}${after}\n`);
  return RUN_FAILED;
}
