/**
 * The host limit behind doorbell storms (THREATS.md case 29), measured in plain Node with no
 * lparlink code: how much an unrelated two-worker Atomics ping-pong slows down while other threads
 * call Atomics.notify in a loop on memory nobody waits on. V8 serializes wait and notify on one
 * process-wide lock, so a thread that only notifies still delays every other thread's wake-ups.
 * Threads that spin as hard without notifying are the control: they take the same CPU, not the lock.
 *
 * The settings take turns, three rounds of short windows, and each row shows the median of its
 * windows, so that a change in the machine's load hits every setting alike.
 *
 *   npm run build && node dist/bench/host-notify.js [seconds per window, default 0.5] [rounds, default 3]
 */
import { availableParallelism, loadavg } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

/** Words of the shared control block. */
const PING = 0;
const PONG = 1;
const STOP = 2;
/** Threads that have started (the window opens once all of them run). */
const STARTED = 3;
/** The word the extra threads notify or read: nobody ever waits on it. */
const UNWATCHED = 4;
const WORDS = 5;
/** Bounded waits, so a thread notices STOP even when its partner has already left. */
const WAIT_MS = 50;
/** Extra-thread iterations between looks at STOP. */
const BATCH = 1024;

type Role = 'ping' | 'pong' | 'notify' | 'spin';

interface RoleInput {
  role: Role;
  words: SharedArrayBuffer;
}

interface Setting {
  label: string;
  extra: 'notify' | 'spin' | undefined;
  threads: number;
}

const SETTINGS: Setting[] = [
  { label: 'alone', extra: undefined, threads: 0 },
  { label: '+1 thread calling notify', extra: 'notify', threads: 1 },
  { label: '+2 threads calling notify', extra: 'notify', threads: 2 },
  { label: '+1 thread spinning (control)', extra: 'spin', threads: 1 },
  { label: '+2 threads spinning (control)', extra: 'spin', threads: 2 },
];

function runRole({ role, words: buffer }: RoleInput): number {
  const words = new Int32Array(buffer);
  const stopped = () => Atomics.load(words, STOP) !== 0;
  Atomics.add(words, STARTED, 1);
  let count = 0;
  switch (role) {
    case 'ping':
      // Each round trip: raise PING, wake the partner, sleep until PONG echoes it.
      while (!stopped()) {
        count++;
        Atomics.store(words, PING, count);
        Atomics.notify(words, PING);
        while (Atomics.load(words, PONG) !== count && !stopped()) Atomics.wait(words, PONG, count - 1, WAIT_MS);
      }
      break;
    case 'pong':
      for (let seen = 0; !stopped(); ) {
        Atomics.wait(words, PING, seen, WAIT_MS);
        const now = Atomics.load(words, PING);
        if (now !== seen) {
          seen = now;
          Atomics.store(words, PONG, now);
          Atomics.notify(words, PONG);
          count++;
        }
      }
      break;
    case 'notify':
      // The storm: what a partition's threads can do to their doorbell, minus the doorbell.
      while (!stopped()) {
        for (let i = 0; i < BATCH; i++) Atomics.notify(words, UNWATCHED);
        count += BATCH;
      }
      break;
    case 'spin':
      while (!stopped()) {
        for (let i = 0; i < BATCH; i++) count += Atomics.load(words, UNWATCHED) + 1;
      }
      break;
  }
  return count;
}

function start(role: Role, words: SharedArrayBuffer): { done: Promise<number>; worker: Worker } {
  const worker = new Worker(new URL(import.meta.url), { workerData: { role, words } satisfies RoleInput });
  const done = new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return { done, worker };
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(setting: Setting, seconds: number): Promise<{ roundTrips: number; extraOpsPerSecond: number }> {
  const buffer = new SharedArrayBuffer(WORDS * 4);
  const words = new Int32Array(buffer);
  const roles: Role[] = ['ping', 'pong', ...new Array<Role>(setting.threads).fill(setting.extra ?? 'spin')];
  const workers = roles.map((role) => start(role, buffer));
  try {
    while (Atomics.load(words, STARTED) < roles.length) await pause(5);
    const running = performance.now();
    await pause(100); // let every thread reach its steady loop
    const first = Atomics.load(words, PING);
    const opened = performance.now();
    await pause(seconds * 1000);
    const roundTrips = (Atomics.load(words, PING) - first) / ((performance.now() - opened) / 1000);
    Atomics.store(words, STOP, 1);
    const ranFor = (performance.now() - running) / 1000;
    const counts = await Promise.all(workers.map((w) => w.done));
    return { roundTrips, extraOpsPerSecond: counts.slice(2).reduce((a, b) => a + b, 0) / ranFor };
  } finally {
    Atomics.store(words, STOP, 1);
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }
}

/** `[seconds per window] [rounds]` from the command line, checked. */
function parseArgs(argv: string[]): { seconds: number; rounds: number } {
  const usage = `usage: node dist/bench/host-notify.js [seconds per window, 0.2 to 60] [rounds, 1 to 20]; got: ${argv.join(' ')}`;
  const [seconds = 0.5, rounds = 3, ...rest] = argv.map(Number);
  if (rest.length > 0 || !(seconds >= 0.2 && seconds <= 60) || !(Number.isInteger(rounds) && rounds >= 1 && rounds <= 20)) {
    throw new RangeError(usage);
  }
  return { seconds, rounds };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function main(): Promise<void> {
  const { seconds, rounds } = parseArgs(process.argv.slice(2));
  console.log('Atomics ping-pong between two workers while other threads call Atomics.notify on a word nobody waits on');
  console.log(`Node ${process.version}, ${availableParallelism()} cores, load ${loadavg()[0].toFixed(2)} at start; ${rounds} rounds of ${seconds} s windows, medians\n`);
  const samples = SETTINGS.map(() => ({ roundTrips: [] as number[], extraOps: [] as number[] }));
  for (let round = 0; round < rounds; round++) {
    for (const [i, setting] of SETTINGS.entries()) {
      const { roundTrips, extraOpsPerSecond } = await measure(setting, seconds);
      samples[i].roundTrips.push(roundTrips);
      samples[i].extraOps.push(extraOpsPerSecond);
    }
  }
  const alone = median(samples[0].roundTrips);
  const rows: string[][] = [['setting', 'round trips/s', 'vs alone', 'range', 'extra threads: ops/s']];
  for (const [i, setting] of SETTINGS.entries()) {
    const trips = samples[i].roundTrips;
    const k = (n: number) => `${Math.round(n / 1000)}k`;
    rows.push([
      setting.label,
      Math.round(median(trips)).toLocaleString('en-US'),
      `${((median(trips) / alone) * 100).toFixed(1)}%`,
      `${k(Math.min(...trips))}–${k(Math.max(...trips))}`,
      setting.extra === undefined ? '-' : `${Math.round(median(samples[i].extraOps)).toLocaleString('en-US')} ${setting.extra === 'notify' ? 'notify calls' : 'loads'}`,
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
  console.log(`\nload ${loadavg()[0].toFixed(2)} at the end`);
}

if (isMainThread) {
  await main();
} else {
  parentPort!.postMessage(runRole(workerData as RoleInput));
}
