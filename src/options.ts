/** Every machine option, its default, and its check, in one place. */
import { statSync } from 'node:fs';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeValue, MachineError } from './shared/errors.js';
import { DeliverBody, MAX_RING_CAPACITY, maxRecordBytes, MIN_RING_CAPACITY, RecordLayout, SendBody } from './shared/layout.js';
import type { NodeTls, ResolvedOptions, ResolvedPartition, ResourceLimits } from './shared/boot.js';
import { resolveNode, resolvePolicyPairs, type NodeOptions, type PolicyEnd } from './node-options.js';
import { resolveWaitPolicy, WAIT_MODES, type WaitMode } from './shared/wait.js';

export type { ResolvedOptions, ResolvedPartition, ResourceLimits };

/** One partition of a machine: `createMachine({ partitions: [{ id: 1, name: 'db' }, ...] })`. */
export interface PartitionOptions {
  /** Positive integer (1 to 65535), unique in the machine. Programs name partitions by id (`proc.connect({ partition, port })`). */
  id: number;
  /** Shown in worker names, errors and stats. Default `partition-<id>`. */
  name?: string;
  /**
   * Replace the partition's OS with this module (its default export receives
   * exactly what a real OS receives: the port and the control endpoint).
   * For tests that play a hostile partition. A URL (best:
   * `new URL('./os.mjs', import.meta.url)`), a path (a relative one resolves
   * against the working directory, as spawn's do: one that starts with `./`,
   * or names a file there), or a package name.
   */
  os?: URL | string;
  /** Worker heap limits for this partition; default: the machine's `resourceLimits`; the old generation is 512 MiB unless set. */
  resourceLimits?: ResourceLimits;
}

/**
 * Options of {@link createMachine}. Every option is checked; a bad one throws
 * `MachineError` `EINVAL` naming it, before any worker starts. Defaults are
 * in {@link DEFAULTS}.
 */
export interface MachineOptions {
  /** The partitions, 1 to 64 of them; each becomes a worker thread with its own OS instance. */
  partitions: PartitionOptions[];
  /** Which pairs of partitions may open channels. Default: every pair. A partition may always connect to itself. */
  policy?: {
    /**
     * Unordered pairs of partition ids, e.g. `[[1, 2], [2, 3]]`; a connect between any other pair
     * fails with `EPOLICY`. On a node, an end may name another node's partition:
     * `[1, { node: 2, partition: 1 }]` (both nodes check their own policy).
     */
    allow?: Array<[PolicyEnd, PolicyEnd]>;
  };
  /** Make this machine one node of several, linked over mutual TLS (docs/LINK.md). Default: a single machine, no sockets. */
  node?: NodeOptions;
  /** Process slots (queue pairs) per partition, 1 to 256: how many programs may run in it at once (one more: `EMFILE`). Default 8. */
  processesPerPartition?: number;
  /** Channel slots per partition, 1 to 4096: open channel ends at once (one more: `EMFILE`). Default 64. */
  channelsPerPartition?: number;
  /** Listeners one partition may hold at once, 1 to 4096 (one more: `EMFILE`, counted in `controlRefusals`). Default 64. */
  listenersPerPartition?: number;
  /** Send ring bytes per process, a power of two from 1024. Small rings make cheap test machines. Default 256 KiB. */
  sendRingBytes?: number;
  /** Receive ring bytes per process, a power of two from 1024. Default 256 KiB. */
  receiveRingBytes?: number;
  /** Largest message payload in bytes (larger: `EMSGSIZE`). Default 64 KiB, or what the rings can carry (half a ring minus headers) if less. */
  maxMessageBytes?: number;
  /** How idle threads wait: 'spin' (lowest latency, burns a core), 'sleep', 'adaptive' (default). */
  wait?: WaitMode;
  /** Work requests one partition may have served per hardware round before the next gets its turn, shared among its queue pairs that send by what each needed the round before. Default 64. */
  budgetPerRound?: number;
  /**
   * Lower the dispatch priority (to nice 19) of a partition whose sends keep the engine's whole
   * budget busy while another partition makes round trips, and of the partitions draining that
   * flood, and set them back once it stops (`stats().partitions[i].demotions` counts them). A
   * stream beside round trips then gives up CPU to them. Only on Linux, and only where the process
   * may set a thread's priority back (root or CAP_SYS_NICE, or an RLIMIT_NICE that allows it);
   * elsewhere it does nothing. Default true.
   */
  demoteFlooders?: boolean;
  /** Turn on operator-only hardware test hooks (corrupt a stamp, list key fingerprints). Default false. */
  testHooks?: boolean;
  /** Default resource limits for partitions that set none. */
  resourceLimits?: ResourceLimits;
  /**
   * Record a message-flow trace (README "Tracing"): every `sample`-th message of each channel is
   * timed at send, stamp, verify, deliver and receive, into one trace ring per thread of
   * `records` records; write it out with {@link Machine.exportTrace}. Default (or `false`): off.
   */
  trace?: TraceOptions | false;
}

