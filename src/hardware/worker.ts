/**
 * Entry of the hardware worker ("hardware-0"). The operator (main thread)
 * reaches it through HardwareAdmin on the worker's parent port; partitions
 * only through their own control endpoints, bound to their identity.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { expose, nodeEndpoint, transfer, WORKER_READY } from '../shared/control-plane.js';
import { Hardware } from './hardware.js';
import type { HardwareBoot } from '../shared/boot.js';
import type { HardwareAdmin } from '../shared/operator-contract.js';
import { ConnectionState } from '../shared/layout.js';

const boot = workerData as HardwareBoot;
const { node } = boot.options;
const { link } = boot;
// Only a node loads TLS and the link's hardware modules (link/): 8–16 ms of module loading here, which
// every other machine's boot skips.
// Link events go to the operator on the parent port beside comlink's traffic (operator-contract.ts, LinkEvent).
const startLinks =
  node !== undefined && link !== undefined
    ? await import('./link/assemble.js').then((m) => (hw: Hardware) => m.startLinks(hw, node, link, (event) => parentPort!.postMessage(event)))
    : undefined;
const hardware = new Hardware(boot.options, boot.buffers, startLinks);
boot.controlEndpoints.forEach((endpoint, i) => hardware.bindControl(i, endpoint));
hardware.start();

function requireHooks(): void {
  if (!boot.options.testHooks) throw new Error('hardware test hooks are off; pass testHooks: true to createMachine');
}

/** What the operator may ask of the hardware. Partitions never hold this endpoint. */
const admin: HardwareAdmin = {
  ports() {
    return { ports: hardware.ports.map((p) => p.buffer), counters: hardware.counters.buffer };
  },
  partitionDown(index) {
    hardware.partitionDown(index);
  },
  restartPartition(index, controlEndpoint) {
    return hardware.restartPartition(index, controlEndpoint);
  },
  corruptStamps(index, on) {
    requireHooks();
    hardware.engine.corruptStamps(index, on);
  },
  keyHistory() {
    requireHooks();
    const keys = hardware.keys.keyHistory();
    return transfer(keys, keys.map((k) => k.buffer as ArrayBuffer));
  },
  liveKeyCount() {
    requireHooks();
    let n = 0;
    for (let e = 0; e < hardware.table.state.length; e++) if (!hardware.keys.isZero(e)) n++;
    return n;
  },
  /** Test hook: let only `generationsLeft` more channels use this free slot before it retires. */
  ageChannelSlot(index: number, slot: number, generationsLeft: number) {
    requireHooks();
    const t = hardware.table;
    if (!Number.isInteger(slot) || slot < 0 || slot >= t.slotsPerPartition) throw new RangeError(`slot ${slot} is outside 0..${t.slotsPerPartition - 1}`);
    if (!Number.isInteger(generationsLeft) || generationsLeft < 1 || generationsLeft > t.lastGeneration) {
      throw new RangeError(`generationsLeft must be an integer from 1 to ${t.lastGeneration}, got ${generationsLeft}`);
    }
    const e = t.entry(index, slot);
    if (t.state[e] !== ConnectionState.FREE) throw new RangeError(`slot ${slot} is not free`);
    t.age(e, generationsLeft);
  },
  /** Test hook: crash this worker the way an uncaught error in the engine would. */
  crash() {
    requireHooks();
    setImmediate(() => {
      throw new Error('hardware test hook: crash');
    });
  },
  dispatchOwnThreads() {
    requireHooks();
    return hardware.dispatch?.processOwnThreads();
  },
  async listening() {
    return hardware.links?.listening;
  },
  closeLinks(quietMs, capMs) {
    return hardware.closeLinks(quietMs, capMs);
  },
};
expose(admin, nodeEndpoint(parentPort!));
parentPort!.postMessage(WORKER_READY);
