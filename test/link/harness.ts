/**
 * Two-process harness of the link tests: each lparlink node runs in its own OS process
 * (test/link/node-process.mjs, started with child_process.fork), as the issue asks, and the test
 * drives it from here.
 *
 *     const certs = makeCertificates([1, 2]);                       // ./certs.ts
 *     const b = await startNode({ partitions: [{ id: 1 }], node: { id: 2, listen: { port: 0 },
 *       peers: [{ id: 1 }], certificates: certs.paths(2) } });      // b.port: the port it got
 *     const a = await startNode({ partitions: [{ id: 1 }], node: { id: 1,
 *       peers: [{ id: 2, host: '127.0.0.1', port: b.port }], certificates: certs.paths(1) } });
 *     await until('up', async () => (await linkTo(a, 2)).state === 'up'); // ./pair.ts, or
 *     // startLinkedPair() there, which does all of the above
 *     const rx = await b.spawn(1, 'receiver', { port: 7, size: 64 });
 *     const tx = await a.spawn(1, 'sender', { node: 2, partition: 1, port: 7, count: 1000 });
 *     await tx.result; await rx.result; await a.stats();
 *     await closeNodes();                                          // afterEach: every node started
 *
 * - `startNode(config)`: config is createMachine's options, JSON only, with `node.certificates`
 *   (key/cert/ca paths, read by the node process into `node.tls`) in place of PEM text;
 *   testHooks is on unless the config says otherwise; `listen.port` 0 binds a free port, which
 *   `port` then holds (machine.listening). Resolves once the machine has booted and listens.
 * - `spawn(partition, program, args)`: program is a file name in ./programs ('sender',
 *   'receiver') or an absolute path; args are structured-cloned and gain `control`, a block of
 *   16 Int32 words shared between the node process and the program (./programs/control.mjs:
 *   STOP, READY, PROGRESS, FAILED, ENDED), read and set from here with `control.read()/set()`.
 *   `result` resolves with what main returned, or rejects with an Error carrying its `code`.
 * - `stats()`, `keyHistory()`, `scanPorts(needles)` (where each byte string occurs in each
 *   partition's port buffer), `events` (every forwarded machine event: linkUp, linkDown,
 *   partitionExit, programError, hardwareExit), `waitForEvent(name, match?)`. Events emitted
 *   while createMachine was still booting (a link that came up early) cannot be seen: poll
 *   stats() for states.
 * - `close()`: closes the machine; the process exits 0. `kill(signal)` (default SIGKILL) ends it
 *   at once; both resolve with how it exited. Calls pending when the process dies reject.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { MachineOptions } from 'lparlink';
import type { NodeCertificatePaths } from './certs.js';

const NODE_PROCESS = fileURLToPath(new URL('./node-process.mjs', import.meta.url));

/** Words of a program's control block (the same numbers as ./programs/control.mjs). */
export const STOP = 0;
export const READY = 1;
export const PROGRESS = 2;
export const FAILED = 3;
export const ENDED = 4;
export const GO = 5;

/** The `node` option as the harness takes it: the link's option with certificate paths for `tls`. */
export interface HarnessLinkConfig {
  id: number;
  listen?: { host?: string; port: number };
  peers?: Array<{ id: number; host?: string; port?: number }>;
  certificates?: NodeCertificatePaths;
  tls?: { key: string; cert: string; ca: string };
  heartbeatMs?: number;
  deadAfterMs?: number;
  channelWindowBytes?: number;
}

/** createMachine's options, JSON only (no `os` URLs), plus the harness form of `node`. */
export type NodeConfig = Omit<MachineOptions, 'partitions' | 'policy' | 'node'> & {
  partitions: Array<{ id: number; name?: string }>;
  policy?: { allow?: unknown[] };
  node?: HarnessLinkConfig;
};

