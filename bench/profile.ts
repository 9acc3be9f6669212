/**
 * `--cpu-prof DIR`: one V8 CPU profile per thread. The bench re-runs itself
 * under `node --cpu-prof --cpu-prof-dir DIR`; worker threads inherit those
 * flags, so every thread (main, hardware-0, each partition, each baseline
 * worker) writes `CPU.<date>.<time>.<pid>.<threadId>.<seq>.cpuprofile` when
 * it exits. The run records which thread id had which name, and afterwards
 * `threads.json` maps every profile file to its thread's name and case.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { Machine } from '../src/index.js';

/** Set in the child run: where to write the thread-name map. */
export const PROFILE_ENV = 'LPARLINK_BENCH_CPU_PROF_DIR';
const PENDING = 'threads.pending.json';

export interface ThreadName {
  threadId: number;
  name: string;
  /** The case (or machine) the thread served. */
  label: string;
}

/** Child side: collects thread ids and names as machines and baseline workers start. */
export class ThreadRegistry {
  readonly threads: ThreadName[] = [{ threadId: 0, name: 'main', label: 'bench driver' }];
  label = '';

  machine(machine: Machine, label: string): void {
    const partitions = machine.partitions.map((p) => ({ threadId: p.worker.threadId, name: p.name, label }));
    // The hardware worker is started first, right before the partitions; machine.ts keeps it private.
    const hardware = (machine as unknown as { hardware?: Worker }).hardware;
    const hwId = hardware?.threadId ?? Math.min(...partitions.map((p) => p.threadId)) - 1;
    this.threads.push({ threadId: hwId, name: 'hardware-0', label }, ...partitions);
  }

  workers(workers: readonly Worker[], names: readonly string[]): void {
    workers.forEach((w, i) => this.threads.push({ threadId: w.threadId, name: names[i], label: this.label }));
  }

  write(dir: string): void {
    writeFileSync(join(dir, PENDING), JSON.stringify(this.threads, null, 2));
  }
}

export interface ProfileFile {
  file: string;
  threadId: number;
  name: string;
  label: string;
}

/** Parent side: run the bench again under --cpu-prof, then map files to thread names. */
export async function runProfiled(dir: string, argv: readonly string[], script: string): Promise<{ code: number; files: ProfileFile[] }> {
  mkdirSync(dir, { recursive: true });
  const child = spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, script, 'bench', ...argv], {
    stdio: 'inherit',
    env: { ...process.env, [PROFILE_ENV]: dir },
  });
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
  const pid = child.pid;
  let names: ThreadName[] = [];
  try {
    names = JSON.parse(readFileSync(join(dir, PENDING), 'utf8')) as ThreadName[];
  } catch {
    // the child failed before it wrote its map; files are still listed, unnamed
  }
  const files: ProfileFile[] = [];
  for (const file of readdirSync(dir).sort()) {
    const m = /^CPU\.\d+\.\d+\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(file);
    if (m === null || Number(m[1]) !== pid) continue;
    const threadId = Number(m[2]);
    const n = names.find((t) => t.threadId === threadId);
    files.push({ file, threadId, name: n?.name ?? `thread-${threadId}`, label: n?.label ?? '' });
  }
  writeFileSync(join(dir, 'threads.json'), JSON.stringify({ pid, threads: files }, null, 2));
  return { code, files };
}

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
