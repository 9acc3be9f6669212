/**
 * `lparlink bench`: runs benchmark suites and prints their tables (or JSON).
 * Each suite is one entry in `suites`; a suite takes the parsed options and
 * returns what it measured, plus a formatter for humans.
 */
import { parseArgs } from 'node:util';
import { formatRingBench, runRingBench } from './ring.js';

interface SuiteOptions {
  /** Seconds per case; undefined means the suite's default. */
  readonly durationSeconds?: number;
}

interface Suite {
  readonly describe: string;
  run(options: SuiteOptions): Promise<{ readonly report: unknown; readonly text: string }>;
}

const suites: Record<string, Suite> = {
  ring: {
    describe: 'one-way throughput between two workers: ring per-record, ring batched, postMessage',
    async run(options) {
      const report = await runRingBench(options);
      return { report, text: formatRingBench(report) };
    },
  },
};

const usage = `usage: lparlink bench [--suite NAME] [--duration S] [--json]

options:
  --suite NAME    which suite to run (default: ring)
  --duration S    seconds per case (default: the suite's own, 5 for ring)
  --json          print the results as JSON instead of a table
  -h, --help      show this help

suites:
${Object.entries(suites)
  .map(([name, s]) => `  ${name.padEnd(14)}  ${s.describe}`)
  .join('\n')}
`;

export async function runBenchCli(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        suite: { type: 'string', default: 'ring' },
        duration: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    process.stderr.write(`lparlink bench: ${(e as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const suite = suites[values.suite];
  if (suite === undefined) {
    process.stderr.write(`lparlink bench: unknown suite '${values.suite}'\n\n${usage}`);
    return 2;
  }
  let durationSeconds: number | undefined;
  if (values.duration !== undefined) {
    durationSeconds = Number(values.duration);
    if (!(durationSeconds > 0) || !Number.isFinite(durationSeconds)) {
      process.stderr.write(`lparlink bench: --duration must be a positive number of seconds, got '${values.duration}'\n`);
      return 2;
    }
  }
  const { report, text } = await suite.run({ durationSeconds });
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : text);
  return 0;
}
