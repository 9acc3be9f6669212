/**
 * Two linked nodes for the link tests, each in its own OS process (./harness.ts): node 2
 * listens on loopback, node 1 dials it (the dial rule: the lower id dials the higher), directly
 * or through a relay the test controls (./relay.ts). Resolves once both sides report the link up.
 */
import { waitFor } from '../security/harness.js';
import { makeCertificates, type CertificateSet } from './certs.js';
import { PROGRESS, startNode, type NodeConfig, type NodeProcess, type RemoteProgram } from './harness.js';
import { startRelay, type Relay } from './relay.js';

export const LOOPBACK = '127.0.0.1';

export interface LinkedPair {
  /** Node 1, the dialing side. */
  a: NodeProcess;
  /** Node 2, the listening side. */
  b: NodeProcess;
  relay: Relay | undefined;
  certs: CertificateSet;
  close(): Promise<void>;
}

export interface PairOptions {
  /** Put a relay between the nodes (node 1 dials the relay, which forwards to node 2). */
  relay?: boolean;
  /** Partitions of each node (default 1 and 2). */
  partitions?: NodeConfig['partitions'];
  /** Options both machines share besides partitions and node (policy, ring sizes, …). */
  machine?: Omit<NodeConfig, 'partitions' | 'node'>;
  /** Node 2's machine options, when they differ (its policy, for instance). */
  machineB?: Omit<NodeConfig, 'partitions' | 'node'>;
  heartbeatMs?: number;
  deadAfterMs?: number;
  /** The window each node grants a channel (node.channelWindowBytes). */
  channelWindowBytes?: number;
}

export async function startLinkedPair(o: PairOptions = {}): Promise<LinkedPair> {
  const certs = makeCertificates([1, 2]);
  const partitions = o.partitions ?? [{ id: 1 }, { id: 2 }];
  const timing = { ...(o.heartbeatMs === undefined ? {} : { heartbeatMs: o.heartbeatMs }), ...(o.deadAfterMs === undefined ? {} : { deadAfterMs: o.deadAfterMs }), ...(o.channelWindowBytes === undefined ? {} : { channelWindowBytes: o.channelWindowBytes }) };
  let relay: Relay | undefined;
  try {
    const b = await startNode({
      wait: 'sleep',
      ...(o.machineB ?? o.machine),
      partitions,
      node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], certificates: certs.paths(2), ...timing },
    });
    if (b.port === undefined) throw new Error('node 2 did not report the port it listens on');
    relay = o.relay ? await startRelay({ port: b.port }) : undefined;
    const a = await startNode({
      wait: 'sleep',
      ...o.machine,
      partitions,
      node: { id: 1, peers: [{ id: 2, host: LOOPBACK, port: relay?.port ?? b.port }], certificates: certs.paths(1), ...timing },
    });
    // Polled, not awaited as linkUp events: a link may come up while createMachine is still
    // booting the partitions, before anyone could listen for the event.
    try {
      await until('the link to be up on both nodes', async () => (await linkTo(a, 2)).state === 'up' && (await linkTo(b, 1)).state === 'up');
    } catch (e) {
      const seen = async (n: NodeProcess) => JSON.stringify({ events: n.events, stats: await n.stats().catch((x: Error) => x.message) });
      throw new Error(`${(e as Error).message}; node 1: ${await seen(a)}; node 2: ${await seen(b)}`);
    }
    const r = relay;
    return {
      a,
      b,
      relay: r,
      certs,
      async close() {
        await Promise.all([a.close(), b.close()]);
        await r?.close();
        certs.remove();
      },
    };
  } catch (e) {
    await relay?.close();
    certs.remove();
    throw e;
  }
}

/** The stats().links row of `node` on a node process. */
export async function linkTo(n: NodeProcess, node: number): Promise<any> {
  const stats = await n.stats();
  const row = stats.links?.find((l: { node: number }) => l.node === node);
  if (row === undefined) throw new Error(`node ${n.id} has no link row for node ${node}: ${JSON.stringify(stats.links)}`);
  return row;
}

/** Poll a probe until it is truthy (the security tests' helper: a deadline, never a fixed sleep). */
export const until = waitFor;

/**
 * Polls a program's PROGRESS word every `everyMs` until it moved and then stood still for three
 * looks in a row (a stream held back); returns where it stood, or undefined if it never did
 * within `looks` looks.
 */
export async function untilStill(program: RemoteProgram, everyMs: number, looks = 200): Promise<number | undefined> {
  let last = -1;
  let still = 0;
  for (let i = 0; i < looks && still < 3; i++) {
    await new Promise((r) => setTimeout(r, everyMs));
    const now = (await program.control.read())[PROGRESS];
    still = now === last && now > 0 ? still + 1 : 0;
    last = now;
  }
  return still === 3 ? last : undefined;
}
