/**
 * Shared set-up of the security tests: a machine whose partitions 1 and 2 run an honest echo
 * pair for the whole test, and whose other partitions run the hostile OS (attacker or raw
 * observer) or standard programs. Helpers poll for conditions with a deadline (never fixed
 * sleeps) and compare counters exactly.
 */
import { afterEach, beforeEach, expect } from 'vitest';
import { createMachine, type Machine, type MachineEvents, type MachineOptions, type PartitionStatsEntry } from 'lparlink';

const fixture = (name: string) => new URL(`../fixtures/security/${name}`, import.meta.url);
export const HOSTILE_OS = fixture('hostile-os.mjs');
export const HONEST_CLIENT = fixture('honest-client.mjs');
export const RECORD_SERVER = fixture('record-server.mjs');
export const RESET_WATCH = fixture('reset-watch.mjs');
export const ECHO_SERVER = new URL('../fixtures/echo-server.mjs', import.meta.url);

export const HONEST_SERVER = 1;
export const HONEST_CLIENT_ID = 2;
export const HONEST_PORT = 7;

/** Geometry of the test machines: small rings, so floods fill them and scans stay quick. */
export const SMALL = {
  processesPerPartition: 4,
  channelsPerPartition: 16,
  sendRingBytes: 4096,
  receiveRingBytes: 4096,
  maxMessageBytes: 256,
} as const;

/**
 * The partitions of the comlink attacks: 1 serves with a 64 MiB heap, so that what runs it out of
 * heap is small (the default 512 MiB takes 8 times as much), 2 attacks it, 3 calls after.
 */
export const SMALL_HEAP_SERVER = [{ id: 1, resourceLimits: { maxOldGenerationSizeMb: 64 } }, { id: 2 }, { id: 3 }];

/** A machine of SMALL_HEAP_SERVER whose messages may be 16 KiB (comlink's fragments); its partitionExit events go into `exits`. */
export async function comlinkServerMachine(exits: Array<MachineEvents['partitionExit'][0]> = []): Promise<Machine> {
  const machine = await createMachine({ partitions: SMALL_HEAP_SERVER, maxMessageBytes: 16384, wait: 'sleep' });
  machine.on('partitionExit', (info) => exits.push(info));
  return machine;
}

/** A comlinkServerMachine per test of the calling file (made in beforeEach, closed in afterEach), and its partitionExit events. */
export function comlinkServerEach(): { readonly machine: Machine; readonly exits: Array<MachineEvents['partitionExit'][0]> } {
  let machine: Machine | undefined;
  const exits: Array<MachineEvents['partitionExit'][0]> = [];
  beforeEach(async () => {
    exits.length = 0;
    machine = await comlinkServerMachine(exits);
  });
  afterEach(async () => {
    await machine?.close();
    machine = undefined;
  });
  return {
    get machine(): Machine {
      if (machine === undefined) throw new Error('comlinkServerEach: the machine exists only inside a test');
      return machine;
    },
    exits,
  };
}

export interface Bench {
  machine: Machine;
  /** The hostile OS api of a partition started with it. */
  os(id: number): any;
  stats(id: number): PartitionStatsEntry;
  /** Violation counters of a partition with the zero ones left out, for exact comparison. */
  violations(id: number): Record<string, number>;
  honest: HonestPair;
  close(): Promise<void>;
}

export interface HonestPair {
  /** Round trips the honest client has completed so far (its partition's delivered count). */
  progress(): number;
  /** Wait until the honest pair moved at least `n` more messages than `since`. */
  advances(since: number, n?: number, timeoutMs?: number): Promise<void>;
  /** Stop the pair and check that every message arrived, in order, and nothing else happened to it. */
  finish(): Promise<{ echoed: number }>;
  /** How the two programs ended, without checking (for attacks that end the whole machine). */
  settled(): Promise<PromiseSettledResult<unknown>[]>;
}

export async function waitFor<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function nonZero(v: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(v).filter(([, n]) => n !== 0));
}

export interface BenchOptions extends Partial<Omit<MachineOptions, 'partitions'>> {
  /** Partition ids that run the hostile OS. */
  hostile?: number[];
  /** Partition ids that run the standard OS (besides the honest pair 1 and 2). */
  standard?: number[];
  /** Per-partition extras (resourceLimits). */
  extra?: Record<number, Partial<MachineOptions['partitions'][number]>>;
}

