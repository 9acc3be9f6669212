/**
 * `lparlink demo`: boot a 4-partition machine, run a request/response
 * workload and a streaming workload side by side with live progress, print a
 * table per pair, then show the hardware refusing a process that sends on a
 * channel it does not own.
 */
import cliProgress from 'cli-progress';
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { EXIT, usageError } from '../exit.js';
import { createMachine, type Machine } from '../../src/index.js';
import { DEFAULTS as MACHINE_DEFAULTS, droppedAdvice, MAX_TRACE_RECORDS, MIN_TRACE_RECORDS } from '../../src/internal.js';
import { unwritable } from '../../bench/output-path.js';
import { decimalNumber, joinNegativeValues } from '../../bench/negative-values.js';
import type { ClientReport } from './programs/request-response.js';
import type { SinkReport } from './programs/stream.js';

const program = (name: string) => new URL(`./programs/${name}.js`, import.meta.url);

interface DemoOptions {
  requests: number;
  streamMessages: number;
  streamBytes: number;
  attempts: number;
  /** --trace FILE: record a message-flow trace and write it there. */
  trace?: string;
  traceSample: number;
  /** Records per thread's trace ring (trace.records). */
  traceRecords: number;
}

const DEFAULTS: DemoOptions = { requests: 20_000, streamMessages: 1_000_000, streamBytes: 256, attempts: 1000, traceSample: 64, traceRecords: MACHINE_DEFAULTS.traceRecords };

const usage = `usage: lparlink demo [--requests N] [--messages N] [--bytes N] [--attempts N]
                     [--trace FILE [--trace-sample N] [--trace-records N]]

  --requests N   round trips web → db (default ${DEFAULTS.requests}; the table counts both directions)
  --messages N   streamed messages batch → cache (default ${DEFAULTS.streamMessages})
  --bytes N      streamed message size, 4 to 65536 (default ${DEFAULTS.streamBytes})
  --attempts N   forged sends by the intruder (default ${DEFAULTS.attempts})
  --trace FILE   write a message-flow trace (Chrome Trace Event Format) to FILE:
                 open it in ui.perfetto.dev, chrome://tracing or DevTools
  --trace-sample N  trace every Nth message of each channel (default ${DEFAULTS.traceSample})
  --trace-records N records per thread's trace ring, ${MIN_TRACE_RECORDS} to ${MAX_TRACE_RECORDS} (default ${DEFAULTS.traceRecords})
  -h, --help     this help

Options take their value as --flag N or --flag=N. Exit codes: 0 done, 1 a check
failed, 2 bad arguments, 130 interrupted (Ctrl-C).
`;

const VALUE_OPTIONS = new Set(['--requests', '--messages', '--bytes', '--attempts', '--trace', '--trace-sample', '--trace-records']);

const FLAGS = {
  requests: 'requests',
  messages: 'streamMessages',
  bytes: 'streamBytes',
  attempts: 'attempts',
  'trace-sample': 'traceSample',
  'trace-records': 'traceRecords',
} as const;

