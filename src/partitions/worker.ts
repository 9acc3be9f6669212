/**
 * Entry of a partition worker ("partition-<id>"). It receives exactly one
 * SharedArrayBuffer (its own port) and one control endpoint to the hardware.
 * With a replacement OS module, that module receives the same two things and
 * nothing more.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PartitionOS } from './os.js';
import type { PartitionBoot, PartitionOsContext } from '../shared/boot.js';
import type { PartitionControlApi } from '../shared/control-contract.js';
import { expose, nodeEndpoint, wrap, WORKER_READY } from '../shared/control-plane.js';
import type { PartitionOsApi } from '../shared/operator-contract.js';
import { attachPort } from '../shared/port.js';

const boot = workerData as PartitionBoot;

if (boot.os !== undefined) {
  const mod = (await import(boot.os)) as { default: (ctx: PartitionOsContext) => unknown };
  const api = await mod.default({ partitionId: boot.id, name: boot.name, port: boot.port, control: boot.controlEndpoint });
  expose(api ?? {}, nodeEndpoint(parentPort!));
} else {
  const port = attachPort(boot.port);
  const os = new PartitionOS(port, wrap<PartitionControlApi>(nodeEndpoint(boot.controlEndpoint)), boot.wait);
  const api: PartitionOsApi = {
    start: (moduleRef, args) => os.start(moduleRef, args),
    result: (pid) => os.result(pid),
    abort: (pid, reason) => os.abort(pid, reason),
    hardwareReset: () => os.hardwareReset(),
  };
  expose(api, nodeEndpoint(parentPort!));
}
parentPort!.postMessage(WORKER_READY);