/** Boot a machine with the honest pair running, plus the hostile and standard partitions asked for. */
export async function startBench(options: BenchOptions = {}): Promise<Bench> {
  const { hostile = [3], standard = [], extra = {}, ...rest } = options;
  const partitions: MachineOptions['partitions'] = [
    { id: HONEST_SERVER, name: 'honest-server' },
    { id: HONEST_CLIENT_ID, name: 'honest-client' },
    ...hostile.map((id) => ({ id, name: `hostile-${id}`, os: HOSTILE_OS, ...extra[id] })),
    ...standard.map((id) => ({ id, name: `standard-${id}`, ...extra[id] })),
  ];
  const machine = await createMachine({ wait: 'sleep', testHooks: true, ...SMALL, ...rest, partitions });
  const stats = (id: number) => {
    const s = machine.stats().partitions.find((p) => p.id === id);
    if (s === undefined) throw new Error(`no stats for partition ${id}`);
    return s;
  };

  const stop = new SharedArrayBuffer(4);
  const server = await machine.partition(HONEST_SERVER).spawn(ECHO_SERVER, { port: HONEST_PORT });
  const client = await machine.partition(HONEST_CLIENT_ID).spawn(HONEST_CLIENT, { partition: HONEST_SERVER, port: HONEST_PORT, stop });
  const progress = () => stats(HONEST_CLIENT_ID).delivered;
  const honest: HonestPair = {
    progress,
    async advances(since, n = 16, timeoutMs = 60_000) {
      await waitFor(`the honest pair to move ${n} more messages`, () => progress() >= since + n, timeoutMs);
    },
    async finish() {
      Atomics.store(new Int32Array(stop), 0, 1);
      const [c, s] = (await Promise.all([client.result, server.result])) as [{ echoed: number; peer: unknown }, { echoed: number; peer: unknown }];
      expect(s.echoed).toBe(c.echoed);
      expect(c.peer).toEqual({ node: 0, partition: HONEST_SERVER, process: expect.any(Number) });
      expect(s.peer).toEqual({ node: 0, partition: HONEST_CLIENT_ID, process: expect.any(Number) });
      for (const id of [HONEST_SERVER, HONEST_CLIENT_ID]) {
        const st = stats(id);
        expect(st.violations.total, `violations of honest partition ${id}`).toBe(0);
        expect(st.sendErrors, `send errors of honest partition ${id}`).toBe(0);
        expect(st.delivered, `deliveries to honest partition ${id}`).toBe(c.echoed);
        expect(st.sent, `messages sent by honest partition ${id}`).toBe(c.echoed);
      }
      return { echoed: c.echoed };
    },
    settled: () => Promise.allSettled([client.result, server.result]),
  };
  await honest.advances(0, 8);

  return {
    machine,
    os: (id) => machine.partition(id).os,
    stats,
    violations: (id) => nonZero(stats(id).violations),
    honest,
    close: () => machine.close(),
  };
}

/** Run a test body against a fresh bench and always close the machine. */
export async function withBench(options: BenchOptions, body: (b: Bench) => Promise<void>): Promise<void> {
  const bench = await startBench(options);
  try {
    await body(bench);
  } finally {
    await bench.close();
  }
}

/**
 * A channel between two raw (hostile-OS) partitions: `to` listens on queue pair `toQp`, `from`
 * connects from `fromQp`. Returns both handles.
 */
export async function rawChannel(b: Bench, from: number, fromQp: number, to: number, toQp: number, port: number): Promise<{ send: number; receive: number }> {
  const [f, t] = [b.os(from), b.os(to)];
  for (const [os, qp] of [[f, fromQp], [t, toQp]] as const) {
    const r = await os.open(qp);
    if (!r.ok && !/already in use/.test(r.message)) throw new Error(`openQueuePair(${qp}) in ${os === f ? from : to}: ${r.message}`);
  }
  const listening = await t.listen(toQp, port);
  if (!listening.ok && listening.code !== 'EADDRINUSE') throw new Error(`listen: ${listening.message}`);
  const c = await f.connect(fromQp, to, port);
  if (!c.ok) throw new Error(`connect: ${c.message}`);
  const a = await t.accept(toQp, port);
  if (!a.ok) throw new Error(`accept: ${a.message}`);
  return { send: c.handle, receive: a.handle };
}

/** Read a raw partition's receive ring until `n` records arrived (or fail after the deadline). */
export async function receiveAll(os: any, qp: number, n: number, timeoutMs = 30_000): Promise<Array<{ type: number; channel: number; status: number; bytes: number[] }>> {
  const got: Array<{ type: number; channel: number; status: number; bytes: number[] }> = [];
  try {
    await waitFor(`${n} records on queue pair ${qp}`, async () => {
      got.push(...(await os.readReceive(qp)));
      return got.length >= n;
    }, timeoutMs);
  } catch (e) {
    // Say what did arrive, so a timeout shows which records were missing.
    const seen = got.map((r) => `${r.type}/${r.channel}/${r.status}/${r.bytes.length}`).join(' ');
    throw new Error(`${(e as Error).message}; ${got.length} arrived: ${seen}`);
  }
  return got;
}

/** Sum the counts of completions by status number. */
export function completionCounts(completions: Array<{ status: number; count: number }>): Record<number, number> {
  const by: Record<number, number> = {};
  for (const c of completions) by[c.status] = (by[c.status] ?? 0) + c.count;
  return by;
}

export interface Completion {
  status: number;
  channel: number;
  opcode: number;
  count: number;
}

/** Read a raw partition's completions until their counts add up to `n`. */
export async function completions(os: any, qp: number, n: number, timeoutMs = 30_000): Promise<Completion[]> {
  const got: Completion[] = [];
  await waitFor(`${n} completions on queue pair ${qp}`, async () => {
    got.push(...(await os.readCompletions(qp)));
    return got.reduce((sum, c) => sum + c.count, 0) >= n;
  }, timeoutMs);
  return got.map(({ status, channel, opcode, count }) => ({ status, channel, opcode, count }));
}

/** A message the raw partitions send: a little-endian sequence number and its check word, then zeros. */
export function numbered(seq: number, size = 16): number[] {
  const m = new Uint8Array(size);
  const v = new DataView(m.buffer);
  v.setUint32(0, seq, true);
  v.setUint32(4, (seq ^ 0x5a5a5a5a) >>> 0, true);
  return Array.from(m);
}
