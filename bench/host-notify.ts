/**
 * The host limit behind doorbell storms (THREATS.md case 29), measured in plain Node with no
 * lparlink code: how much an unrelated two-worker Atomics ping-pong slows down while other threads
 * call Atomics.notify in a loop on memory nobody waits on. V8 serializes wait and notify on one
 * process-wide lock, so a thread that only notifies still delays every other thread's wake-ups.
 * Threads that spin as hard without notifying are the control: they take the same CPU, not the lock.
 *
 *   npm run build && node dist/bench/host-notify.js [seconds per setting, default 1.5]
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
    await pause(200); // let every thread reach its steady loop
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

function secondsFromArgs(argv: string[]): number {
  if (argv.length === 0) return 1.5;
  const seconds = Number(argv[0]);
  if (argv.length > 1 || !Number.isFinite(seconds) || seconds < 0.2 || seconds > 60) {
    throw new RangeError(`usage: node dist/bench/host-notify.js [seconds per setting, 0.2 to 60]; got ${argv.join(' ')}`);
  }
  return seconds;
}

async function main(): Promise<void> {
  const seconds = secondsFromArgs(process.argv.slice(2));
  const [load1] = loadavg();
  console.log(`Atomics ping-pong between two workers while other threads call Atomics.notify on a word nobody waits on`);
  console.log(`Node ${process.version}, ${availableParallelism()} cores, load ${load1.toFixed(2)} at start, ${seconds} s per setting\n`);
  const rows: string[][] = [['setting', 'round trips/s', 'vs alone', 'extra threads: ops/s']];
  let alone = 0;
  for (const setting of SETTINGS) {
    const { roundTrips, extraOpsPerSecond } = await measure(setting, seconds);
    if (setting.extra === undefined) alone = roundTrips;
    rows.push([
      setting.label,
      Math.round(roundTrips).toLocaleString('en-US'),
      alone > 0 ? `${((roundTrips / alone) * 100).toFixed(1)}%` : '',
      setting.extra === undefined ? '-' : `${Math.round(extraOpsPerSecond).toLocaleString('en-US')} ${setting.extra === 'notify' ? 'notify calls' : 'loads'}`,
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
