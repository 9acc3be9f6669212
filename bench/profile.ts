/**
 * Per-thread CPU profiles of any Node program, named by thread: `lparlink
 * profile` and `lparlink bench --cpu-prof` both run a program under
 * `node --cpu-prof --cpu-prof-dir DIR`. Worker threads inherit those flags, so
 * every thread (main, hardware-0, each partition, each baseline worker) writes
 * `CPU.<date>.<time>.<pid>.<threadId>.<seq>.cpuprofile` when it exits. The
 * file names carry thread ids only; the program's machines append each
 * worker's name to a file named by THREAD_NAMES_ENV as it starts
 * (src/thread-names.ts), and afterwards `DIR/threads.json` maps every profile
 * file the run wrote to its thread's name.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { escapeControls, THREAD_NAMES_ENV, type ThreadNameRecord } from '../src/internal.js';

/** Where the program appends names while it runs; folded into threads.json afterwards. */
const PENDING = 'threads.pending.jsonl';
const PROFILE_FILE = /^CPU\.\d+\.\d+\.(\d+)\.(\d+)\.\d+\.cpuprofile$/;

export interface ProfileFile {
  file: string;
  pid: number;
  threadId: number;
  /** The worker's name (`hardware-0`, `partition-1`, `bench-relay`, …), `main` for thread 0, else `thread-<id>`. */
  name: string;
  /** What the thread served (a bench case), '' when nothing said. */
  label: string;
}

export interface ProfiledRun {
  /** The program's exit code; 128 + the signal's number when a signal ended it. */
  code: number;
  /** The signal that ended it, if one did. */
  signal: NodeJS.Signals | null;
  pid: number | undefined;
  files: ProfileFile[];
}

/** The thread names the profiled process recorded (one JSON record a line), those of the right shape only. */
export function readNames(path: string): ThreadNameRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return []; // the program started no machine, or failed before it did
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .flatMap((line) => {
      try {
        const r = JSON.parse(line) as Partial<ThreadNameRecord> | null;
        // Any thread of the profiled process can write to the file (its environment names it):
        // a record of another shape is no name of ours, not a reason to fail the summary.
        const named = r !== null && typeof r === 'object' && Number.isInteger(r.pid) && Number.isInteger(r.threadId) && typeof r.name === 'string' && typeof r.label === 'string';
        return named ? [r as ThreadNameRecord] : [];
      } catch {
        return []; // a line cut short by a program killed mid-write
      }
    });
}

/**
 * Run `node --cpu-prof --cpu-prof-dir DIR ...nodeArgs` with the thread-name
 * recording on, wait for it, and write DIR/threads.json naming every profile
 * it wrote (files already in DIR are left out), also when a signal ended it.
 */
export async function runProfiled(dir: string, nodeArgs: readonly string[]): Promise<ProfiledRun> {
  mkdirSync(dir, { recursive: true });
  const pending = join(dir, PENDING);
  rmSync(pending, { force: true });
  const before = new Set(readdirSync(dir));
  const child = spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, ...nodeArgs], {
    stdio: 'inherit',
    env: { ...process.env, [THREAD_NAMES_ENV]: pending },
  });
  // Ctrl-C in a terminal reaches the program too (one process group): this side only waits for it.
  // SIGTERM comes to this process alone (kill PID, a process manager): pass it on.
  const ignoreInterrupt = (): void => {};
  const passOnTerminate = (): void => void child.kill('SIGTERM');
  process.on('SIGINT', ignoreInterrupt);
  process.on('SIGTERM', passOnTerminate);
  let code: number;
  let signal: NodeJS.Signals | null = null;
  try {
    code = await new Promise<number>((resolve) => {
      child.once('error', (e) => {
        process.stderr.write(`cannot start ${process.execPath}: ${e.message}\n`);
        resolve(1);
      });
      child.once('exit', (c, s) => {
        signal = s;
        resolve(c ?? (s !== null ? 128 + (constants.signals[s] ?? 0) : 1));
      });
    });
  } finally {
    process.off('SIGINT', ignoreInterrupt);
    process.off('SIGTERM', passOnTerminate);
  }
  const names = readNames(pending);
  rmSync(pending, { force: true });
  const files: ProfileFile[] = [];
  for (const file of readdirSync(dir).sort()) {
    const m = PROFILE_FILE.exec(file);
    if (m === null || before.has(file)) continue;
    const pid = Number(m[1]);
    const threadId = Number(m[2]);
    const n = names.find((t) => t.pid === pid && t.threadId === threadId);
    files.push({ file, pid, threadId, name: n?.name ?? (threadId === 0 ? 'main' : `thread-${threadId}`), label: n?.label ?? '' });
  }
  writeFileSync(join(dir, 'threads.json'), `${JSON.stringify({ pid: child.pid, threads: files }, null, 2)}\n`);
  return { code, signal, pid: child.pid, files };
}