/** Options of `createMachine({ trace })`. */
export interface TraceOptions {
  /** Trace every `sample`-th message of each channel (1: every message), a positive integer. */
  sample: number;
  /** Records per thread's trace ring, 1024 to 1048576 (64 bytes each; the oldest are overwritten and counted as dropped). Default 32768. */
  records?: number;
}

/** The bounds of `trace.records` (records per thread's trace ring). */
export const MIN_TRACE_RECORDS = 1024;
export const MAX_TRACE_RECORDS = 1 << 20;

/**
 * The default of every option (and the fixed sizes), in one place. Frozen: it is exported for
 * reading, and a write to it would change every machine made after, past the option checks.
 */
export const DEFAULTS = Object.freeze({
  /** `processesPerPartition`: process slots (queue pairs) per partition. */
  processesPerPartition: 8,
  /** `channelsPerPartition`: open channel ends per partition. */
  channelsPerPartition: 64,
  /** `sendRingBytes`: per process. */
  sendRingBytes: 256 * 1024,
  /** `receiveRingBytes`: per process. */
  receiveRingBytes: 256 * 1024,
  /** Completion ring per process (fixed): error completions beyond it are dropped and counted (`completionsDropped`). */
  completionRingBytes: 4096,
  /** `maxMessageBytes` (lowered to what the rings can carry when they are small). */
  maxMessageBytes: 64 * 1024,
  /** `wait`. */
  wait: 'adaptive' as WaitMode,
  /** `budgetPerRound`. */
  budgetPerRound: 64,
  /** `listenersPerPartition`. */
  listenersPerPartition: 64,
  /** `demoteFlooders`. */
  demoteFlooders: true,
  /**
   * Old-generation heap of the hardware worker (fixed): its own tables and what partitions make it
   * hold through the control plane are bounded (about 58 KB per partition at the defaults), so a
   * runaway there fails the machine closed instead of growing without end. Messages it keeps aside
   * for full receive rings (THREATS case 51) are ArrayBuffers outside this heap: they are bounded
   * apart, at twice `sendRingBytes` per channel end (32 MiB for a partition's 64 ends at the
   * defaults, and up to twice that while a buffer grows).
   */
  hardwareHeapMb: 256,
  /** `trace.records`: records per thread's trace ring. */
  traceRecords: 32768,
  /** Most partitions a machine may have (fixed). */
  maxPartitions: 64,
  /**
   * How long a worker may take to boot (fixed): a replacement OS whose default export never
   * settles would otherwise hold createMachine (or restart) for good. A standard boot takes well
   * under a second. No bound while the operator's inspector is open (a boot may be paused at a breakpoint).
   */
  bootTimeoutMs: 60_000,
  /**
   * How long terminate() (and so close() and restart()) waits for a partition's thread to stop
   * (fixed). A thread blocked outside JavaScript (a synchronous system call, spawnSync) stops only
   * once that call returns: past this, it is let go (unref'd, with a warning) instead of waited for.
   */
  terminateTimeoutMs: 5_000,
  /** `resourceLimits.maxOldGenerationSizeMb` of a partition whose limits do not set it: no partition's heap is unbounded. */
  partitionHeapMb: 512,
} as const);

