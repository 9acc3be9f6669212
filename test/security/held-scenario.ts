/**
 * THREATS case 51's attack, shared by held-channels.test.ts and held-channels-busy.test.ts: an
 * honest server (partition 1, one process: one send ring) serves two clients; after the honest
 * client's first 5 round trips, a greedy client (partition 3) sends requests and never reads the
 * answers, until its receive ring is full and the server's answers to it wait; then the honest
 * client makes 20 more round trips, each answered within 8 s or counted as timed out.
 */
import { createMachine, type MachineOptions, type PartitionStats } from '../../src/index.js';
import { waitFor } from './harness.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);

/** How the server answers: write(); send() retried on a timer; sendBatch() retried so. */
export const SERVERS = ['write()', 'send()', 'sendBatch()'] as const;
/** Answers by a server that polls and answers with writeSync(m, 0), never waiting: a try, kept in a backlog if it fails. */
export const POLLING_SERVER = 'writeSync(m, 0)';
const SERVER_PROGRAM = {
  'write()': { program: 'multi-echo-server.mjs', args: {} },
  'send()': { program: 'multi-send-server.mjs', args: { batch: false } },
  'sendBatch()': { program: 'multi-send-server.mjs', args: { batch: true } },
  [POLLING_SERVER]: { program: 'sync-server.mjs', args: { syncTimeoutMs: 0 } },
} as const;

export interface GreedyOutcome {
  honest: unknown;
  /** The server's connection table at the end: which of its ends were held. */
  table: Array<{ remotePartition: number; held: boolean }>;
  stats: PartitionStats[];
}

/**
 * `greedyFits`: answers the greedy client's receive ring holds (its records are `greedyBytes` + 16,
 * rounded up to 8); the attack starts once it holds them and the server had a moment to fill its
 * send ring with more. `greedyCount`: its requests, enough to fill the server's send ring too.
 */
export async function greedyBesideHonest(
  options: Omit<MachineOptions, 'partitions'> & { partitions: [] },
  server: (typeof SERVERS)[number] | typeof POLLING_SERVER,
  greedyBytes: number,
  honestBytes: number,
  greedyFits: number,
  greedyCount = 2 * greedyFits + 200,
): Promise<GreedyOutcome> {
  await using machine = await createMachine({ ...options, partitions: [{ id: 1, name: 'server' }, { id: 2, name: 'honest' }, { id: 3, name: 'greedy' }] });
  const stop = new SharedArrayBuffer(4);
  const go = new SharedArrayBuffer(4);
  const greedySent = new SharedArrayBuffer(4);
  const { program, args } = SERVER_PROGRAM[server];
  const serving = await machine.partition(1).spawn(fixture(program), { port: 7, clients: 2, stop, ...args });
  const honest = await machine.partition(2).spawn(fixture('round-trip-client.mjs'), { partition: 1, port: 7, n: 25, waitAt: 5, go, timeoutMs: 8000, bytes: honestBytes });
  const delivered = (id: number) => machine.stats().partitions.find((p) => p.id === id)!.delivered;
  await waitFor("the honest client's first round trips", () => delivered(2) === 5);
  const greedy = await machine.partition(3).spawn(fixture('greedy-client.mjs'), { partition: 1, port: 7, bytes: greedyBytes, count: greedyCount, sent: greedySent });
  await waitFor("the greedy client's requests to be sent", () => Atomics.load(new Int32Array(greedySent), 0) === 1);
  await waitFor('its ring to fill with answers', () => delivered(3) === greedyFits);
  await new Promise((r) => setTimeout(r, 300));
  Atomics.store(new Int32Array(go), 0, 1);
  const outcome = await honest.result;
  Atomics.store(new Int32Array(stop), 0, 1);
  const table = (await serving.result) as GreedyOutcome['table'];
  const stats = machine.stats().partitions;
  Atomics.store(new Int32Array(greedySent), 0, 2);
  await greedy.result;
  return { honest: outcome, table, stats };
}