export interface MachineEvent {
  name: string;
  info: any;
  /** Date.now() in the node process when it was emitted. */
  at: number;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RemoteProgram<Result = any> {
  readonly pid: number;
  readonly result: Promise<Result>;
  readonly control: {
    /** Every word of the program's control block, as the node process reads it now. */
    read(): Promise<number[]>;
    set(word: number, value: number): Promise<void>;
  };
}

export interface NodeProcess {
  /** The node id, or undefined for a machine without the `node` option. */
  readonly id: number | undefined;
  /** The port the node listens on (bound from `listen.port`, 0 included), when it listens. */
  readonly port: number | undefined;
  readonly child: ChildProcess;
  readonly events: MachineEvent[];
  /** Resolves when the process has exited, however it ended. */
  readonly exited: Promise<Exit>;
  spawn<Result = any>(partition: number, program: string, args?: Record<string, unknown>): Promise<RemoteProgram<Result>>;
  stats(): Promise<any>;
  keyHistory(): Promise<Uint8Array[]>;
  scanPorts(needles: Uint8Array[]): Promise<Array<{ partition: number; found: number[][] }>>;
  /** The first event named `name` (already seen or still to come) that `match` accepts. */
  waitForEvent(name: string, match?: (info: any) => boolean, timeoutMs?: number): Promise<MachineEvent>;
  close(): Promise<Exit>;
  kill(signal?: NodeJS.Signals): Promise<Exit>;
}

interface ErrorRecord {
  name: string;
  message: string;
  code?: string;
  stack?: string;
}

/** An Error rebuilt from the node process's record of it, `code` included. */
function rebuild(record: ErrorRecord, context: string): Error {
  const e = new Error(`${context}: ${record.name}: ${record.message}`) as Error & { code?: string };
  e.name = record.name;
  if (record.code !== undefined) e.code = record.code;
  if (record.stack !== undefined) e.stack = `${e.message}\n--- in the node process ---\n${record.stack}`;
  return e;
}

interface Deferred {
  promise: Promise<any>;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

function deferred(): Deferred {
  let resolve!: (v: unknown) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => {}); // a test that does not await a result must not fail on it
  return { promise, resolve, reject };
}

const started = new Set<NodeProcess>();

/** Close every node this test file started and has not closed (kill those that do not close). */
export async function closeNodes(): Promise<void> {
  const nodes = [...started];
  started.clear();
  await Promise.all(
    nodes.map(async (n) => {
      const closed = n.close().catch(() => undefined);
      const late = setTimeout(() => n.kill('SIGKILL').catch(() => {}), 10_000);
      await closed;
      clearTimeout(late);
    }),
  );
}

/** Fork a node process and boot its machine from `config`. */
export async function startNode(config: NodeConfig): Promise<NodeProcess> {
  if (typeof config !== 'object' || config === null || !Array.isArray(config.partitions)) {
    throw new TypeError('startNode(config): config must be createMachine options with a partitions array');
  }
  const child = fork(NODE_PROCESS, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const name = `node process ${config.node?.id ?? '(no node option)'} (pid ${child.pid})`;
  const pending = new Map<number, { resolve(v: any): void; reject(e: Error): void; op: string }>();
  // A program's outcome may arrive in the same IPC read as the spawn reply, before spawn() has
  // run on: whichever comes first makes the program's deferred result.
  const results = new Map<number, Deferred>();
  const resultOf = (handle: number): Deferred => {
    let d = results.get(handle);
    if (d === undefined) results.set(handle, (d = deferred()));
    return d;
  };
  const events: MachineEvent[] = [];
  const eventWaiters = new Set<() => void>();
  let nextCall = 1;
  let gone: Error | undefined;

  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      gone = new Error(`${name} exited (code ${code}, signal ${signal})`);
      for (const p of pending.values()) p.reject(gone);
      for (const r of results.values()) r.reject(gone); // no-op for those already settled
      pending.clear();
      for (const w of eventWaiters) w();
      resolve({ code, signal });
    });
  });
  const hello = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    void exited.then(() => reject(gone));
    child.on('message', (m: any) => {
      if (m.hello) resolve();
      else if (m.reply !== undefined) {
        const p = pending.get(m.reply);
        pending.delete(m.reply);
        if (m.ok) p?.resolve(m.value);
        else p?.reject(rebuild(m.error, `${name}: ${p?.op}`));
      } else if (m.done !== undefined) {
        const r = resultOf(m.done);
        if (m.ok) r.resolve(m.value);
        else r.reject(rebuild(m.error, `${name}: program ${m.done}`));
      } else if (m.event !== undefined) {
        events.push({ name: m.event, info: m.info, at: m.at });
        for (const w of eventWaiters) w();
      }
    });
  });

  const call = <T>(op: string, args?: unknown): Promise<T> => {
    if (gone) return Promise.reject(gone);
    return new Promise<T>((resolve, reject) => {
      const id = nextCall++;
      pending.set(id, { resolve, reject, op });
      child.send({ call: id, op, args });
    });
  };

  const node: NodeProcess = {
    id: config.node?.id,
    port: undefined,
    child,
    events,
    exited,
    async spawn(partition, program, args = {}) {
      const { handle, pid } = await call<{ handle: number; pid: number }>('spawn', { partition, program, args });
      const result = resultOf(handle);
      if (gone) result.reject(gone);
      return {
        pid,
        result: result.promise,
        control: {
          read: () => call<number[]>('control', { handle }),
          set: async (word, value) => void (await call('control', { handle, word, value })),
        },
      };
    },
    stats: () => call('stats'),
    keyHistory: () => call('keyHistory'),
    scanPorts: (needles) => call('scanPorts', { needles }),
    waitForEvent(eventName, match = () => true, timeoutMs = 20_000) {
      const find = () => events.find((e) => e.name === eventName && match(e.info));
      return new Promise((resolve, reject) => {
        const check = () => {
          const e = find();
          if (e !== undefined) finish(() => resolve(e));
          else if (gone) finish(() => reject(new Error(`${name} exited before a ${eventName} event`)));
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`${name}: no ${eventName} event within ${timeoutMs} ms (seen: ${events.map((e) => e.name).join(', ') || 'none'})`))),
          timeoutMs,
        );
        const finish = (settle: () => void) => {
          clearTimeout(timer);
          eventWaiters.delete(check);
          settle();
        };
        eventWaiters.add(check);
        check();
      });
    },
    async close() {
      started.delete(node);
      if (!gone) await call('close').catch(() => {});
      return exited;
    },
    async kill(signal = 'SIGKILL') {
      started.delete(node);
      if (!gone) child.kill(signal);
      return exited;
    },
  };
  started.add(node);
  await hello;
  const { port } = await call<{ port: number | undefined }>('start', config);
  (node as { port: number | undefined }).port = port;
  return node;
}
