/**
 * The scene of the tests that restart a partition in process and ask, with a collected WeakRef,
 * whether the hardware still holds the old run's port (THREATS cases 102, 122, 123): the real
 * Hardware without its control plane, and restartPartition as the operator's restart() calls it.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { expect } from 'vitest';
import { Hardware } from '../../src/hardware/hardware.js';
import { resolveOptions, type MachineOptions } from '../../src/options.js';
import { readPartitionStats } from '../../src/shared/counter-block.js';
import { RecordType, SendBody } from '../../src/shared/layout.js';
import { queuePairRings } from '../../src/shared/port.js';
import { FULL, RingProducer } from '../../src/shared/ring.js';

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

/**
 * Run `run(k)` then restart partition `index`, `runs` times, and say after a full collection which
 * old run's port anything still holds (true: held).
 */
export async function oldPortsHeld(hw: Hardware, index: number, runs: number, run: (k: number) => void): Promise<boolean[]> {
  const oldPorts: WeakRef<SharedArrayBuffer>[] = [];
  for (let k = 0; k < runs; k++) {
    run(k);
    oldPorts.push(new WeakRef(hw.ports[index].buffer));
    hw.restartPartition(index, closedEndpoint());
  }
  await new Promise<void>((resolve) => setImmediate(resolve));
  gc();
  return oldPorts.map((w) => w.deref() !== undefined);
}

/**
 * Partition `attacker` opens queue pair 0 and two channels to `accomplice`'s queue pair 0 (which
 * listens on port 7 and reads nothing meanwhile); a SEND on the first until one waits at its head,
 * then one on the second behind it: the hardware keeps the first aside (case 51), one message more.
 */
export function keepOneAside(scene: ReturnType<typeof inProcessHardware>, attacker: number, accomplice: number): void {
  const { options, hw, stats, settle } = scene;
  const port = hw.ports[attacker];
  expect(hw.manager.openQueuePair(port, 0).ok).toBe(true);
  const handles: number[] = [];
  for (let i = 0; i < 2; i++) {
    const c = hw.manager.connect(port, 0, hw.ports[accomplice].id, 7);
    const a = hw.manager.accept(hw.ports[accomplice], 0, 7);
    if (!c.ok || a instanceof Promise || !a.ok) throw new Error('set-up failed');
    handles.push(c.handle);
  }
  const tx = new RingProducer(queuePairRings(port.buffer, options.geometry, 0).send);
  const send = (handle: number): void => {
    const at = tx.tryClaim(RecordType.SEND, SendBody.BYTES + 8);
    if (at === FULL) throw new Error('send ring full');
    tx.u32[at >> 2] = handle;
    tx.u32[(at >> 2) + 1] = 0;
    tx.publish();
    settle();
  };
  const kept = stats(accomplice).kept;
  for (let before = -1; stats(attacker).sent !== before; ) {
    before = stats(attacker).sent;
    send(handles[0]);
  }
  send(handles[1]);
  // The head is kept aside; the second channel's SEND, with nothing behind it, waits at the head.
  expect(stats(accomplice).kept).toBe(kept + 1);
}