/** `maxMessageBytes`, checked: its bound is what one record of the smaller ring can carry, and the message says so. */
function messageLimit(value: unknown, largest: number, sendRingBytes: number, receiveRingBytes: number): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= largest) return value;
  bad(
    'maxMessageBytes',
    `must be an integer from 1 to ${largest}, got ${describeValue(value)}` +
      (typeof value === 'number' && value > largest
        ? ` (a message must fit one record of a ${Math.min(sendRingBytes, receiveRingBytes)}-byte ring, with its headers: raise sendRingBytes and receiveRingBytes, or send smaller messages)`
        : ''),
  );
}

function bad(option: string, why: string): never {
  throw new MachineError('EINVAL', `createMachine: ${option} ${why}`);
}

function intIn(option: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    bad(option, `must be an integer from ${min} to ${max}, got ${describeValue(value)}`);
  }
  return value;
}

function ringBytes(option: string, value: unknown): number {
  const n = intIn(option, value, MIN_RING_CAPACITY, MAX_RING_CAPACITY);
  if ((n & (n - 1)) !== 0) bad(option, `must be a power of two, got ${n}`);
  return n;
}

const RESOURCE_LIMIT_KEYS = ['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'stackSizeMb'] as const;
const MAX_STACK_SIZE_MB = 1024;

function resourceLimits(option: string, value: unknown): ResourceLimits | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    bad(option, `must be an object like { maxOldGenerationSizeMb: 64 }, got ${describeValue(value)}`);
  }
  const limits = value as Record<string, unknown>;
  for (const key of Object.keys(limits)) {
    if (!(RESOURCE_LIMIT_KEYS as readonly string[]).includes(key)) bad(`${option}.${key}`, `is not a resource limit (known: ${RESOURCE_LIMIT_KEYS.join(', ')})`);
    const n = limits[key];
    if (n !== undefined && (typeof n !== 'number' || !Number.isFinite(n) || n <= 0)) bad(`${option}.${key}`, `must be a positive number of MiB, got ${describeValue(n)}`);
    // A thread's stack is reserved when the worker starts: past this the start itself fails (EAGAIN).
    if (key === 'stackSizeMb' && (n as number) > MAX_STACK_SIZE_MB) bad(`${option}.${key}`, `must be at most ${MAX_STACK_SIZE_MB} MiB (Node's default is 4), got ${describeValue(n)}`);
  }
  return { ...limits };
}

const PARTITION_KEYS = new Set(['id', 'name', 'os', 'resourceLimits']);