/** The options, `'help'`, or what was wrong with the arguments (one line). */
function parse(argv: string[]): DemoOptions | 'help' | string {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: joinNegativeValues(argv, VALUE_OPTIONS),
      strict: true,
      allowPositionals: false,
      options: {
        requests: { type: 'string' },
        messages: { type: 'string' },
        bytes: { type: 'string' },
        attempts: { type: 'string' },
        trace: { type: 'string' },
        'trace-sample': { type: 'string' },
        'trace-records': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
  if (values.help === true) return 'help';
  const o = { ...DEFAULTS };
  for (const [flag, key] of Object.entries(FLAGS)) {
    const raw = values[flag];
    if (raw === undefined) continue;
    const value = decimalNumber(String(raw));
    // Past 2^53 a count is no longer exact (and would run for ever).
    if (!Number.isSafeInteger(value) || value < 1) return `--${flag} takes a positive integer up to ${Number.MAX_SAFE_INTEGER}, got '${String(raw)}'`;
    o[key] = value;
  }
  if (o.streamBytes < 4 || o.streamBytes > 65536) return `--bytes must be from 4 to 65536, got ${o.streamBytes}`;
  if (values['trace-sample'] !== undefined && values.trace === undefined) return '--trace-sample needs --trace FILE';
  if (o.traceSample > 0xffff_ffff) return `--trace-sample takes an integer from 1 to 4294967295, got '${String(values['trace-sample'])}'`;
  if (values['trace-records'] !== undefined && values.trace === undefined) return '--trace-records needs --trace FILE';
  if (o.traceRecords < MIN_TRACE_RECORDS || o.traceRecords > MAX_TRACE_RECORDS) {
    return `--trace-records takes an integer from ${MIN_TRACE_RECORDS} to ${MAX_TRACE_RECORDS}, got '${String(values['trace-records'])}'`;
  }
  if (typeof values.trace === 'string') {
    const bad = unwritable('--trace', values.trace);
    if (bad !== undefined) return bad;
    o.trace = values.trace;
  }
  return o;
}

/** Rows of cells in columns: the first `textColumns` aligned left (words), the rest right (numbers). */
function table(rows: string[][], textColumns = 1): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c < textColumns ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd()).join('\n');
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Live bars from the hardware's own counters: no extra traffic through the programs. */
function progress(machine: Machine, o: DemoOptions): () => void {
  if (!process.stdout.isTTY) return plainProgress(machine, o);
  const bars = new cliProgress.MultiBar(
    { format: ' {name} [{bar}] {percentage}% | {value}/{total} msgs', hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  const rr = bars.create(o.requests * 2, 0, { name: 'web ⇄ db    ' });
  const stream = bars.create(o.streamMessages, 0, { name: 'batch → cache' });
  const timer = setInterval(() => {
    const p = machine.stats().partitions;
    rr.update(Math.min(p[0].delivered + p[1].delivered, o.requests * 2));
    stream.update(Math.min(p[2].delivered, o.streamMessages));
  }, 100);
  return () => {
    clearInterval(timer);
    const p = machine.stats().partitions;
    rr.update(Math.min(p[0].delivered + p[1].delivered, o.requests * 2));
    stream.update(Math.min(p[2].delivered, o.streamMessages));
    bars.stop();
  };
}

/** A log file or a pipe gets a plain line a second instead of redrawn bars. */
function plainProgress(machine: Machine, o: DemoOptions): () => void {
  const line = (): void => {
    const p = machine.stats().partitions;
    process.stdout.write(
      `progress: web ⇄ db ${fmt(Math.min(p[0].delivered + p[1].delivered, o.requests * 2))}/${fmt(o.requests * 2)} msgs, ` +
        `batch → cache ${fmt(Math.min(p[2].delivered, o.streamMessages))}/${fmt(o.streamMessages)} msgs\n`,
    );
  };
  const timer = setInterval(line, 1000);
  return () => {
    clearInterval(timer);
    line();
  };
}

/** Resolves on Ctrl-C; `dispose` removes the handler (the default one comes back). */
function onInterrupt(): { interrupted: Promise<'interrupted'>; dispose(): void } {
  let handler: () => void = () => {};
  const interrupted = new Promise<'interrupted'>((resolve) => {
    handler = () => resolve('interrupted');
    process.once('SIGINT', handler);
  });
  return { interrupted, dispose: () => process.off('SIGINT', handler) };
}

export async function runDemo(argv: string[]): Promise<number> {
  const o = parse(argv);
  if (o === 'help') {
    process.stdout.write(usage);
    return EXIT.OK;
  }
  if (typeof o === 'string') return usageError('lparlink demo', o, 'lparlink demo --help');
  const sigint = onInterrupt();
  try {
    return await demo(o, sigint.interrupted);
  } finally {
    sigint.dispose();
  }
}

async function demo(o: DemoOptions, interrupted: Promise<'interrupted'>): Promise<number> {
  process.stdout.write(`lparlink demo — ${cpus().length} cores, Node ${process.version}\n`);
  const t0 = performance.now();
  await using machine = await createMachine({
    partitions: [
      { id: 1, name: 'db' },
      { id: 2, name: 'web' },
      { id: 3, name: 'cache' },
      { id: 4, name: 'batch' },
    ],
    policy: { allow: [[1, 2], [3, 4]] },
    trace: o.trace === undefined ? undefined : { sample: o.traceSample, records: o.traceRecords },
  });
  process.stdout.write(`booted hardware-0 and 4 partitions in ${fmt(performance.now() - t0, 1)} ms\n\n`);
  try {
    return await run(machine, o, interrupted);
  } finally {
    // Interrupted or failed too: the trace of what ran is what explains it.
    if (o.trace !== undefined) await writeDemoTrace(machine, o.trace);
  }
}

async function writeDemoTrace(machine: Machine, path: string): Promise<void> {
  const t = await machine.exportTrace(path);
  process.stdout.write(
    `\ntrace: ${fmt(t.messages)} sampled messages with their flows (${fmt(t.events)} events, ${fmt(t.dropped)} records dropped) in ${path};\n` +
      (droppedAdvice(t) === '' ? '' : `       ${droppedAdvice(t)};\n`) +
      '       open it in ui.perfetto.dev, chrome://tracing or the DevTools Performance panel\n',
  );
}

async function run(machine: Machine, o: DemoOptions, interrupted: Promise<'interrupted'>): Promise<number> {
  // ── workloads ──
  const server = await machine.partition(1).spawn(program('request-response'), { role: 'server', port: 7 });
  const sink = await machine.partition(3).spawn(program('stream'), { role: 'sink', port: 8 });
  await sleep(50); // listeners register
  const stop = progress(machine, o);
  const client = await machine.partition(2).spawn(program('request-response'), {
    role: 'client', port: 7, partition: 1, requests: o.requests, bytes: 64,
  });
  const source = await machine.partition(4).spawn(program('stream'), {
    role: 'source', port: 8, partition: 3, messages: o.streamMessages, bytes: o.streamBytes,
  });
  const done = Promise.all([client.result, source.result, sink.result, server.result]);
  const outcome = await Promise.race([done, interrupted]);
  stop(); // also restores the cursor the bars hid
  if (outcome === 'interrupted') {
    done.catch(() => {}); // the machine closes under the programs
    process.stdout.write('\ninterrupted: closing the machine\n');
    return EXIT.INTERRUPTED;
  }
  const [rr, , st] = outcome as [ClientReport, number, SinkReport, number];

  const p = machine.stats().partitions;
  const rows = [
    ['pair', 'workload', 'msgs/s', 'MB/s', 'rtt p50 µs', 'rtt p99 µs', 'sent', 'delivered', 'violations'],
    [
      'web ⇄ db', 'request/response 64 B',
      fmt((rr.requests * 2) / rr.seconds), fmt((rr.requests * 2 * 64) / rr.seconds / 1e6, 1),
      fmt(rr.p50us, 1), fmt(rr.p99us, 1),
      fmt(p[1].sent + p[0].sent), fmt(p[0].delivered + p[1].delivered), fmt(p[0].violations.total + p[1].violations.total),
    ],
    [
      'batch → cache', `stream ${o.streamBytes} B`,
      fmt(st.messages / st.seconds), fmt(st.bytes / st.seconds / 1e6, 1),
      '—', '—',
      fmt(p[3].sent), fmt(p[2].delivered), fmt(p[2].violations.total + p[3].violations.total),
    ],
  ];
  process.stdout.write(`\n${table(rows, 2)}\n`);
  if (st.outOfOrder !== 0 || st.messages !== o.streamMessages) {
    process.stderr.write(`stream check failed: ${st.messages} messages, ${st.outOfOrder} out of order\n`);
    return EXIT.FAILED;
  }

  // ── the intruder ──
  process.stdout.write('\nA dishonest process in web tries to send on a channel of another web process:\n');
  const vault = await machine.partition(1).spawn(program('intruder'), { role: 'vault', port: 9 });
  await sleep(50);
  const teller = await machine.partition(2).spawn(program('intruder'), { role: 'teller', port: 9, partition: 1, holdMs: 1500 });
  await sleep(300);
  const before = machine.stats().partitions[1].violations;
  const intruder = await machine.partition(2).spawn(program('intruder'), { role: 'intruder', victimProcess: teller.pid, attempts: o.attempts });
  const forged = (await intruder.result) as { channel: number; written: number };
  await teller.result;
  const received = (await vault.result) as string[];
  const after = machine.stats().partitions[1].violations;
  process.stdout.write(
    table([
      ['', 'value'],
      ['channel the intruder targeted', `0x${forged.channel.toString(16).padStart(8, '0')} (owned by web process ${teller.pid})`],
      ['forged work requests written', fmt(forged.written)],
      ['web violations.notOwner', `${fmt(before.notOwner)} → ${fmt(after.notOwner)}`],
      ['messages the vault received', `${received.length}: ${JSON.stringify(received)}`],
    ], 2) + '\n',
  );
  const refused = after.notOwner - before.notOwner === forged.written && received.length === 1;
  process.stdout.write(refused ? '\nEvery forged send was refused by the hardware; the vault saw only the teller.\n' : '\nUNEXPECTED: the hardware did not refuse every forged send.\n');
  return refused ? EXIT.OK : EXIT.FAILED;
}
