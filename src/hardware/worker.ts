/**
 * Entry of the hardware worker ("hardware-0"). The operator (main thread)
 * reaches it through HardwareAdmin on the worker's parent port; partitions
 * only through their own control ports, bound to their identity.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { expose, nodeEndpoint, transfer, WORKER_READY } from '../shared/control-plane.js';
import { Hardware } from './hardware.js';
import type { ResolvedOptions } from '../options.js';

export interface HardwareBoot {
  options: ResolvedOptions;
  controlPorts: MessagePort[];
  /** Ports and counters the operator allocated; absent: the hardware allocates them. */
  buffers?: { ports: SharedArrayBuffer[]; counters: SharedArrayBuffer };
}

const boot = workerData as HardwareBoot;
const hardware = new Hardware(boot.options, boot.buffers);
boot.controlPorts.forEach((port, i) => hardware.bindControl(i, port));
hardware.start();

function requireHooks(): void {
  if (!boot.options.testHooks) throw new Error('hardware test hooks are off; pass testHooks: true to createMachine');
}

/** What the operator may ask of the hardware. Partitions never hold this endpoint. */
const admin = {
  ports(): { ports: SharedArrayBuffer[]; counters: SharedArrayBuffer } {
    return { ports: hardware.ports.map((p) => p.buffer), counters: hardware.counters.buffer };
  },
  partitionDown(index: number): void {
    hardware.partitionDown(index);
  },
  restartPartition(index: number, control: MessagePort): SharedArrayBuffer {
    return hardware.restartPartition(index, control);
  },
  /** Test hook: corrupt the key in every stamp from this partition, so the receive stage must reject it. */
  corruptStamps(index: number, on: boolean): void {
    requireHooks();
    if (on) hardware.engine.corruptStampsFrom.add(index);
    else hardware.engine.corruptStampsFrom.delete(index);
  },
  /** Test hook: every key made so far (live and revoked), for scanning partition memory for leaks. */
  keyHistory(): Uint8Array[] {
    requireHooks();
    const keys = hardware.keys.keyHistory();
    return transfer(keys, keys.map((k) => k.buffer as ArrayBuffer));
  },
  /** Test hook: how many key-table entries are non-zero (revoked keys must be zeroed). */
  liveKeyCount(): number {
    requireHooks();
    let n = 0;
    for (let e = 0; e < hardware.table.state.length; e++) if (!hardware.keys.isZero(e)) n++;
    return n;
  },
  /** Test hook: crash this worker the way an uncaught error in the engine would. */
  crash(): void {
    requireHooks();
    setImmediate(() => {
      throw new Error('hardware test hook: crash');
    });
  },
  stop(): void {
    hardware.scheduler.stop();
  },
};
export type HardwareAdmin = typeof admin;

expose(admin, nodeEndpoint(parentPort!));
parentPort!.postMessage(WORKER_READY);