/** After a profiled run: where the profiles are, and the busiest functions of each thread `shown` keeps (one line per name and label). */
export function printBusiest(out: NodeJS.WritableStream, dir: string, run: ProfiledRun, shown: (f: ProfileFile) => boolean = () => true): void {
  const files = run.files;
  if (files.length === 0) {
    // V8 writes a thread's profile only when the thread exits normally: a signal leaves none.
    const why =
      run.signal !== null
        ? `the program was ended by ${run.signal}, which it did not handle (V8 writes a profile only when a thread exits normally)`
        : run.code !== 0
          ? `node exited with code ${run.code} before writing any (an option node refused, or a program that never started: see above)`
          : 'the program ran, but wrote none here (a --cpu-prof-dir of its own sends them elsewhere)';
    out.write(`\nno CPU profiles were written in ${dir}: ${why}\n`);
    return;
  }
  out.write(`\nCPU profiles in ${dir} (thread names in threads.json), busiest functions per thread:\n`);
  const printed = new Set<string>();
  let more = 0;
  // In thread order (file names sort thread 10 before thread 2): the first machine's threads first.
  const ordered = [...files].sort((a, b) => a.pid - b.pid || a.threadId - b.threadId);
  for (const f of ordered) {
    if (!shown(f)) continue;
    const key = `${f.pid}|${f.name}|${f.label}`;
    if (printed.has(key)) {
      more++;
      continue;
    }
    printed.add(key);
    let top: string;
    try {
      top = topFunctions(join(dir, f.file), 3)
        .map((t) => `${escapeControls(t.fn)} ${t.percent.toFixed(0)}%`)
        .join(', ');
    } catch (e) {
      // Any thread of the profiled process can write a file by a profile's name into DIR (its
      // execArgv names it): one that is not a profile failed the whole summary, the other threads'
      // lines and the program's exit code with it (THREATS case 90). Its parser's message may quote it.
      top = `(not a readable profile: ${escapeControls(String((e as Error)?.message ?? e)).slice(0, 200)})`;
    }
    out.write(`  ${escapeControls(f.name).padEnd(12)} ${escapeControls(f.label).padEnd(12)} ${f.file}  ${top}\n`);
  }
  // Another machine's threads, or a restarted partition's, carry names already shown.
  if (more > 0) out.write(`  … and ${more} more thread${more === 1 ? '' : 's'} named as above (another machine's, or a restarted partition's): see threads.json\n`);
}

/** `text` with control characters written as escapes (THREATS case 71); the library's warnings use it too (case 74). */
export { escapeControls };

/** Self time by function as a share of the thread's busy (non-idle) time, the top few, for a quick look without DevTools. */
export function topFunctions(path: string, count = 5): Array<{ fn: string; percent: number }> {
  const p = JSON.parse(readFileSync(path, 'utf8')) as {
    nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const n = byId.get(id);
    if (n === undefined) return;
    const cf = n.callFrame;
    const where = cf.url === '' ? '' : ` ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}`;
    const key = `${cf.functionName || '(anonymous)'}${where}`;
    const dt = p.timeDeltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + dt);
    if (cf.functionName !== '(idle)') total += dt;
  });
  return [...self]
    .filter(([k]) => k !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([fn, t]) => ({ fn, percent: total > 0 ? (100 * t) / total : 0 }));
}
