/**
 * Entry of a partition worker ("partition-<id>"). It receives exactly one
 * SharedArrayBuffer (its own port) and one control endpoint to the hardware.
 * With a replacement OS module, that module receives the same two things and
 * nothing more.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { PartitionOS } from './os.js';
import type { PartitionBoot, PartitionOsContext } from '../shared/boot.js';
import type { PartitionControlApi } from '../shared/control-contract.js';
import { expose, nodeEndpoint, wrap, WORKER_READY } from '../shared/control-plane.js';
import { describeValue } from '../shared/errors.js';
import type { PartitionOsApi } from '../shared/operator-contract.js';
import { ownThreadId } from '../shared/thread-word.js';

const boot = workerData as PartitionBoot;
// Before any code of an OS module or a program runs here: once the word's one reference is gone,
// nothing in this partition can write another thread's id into it (shared/thread-word.ts).
if (boot.threadWord !== undefined) {
  Atomics.store(new Int32Array(boot.threadWord), 0, ownThreadId());
  delete boot.threadWord;
}

if (boot.os !== undefined) {
  const mod = (await import(boot.os)) as { default?: unknown };
  if (typeof mod.default !== 'function') {
    const what = mod.default === undefined ? 'has no default export' : `has a default export that is ${describeValue(mod.default)}, not a function`;
    throw new TypeError(`${what}; export default function os({ partitionId, name, port, control }) returning the OS api`);
  }
  const api = await (mod.default as (ctx: PartitionOsContext) => unknown)({ partitionId: boot.id, name: boot.name, port: boot.port, control: boot.controlEndpoint });
  expose(withNamedMisses((api ?? {}) as object, boot.id), nodeEndpoint(parentPort!));
} else {
  // Boot ends once the operator endpoint is exposed; the OS with the process and channel modules
  // loads behind it (most of a partition's module graph), and the first call waits for it. Every
  // worker of a machine boots at once on a few cores, so what is not loaded before READY is boot
  // time saved for all of them.
  const loading: Promise<PartitionOS> = Promise.all([import('./os.js'), import('../shared/port.js'), import('./trace.js')]).then(
    ([{ PartitionOS }, { attachPort }, { PartitionTrace }]) => {
      const port = attachPort(boot.port);
      const trace = boot.trace === undefined ? undefined : new PartitionTrace(boot.trace.ring, boot.trace.sample, port.geometry.channelSlots);
      return new PartitionOS(port, wrap<PartitionControlApi>(nodeEndpoint(boot.controlEndpoint)), boot.wait, trace);
    },
  );
  const api: PartitionOsApi = {
    start: async (moduleRef, args) => (await loading).start(moduleRef, args),
    result: async (pid) => {
      const outcome = await (await loading).result(pid);
      await stdioFlushed();
      return outcome;
    },
    abort: async (pid, reason) => (await loading).abort(pid, reason),
    hardwareReset: async () => (await loading).hardwareReset(),
  };
  expose(withNamedMisses(api, boot.id), nodeEndpoint(parentPort!));
}
parentPort!.postMessage(WORKER_READY);

/** How long a program's result waits for its output to reach the operator's thread, at most. */
const STDIO_FLUSH_BOUND_MS = 1000;

/**
 * Resolves once what this thread wrote to stdout and stderr has reached the operator's thread (or
 * after STDIO_FLUSH_BOUND_MS, if the operator's own output is blocked). A worker's stdio holds its
 * writes until the operator's thread takes each chunk, and a terminate() drops what it still holds:
 * an operator that closed the machine as soon as a result arrived lost the program's last lines
 * (177–197 of 200, when the program's receives blocked its thread between lines).
 */
async function stdioFlushed(): Promise<void> {
  const deadline = performance.now() + STDIO_FLUSH_BOUND_MS;
  while ((process.stdout.writableLength > 0 || process.stderr.writableLength > 0) && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/**
 * The OS's api (a replacement's, or the standard one's), answering a call to a method it does not have with what it has
 * (comlink alone reads the method as undefined and fails on "reading 'apply'").
 */
function withNamedMisses(api: object, partitionId: number): object {
  return new Proxy(api, {
    get(target, key, receiver) {
      if (typeof key !== 'string' || key in target) return Reflect.get(target, key, receiver);
      return () => {
        const methods = Object.keys(target).filter((k) => typeof (target as Record<string, unknown>)[k] === 'function');
        throw new TypeError(`the OS of partition ${partitionId} has no method ${key} (its methods: ${methods.join(', ') || 'none'})`);
      };
    },
  });
}