function moduleRef(option: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (value instanceof URL) return value.href;
  if (typeof value === 'string' && value.length > 0) {
    // A path, made absolute here: the worker that imports it lives in lparlink's own folder, and
    // would resolve 'os.mjs' there. A path is one that starts with ./, ../ or /, or names a file
    // that exists; anything else (a package name, a URL string) is left to import().
    if (value.startsWith('./') || value.startsWith('../') || isAbsolute(value) || isFile(value)) return pathToFileURL(resolvePath(value)).href;
    return value;
  }
  return bad(option, `must be a URL, a path or a package name, got ${describeValue(value)}`);
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function resolveOptions(input: unknown): ResolvedOptions {
  return resolveMachineOptions(input).options;
}

/** The checked options, and the node's TLS material, which goes only to the hardware worker. */
export function resolveMachineOptions(input: unknown): { options: ResolvedOptions; tls: NodeTls | undefined } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    bad('options', `must be an object like { partitions: [{ id: 1 }, { id: 2 }] }, got ${describeValue(input)}`);
  }
  const o = input as MachineOptions;
  const known = new Set([
    'partitions', 'policy', 'processesPerPartition', 'channelsPerPartition', 'sendRingBytes', 'receiveRingBytes',
    'maxMessageBytes', 'wait', 'budgetPerRound', 'listenersPerPartition', 'testHooks', 'resourceLimits', 'trace', 'node',
    'demoteFlooders',
  ]);
  for (const key of Object.keys(o)) if (!known.has(key)) bad(`option '${key}'`, `is not an option (known: ${[...known].join(', ')})`);

  if (!Array.isArray(o.partitions) || o.partitions.length === 0) {
    bad('partitions', `must be a non-empty array like [{ id: 1 }, { id: 2 }], got ${describeValue(o.partitions)}`);
  }
  if (o.partitions.length > DEFAULTS.maxPartitions) bad('partitions', `may hold at most ${DEFAULTS.maxPartitions} partitions, got ${o.partitions.length}`);
  // A hole ([, { id: 1 }]) would be skipped by every map below, not refused.
  for (let i = 0; i < o.partitions.length; i++) if (!(i in o.partitions)) bad(`partitions[${i}]`, `is missing (a hole in the array); list partitions like [{ id: 1 }, { id: 2 }]`);
  const defaultLimits = resourceLimits('resourceLimits', o.resourceLimits);
  const ids = new Set<number>();
  const partitions = o.partitions.map((p, i): ResolvedPartition => {
    if (typeof p !== 'object' || p === null) bad(`partitions[${i}]`, `must be an object like { id: ${i + 1} }, got ${describeValue(p)}`);
    for (const key of Object.keys(p)) {
      if (!PARTITION_KEYS.has(key)) bad(`partitions[${i}].${key}`, `is not a partition option (known: ${[...PARTITION_KEYS].join(', ')})`);
    }
    const id = intIn(`partitions[${i}].id`, p.id, 1, 0xffff);
    if (ids.has(id)) bad(`partitions[${i}].id`, `${id} is used twice; partition ids must be unique`);
    ids.add(id);
    if (p.name !== undefined && (typeof p.name !== 'string' || !/^[\w.-]{1,40}$/.test(p.name))) {
      bad(`partitions[${i}].name`, `must be 1-40 letters, digits, '_', '.', '-', got ${describeValue(p.name)}`);
    }
    // The hardware worker's thread is named so (in traces, profiles, thread names): two would be ambiguous.
    if (p.name === 'hardware-0') bad(`partitions[${i}].name`, '"hardware-0" is the hardware worker\'s name; choose another');
    return {
      id,
      name: p.name ?? `partition-${id}`,
      os: moduleRef(`partitions[${i}].os`, p.os),
      resourceLimits: {
        maxOldGenerationSizeMb: DEFAULTS.partitionHeapMb,
        ...(resourceLimits(`partitions[${i}].resourceLimits`, p.resourceLimits) ?? defaultLimits),
      },
    };
  });
  // Names stand for partitions in worker names, errors and stats: two alike would make those ambiguous.
  const named = new Map<string, number>();
  partitions.forEach((p, i) => {
    const first = named.get(p.name);
    if (first !== undefined) {
      const given = (o.partitions[i] as PartitionOptions).name !== undefined;
      bad(`partitions[${i}].name`, `${describeValue(p.name)}${given ? '' : ' (its default)'} is also partitions[${first}]'s name; partition names must be unique`);
    }
    named.set(p.name, i);
  });

  const linked = resolveNode(o.node);
  let allow: Array<[number, number]> | undefined;
  let remoteAllow: ResolvedOptions['remoteAllow'];
  if (o.policy !== undefined) {
    if (typeof o.policy !== 'object' || o.policy === null || Array.isArray(o.policy)) {
      bad('policy', `must be an object like { allow: [[1, 2]] }, got ${describeValue(o.policy)}`);
    }
    // A misspelt key must not pass for no policy: that would let every pair connect.
    for (const key of Object.keys(o.policy)) if (key !== 'allow') bad(`policy.${key}`, "is not a policy option (known: allow); list the pairs that may connect in policy.allow");
    if (o.policy.allow === undefined) bad('policy.allow', 'is missing: list the pairs that may connect, like { allow: [[1, 2]] } (omit policy to let every pair connect)');
    if (!Array.isArray(o.policy.allow)) bad('policy.allow', `must be an array of [partitionId, partitionId] pairs, got ${describeValue(o.policy.allow)}`);
    const pairs = resolvePolicyPairs(o.policy.allow, ids, linked?.node);
    allow = pairs.local;
    remoteAllow = pairs.remote;
  }

  const sendRingBytes = o.sendRingBytes === undefined ? DEFAULTS.sendRingBytes : ringBytes('sendRingBytes', o.sendRingBytes);
  const receiveRingBytes =
    o.receiveRingBytes === undefined ? DEFAULTS.receiveRingBytes : ringBytes('receiveRingBytes', o.receiveRingBytes);
  const largestMessage = Math.min(
    maxRecordBytes(sendRingBytes) - RecordLayout.HEADER_BYTES - SendBody.BYTES,
    maxRecordBytes(receiveRingBytes) - RecordLayout.HEADER_BYTES - DeliverBody.BYTES,
  );
  const maxMessageBytes =
    o.maxMessageBytes === undefined
      ? Math.min(DEFAULTS.maxMessageBytes, largestMessage)
      : messageLimit(o.maxMessageBytes, largestMessage, sendRingBytes, receiveRingBytes);
  const wait = o.wait ?? DEFAULTS.wait;
  if (!WAIT_MODES.includes(wait)) bad('wait', `must be one of ${WAIT_MODES.join(', ')}, got ${describeValue(wait)}`);
  if (o.testHooks !== undefined && typeof o.testHooks !== 'boolean') bad('testHooks', `must be a boolean, got ${describeValue(o.testHooks)}`);
  if (o.demoteFlooders !== undefined && typeof o.demoteFlooders !== 'boolean') {
    bad('demoteFlooders', `must be a boolean (false keeps every partition's thread at the priority it started with), got ${describeValue(o.demoteFlooders)}`);
  }

  const options: ResolvedOptions = {
    partitions,
    allow,
    remoteAllow,
    node: linked?.node,
    geometry: {
      queuePairs: o.processesPerPartition === undefined ? DEFAULTS.processesPerPartition : intIn('processesPerPartition', o.processesPerPartition, 1, 256),
      channelSlots: o.channelsPerPartition === undefined ? DEFAULTS.channelsPerPartition : intIn('channelsPerPartition', o.channelsPerPartition, 1, 4096),
      sendRingBytes,
      receiveRingBytes,
      completionRingBytes: DEFAULTS.completionRingBytes,
      maxMessageBytes,
    },
    wait: resolveWaitPolicy(wait),
    budgetPerRound: o.budgetPerRound === undefined ? DEFAULTS.budgetPerRound : intIn('budgetPerRound', o.budgetPerRound, 1, 1 << 20),
    listenersPerPartition:
      o.listenersPerPartition === undefined ? DEFAULTS.listenersPerPartition : intIn('listenersPerPartition', o.listenersPerPartition, 1, 4096),
    testHooks: o.testHooks ?? false,
    trace: traceOptions(o.trace),
    demoteFlooders: o.demoteFlooders ?? DEFAULTS.demoteFlooders,
  };
  return { options, tls: linked?.tls };
}

const TRACE_KEYS = new Set(['sample', 'records']);

function traceOptions(value: unknown): ResolvedOptions['trace'] {
  // false, as in `trace: process.env.TRACE === '1' && { sample: 64 }`, is off, as leaving it out is.
  if (value === undefined || value === false) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    bad('trace', `must be an object like { sample: 64 }, or false or left out for no tracing; got ${describeValue(value)}`);
  }
  const t = value as Record<string, unknown>;
  for (const key of Object.keys(t)) if (!TRACE_KEYS.has(key)) bad(`trace.${key}`, `is not a trace option (known: ${[...TRACE_KEYS].join(', ')})`);
  return {
    sample: intIn('trace.sample', t.sample, 1, 0xffff_ffff),
    records: t.records === undefined ? DEFAULTS.traceRecords : intIn('trace.records', t.records, MIN_TRACE_RECORDS, MAX_TRACE_RECORDS),
  };
}
