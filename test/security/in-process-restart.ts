/**
 * The scene of the tests that restart a partition in process and ask, with a collected WeakRef,
 * whether the hardware still holds the old run's port (THREATS cases 102, 122, 123): the real
 * Hardware without its control plane, and restartPartition as the operator's restart() calls it.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Hardware } from '../../src/hardware/hardware.js';
import { resolveOptions, type MachineOptions } from '../../src/options.js';
import { readPartitionStats } from '../../src/shared/counter-block.js';

setFlagsFromString('--expose-gc');
/** A full collection, so a WeakRef to what nothing holds is cleared. */
export const gc = runInNewContext('gc') as () => void;

/**
 * What restartPartition binds the new run's control plane to. The tests leave the control plane
 * out (bindControl does nothing): a closed MessagePort lets go of its listeners, which reach the
 * run's port, only some time after its 'close', and these tests look at what the engine holds.
 */
export function closedEndpoint(): MessagePort {
  const { port1, port2 } = new MessageChannel();
  port1.close();
  port2.close();
  return port1;
}

/** The hardware of `options`, its control plane left out; a partition's counters; rounds until three in a row did nothing. */
export function inProcessHardware(options: MachineOptions) {
  const resolved = resolveOptions(options);
  const hw = new Hardware(resolved);
  hw.bindControl = () => {};
  const stats = (p: number) => readPartitionStats(hw.counters.values, p, p + 1, '');
  const settle = (): void => {
    for (let idle = 0; idle < 3; ) idle = hw.engine.round() > 0 ? 0 : idle + 1;
  };
  return { options: resolved, hw, stats, settle };
}
