/**
 * 130: the link's receive stage keeps the queue pair of the last DATA run it verified
 * (`LinkedChannels.runQueuePair`, looked up once for all the run's messages), and nothing let go
 * of it when that queue pair's partition went down. A queue pair holds its port, and a port every
 * ring of its partition (~4 MiB at the default geometry): a run of a partition that was sent a
 * message from another node and then crashed stayed reachable after its restart until the next
 * run from any link to any partition, which on a node whose links are otherwise quiet is never.
 * Cases 102, 122 and 123 let go of such references in the engine; this one is the link's.
 *
 * Driven in process, as attack15b-pending-port.test.ts is: the real Hardware and its
 * restartPartition, the real RemoteConnect and LinkedChannels, a stand-in link to node 5, the
 * frames' runs and messages handed to LinkedChannels as the link reader hands them, and a
 * collected WeakRef to each old run's port.
 */
import { expect, it } from 'vitest';
import { closedEndpoint, gc, inProcessHardware } from '../security/in-process-restart.js';
import type { Hardware } from '../../src/hardware/hardware.js';
import { LinkedChannels } from '../../src/hardware/link/linked-channels.js';
import type { NodeLink } from '../../src/hardware/link/node-link.js';
import { RemoteConnect } from '../../src/hardware/link/remote-connect.js';
import type { ConnectFields } from '../../src/hardware/link/link-writer.js';
import { RingConsumer } from '../../src/shared/ring.js';
import { queuePairRings } from '../../src/shared/port.js';

const RUNS = 6;
const NODE = 5;
const WINDOW = 1 << 20;
const PAYLOAD = 8;

function scene() {
  const { options, hw } = inProcessHardware({ partitions: [{ id: 1 }, { id: 2 }], wait: 'sleep' });
  const connects: ConnectFields[] = [];
  const violations: string[] = [];
  const link = {
    node: NODE,
    up: true,
    uncounted: 0,
    counters: { violation: (kind: string) => violations.push(kind), messagesReceived: () => {} },
    connect: (f: ConnectFields) => connects.push(f),
    close: (): void => {},
    owe: (): void => {},
    excusesLate: () => false,
    flush: (): void => {},
  };
  const links = new Map([[NODE, link as unknown as NodeLink]]);
  const remote = new RemoteConnect(hw.manager, hw.table, hw.keys, links, () => {}, { answerTimeoutMs: 600_000, windowBytes: WINDOW, maxMessageBytes: 64 * 1024 });
  const channels = new LinkedChannels(hw.table, hw.keys, hw.engine, hw.counters, links, [link as unknown as NodeLink], () => {}, WINDOW, hw.engine.keptLimitBytes, 600_000);
  // As assemble.ts wires them.
  hw.engine.remote = channels;
  hw.manager.remote = remote;
  return { hw, options, link, connects, remote, channels, violations };
}

function restart(hw: Hardware, index: number): void {
  hw.restartPartition(index, closedEndpoint());
}

/**
 * One run of partition 1: it connects to node 5, which opens the channel and sends it one message
 * (a DATA run handed to the receive stage as the link reader hands it), which the run reads; then
 * the run crashes and is restarted. Not async: the test's frame holds none of the ports.
 */
function crashLoop(s: ReturnType<typeof scene>): { oldPorts: Array<WeakRef<SharedArrayBuffer>>; read: number } {
  const { hw, options, link, connects, remote, channels } = s;
  const oldPorts: Array<WeakRef<SharedArrayBuffer>> = [];
  let read = 0;
  for (let run = 0; run < RUNS; run++) {
    const port = hw.ports[0];
    expect(hw.manager.openQueuePair(port, 0).ok).toBe(true);
    expect(remote.connect(port, 0, NODE, 1, 7)).toBeInstanceOf(Promise);
    const c = connects[connects.length - 1];
    remote.connectOk(link as unknown as NodeLink, c.request, 100 + run, 3, WINDOW, 4096, 0);
    const [k0, k1, k2, k3] = c.key;
    const d = channels.run(link as unknown as NodeLink, c.sourceChannel, 1, 1, k0, k1, k2, k3);
    expect(d).toBeGreaterThanOrEqual(0);
    const buf = new Uint8Array(64);
    expect(channels.message(link as unknown as NodeLink, d, buf, new Uint32Array(buf.buffer), 0, PAYLOAD)).toBeGreaterThanOrEqual(0);
    channels.delivered(link as unknown as NodeLink, d);
    channels.processed();
    const rx = new RingConsumer(queuePairRings(port.buffer, options.geometry, 0).receive);
    while (rx.poll() > 0) {
      rx.consume();
      read++;
    }
    rx.release();
    oldPorts.push(new WeakRef(port.buffer));
    restart(hw, 0);
  }
  return { oldPorts, read };
}

it("130: a message from another node to a partition's run holds no port of that run once it has been restarted", async () => {
  const s = scene();
  const { oldPorts, read } = crashLoop(s);
  // Each run got its message: the runs are the link's and went where they should.
  expect(read).toBe(RUNS);
  expect(s.violations).toEqual([]);
  await new Promise<void>((resolve) => setImmediate(resolve));
  gc();
  gc();
  // Without the change: the last run's port, through runQueuePair ([false,false,false,false,false,true]).
  expect(oldPorts.map((p) => p.deref() !== undefined)).toEqual(oldPorts.map(() => false));
});

it('130: after a restart, a run to the new run of the partition is still delivered there', () => {
  const s = scene();
  crashLoop(s);
  const { oldPorts, read } = crashLoop(s);
  expect(read).toBe(RUNS);
  expect(oldPorts).toHaveLength(RUNS);
  expect(s.violations).toEqual([]);
});
