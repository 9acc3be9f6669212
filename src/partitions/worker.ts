/**
 * Entry of a partition worker ("partition-<id>"). It receives exactly one
 * SharedArrayBuffer (its own port) and one control port to the hardware.
 * With a replacement OS module, that module receives the same two things and
 * nothing more.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { PartitionOS } from './os.js';
import type { PartitionControlApi } from '../hardware/control-endpoint.js';
import { expose, nodeEndpoint, wrap, WORKER_READY } from '../shared/control-plane.js';
import { attachPort } from '../shared/port.js';
import type { WaitPolicy } from '../shared/wait.js';

export interface PartitionBoot {
  id: number;
  name: string;
  port: SharedArrayBuffer;
  control: MessagePort;
  os: string | undefined;
  wait: WaitPolicy;
}

/** What a replacement OS module's default export is called with. */
export interface PartitionOsContext {
  /** The partition's id. */
  partitionId: number;
  /** The partition's name. */
  name: string;
  /** The partition's port: its one SharedArrayBuffer with the hardware (layout in `lparlink/internal`). */
  port: SharedArrayBuffer;
  /** The partition's control endpoint to the hardware (comlink calls: openQueuePair, listen, accept, connect, …). */
  control: MessagePort;
}

const boot = workerData as PartitionBoot;

if (boot.os !== undefined) {
  const mod = (await import(boot.os)) as { default: (ctx: PartitionOsContext) => unknown };
  const api = await mod.default({ partitionId: boot.id, name: boot.name, port: boot.port, control: boot.control });
  expose(api ?? {}, nodeEndpoint(parentPort!));
} else {
  const port = attachPort(boot.port);
  const os = new PartitionOS(port, wrap<PartitionControlApi>(nodeEndpoint(boot.control)), boot.wait);
  expose(
    {
      start: (moduleRef: string, args: unknown) => os.start(moduleRef, args),
      result: (pid: number) => os.result(pid),
      hardwareReset: () => os.hardwareReset(),
    },
    nodeEndpoint(parentPort!),
  );
}
parentPort!.postMessage(WORKER_READY);
