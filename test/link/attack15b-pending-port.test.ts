/**
 * THREATS case 108: a connect waiting for another node's answer held the port of the partition run
 * that made it until the answer came, the answer bound passed (10 × deadAfterMs: 4 s at the
 * defaults, up to 100 minutes) or the link went down, though that run had ended long before. A
 * port holds its SharedArrayBuffer, every ring of the partition (~4 MiB at the default geometry),
 * outside the hardware's heap limit. A partition that crashes in a loop under an operator that
 * restarts it (case 102's supervisor), connecting in each run to a node that does not answer (a
 * hostile one, or one whose link is congested), left the hardware one old port per run, up to its
 * waiting connects' bound per link (its channel slots, at most 256): 64 old ports, 256 MiB, at the
 * defaults, per such node. Now a waiting connect records the partition's index, and an answer that
 * opens the channel writes to the port of the run that still holds the end (a run that ended freed
 * its ends, so an answer to it opens nothing).
 *
 * Driven in process: the real Hardware and its restartPartition, the real RemoteConnect, a link to
 * node 5 that never answers (a stand-in), and a collected WeakRef to each old run's port.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MessageChannel } from 'node:worker_threads';
import { expect, it } from 'vitest';
import { Hardware } from '../../src/hardware/hardware.js';
import type { NodeLink } from '../../src/hardware/link/node-link.js';
import { RemoteConnect } from '../../src/hardware/link/remote-connect.js';
import type { ConnectFields } from '../../src/hardware/link/link-writer.js';
import { resolveOptions } from '../../src/options.js';
import { CONNECTION_HANDLE_OFFSET, CONNECTION_REMOTE_NODE_OFFSET, CONNECTION_REMOTE_PARTITION_OFFSET, CONNECTION_REMOTE_PROCESS_OFFSET, CONNECTION_STATE_OFFSET, ConnectionState, connectionEntryOffset } from '../../src/shared/layout.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const RUNS = 6;
const NODE = 5;
const WINDOW = 1 << 20;
/** Longer than the test: no connect is given up while it runs (a node may take its link's whole bound). */
const ANSWER_TIMEOUT_MS = 600_000;

function scene() {
  const hw = new Hardware(resolveOptions({ partitions: [{ id: 1 }, { id: 2 }], wait: 'sleep' }));
  hw.bindControl = () => {};
  const connects: ConnectFields[] = [];
  const link = {
    node: NODE,
    up: true,
    counters: { violation: () => {} },
    connect: (f: ConnectFields) => connects.push(f),
    close: (_channel: number, _sender: number, _status: number): void => {},
  };
  const remote = new RemoteConnect(hw.manager, hw.table, hw.keys, new Map([[NODE, link as unknown as NodeLink]]), () => {}, {
    answerTimeoutMs: ANSWER_TIMEOUT_MS,
    windowBytes: WINDOW,
    maxMessageBytes: 64 * 1024,
  });
  // As assemble.ts wires it: the hardware tells it of a partition's end.
  hw.manager.remote = remote;
  return { hw, link, connects, remote };
}

function restart(hw: Hardware, index: number): void {
  const { port1, port2 } = new MessageChannel();
  port1.close();
  port2.close();
  hw.restartPartition(index, port1);
}

/**
 * RUNS runs of partition 1, each connecting to node 5 and then restarted (its run crashed; the
 * operator restarts it): the connects still waiting, and a WeakRef to each old run's port. Not
 * async: the test's own frame must hold none of the ports.
 */
function crashLoop(hw: Hardware, remote: RemoteConnect): { waiting: Array<Promise<unknown>>; oldPorts: Array<WeakRef<SharedArrayBuffer>> } {
  const waiting: Array<Promise<unknown>> = [];
  const oldPorts: Array<WeakRef<SharedArrayBuffer>> = [];
  for (let run = 0; run < RUNS; run++) {
    const port = hw.ports[0];
    expect(hw.manager.openQueuePair(port, 0).ok).toBe(true);
    const answer = remote.connect(port, 0, NODE, 1, 7);
    expect(answer).toBeInstanceOf(Promise);
    // What waits for the answer holds the run, as the control plane's does (comlink's reaction to
    // the call keeps the PartitionControl it exposed, and that the run's port).
    waiting.push(
      (answer as Promise<unknown>).then((r) => {
        if (port.id !== 1) throw new Error('not the partition that connected');
        return r;
      }),
    );
    oldPorts.push(new WeakRef(port.buffer));
    restart(hw, 0);
  }
  return { waiting, oldPorts };
}

it("108: connects waiting on a node that does not answer hold no run's port once that run has ended", async () => {
  const { hw, remote } = scene();
  const { waiting, oldPorts } = crashLoop(hw, remote);
  await new Promise<void>((resolve) => setImmediate(resolve));
  gc();
  gc();
  expect(oldPorts.filter((p) => p.deref() !== undefined)).toHaveLength(0);
  // Each was answered as its run ended (nobody reads it now: the run's control endpoint is closed).
  expect(await Promise.all(waiting)).toEqual(waiting.map(() => expect.objectContaining({ ok: false, code: 'ECLOSED' })));
});

it('108: a connect whose run ended still counts as its partition\'s while it waits, and its late answer is closed', async () => {
  const { hw, link, connects, remote } = scene();
  const closes: Array<[number, number, number]> = [];
  link.close = (channel: number, sender: number, status: number) => closes.push([channel, sender, status]);
  crashLoop(hw, remote);
  // The six wait still: the answer that comes for one is closed (EPEERDEAD), no channel opens.
  remote.connectOk(link as unknown as NodeLink, connects[0].request, 77, 3, WINDOW, 4096, 0);
  expect(closes).toEqual([[77, connects[0].sourceChannel, 4]]);
  // The new run's own connect goes out, and opens.
  const port = hw.ports[0];
  expect(hw.manager.openQueuePair(port, 0).ok).toBe(true);
  const answer = remote.connect(port, 0, NODE, 1, 7) as Promise<{ ok: boolean }>;
  remote.connectOk(link as unknown as NodeLink, connects[RUNS].request, 78, 3, WINDOW, 4096, 0);
  expect(await answer).toMatchObject({ ok: true, remoteNode: NODE });
});

it('108: an answer to a connect of the current run still opens its channel and writes its row into that run\'s port', async () => {
  const { hw, link, connects, remote } = scene();
  // A run that ended first, then the run that connects.
  expect(hw.manager.openQueuePair(hw.ports[0], 0).ok).toBe(true);
  restart(hw, 0);
  const port = hw.ports[0];
  expect(hw.manager.openQueuePair(port, 0).ok).toBe(true);
  const answer = remote.connect(port, 0, NODE, 1, 7) as Promise<{ ok: boolean; handle: number }>;
  remote.connectOk(link as unknown as NodeLink, connects[0].request, 77, 3, WINDOW, 4096, 0);
  const granted = await answer;
  expect(granted).toMatchObject({ ok: true, remoteNode: NODE, remotePartition: 1, remoteProcess: 3, maxMessageBytes: 4096 });
  const slot = granted.handle & hw.table.slotMask;
  const row = (offset: number) => port.u32[(connectionEntryOffset(slot) + offset) >> 2];
  expect([CONNECTION_HANDLE_OFFSET, CONNECTION_STATE_OFFSET, CONNECTION_REMOTE_NODE_OFFSET, CONNECTION_REMOTE_PARTITION_OFFSET, CONNECTION_REMOTE_PROCESS_OFFSET].map(row)).toEqual([granted.handle, ConnectionState.OPEN, NODE, 1, 3]);
});
