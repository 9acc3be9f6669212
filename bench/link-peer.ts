/**
 * The second OS process of `lparlink bench --suite link`, forked by bench/link.ts: it receives
 * and the bench process sends, so every figure crosses a process boundary over loopback TLS.
 * It takes one task over IPC, posts `{ port }` once it listens, then `{ tally }` when the stream
 * has ended (or `{ error }`), and exits.
 * - `raw-tls`: a TLS 1.3 server with mutual authentication that counts framed messages
 *   (bench/tls-stream.ts): the baseline.
 * - `node`: lparlink node 2 (one partition) listening on loopback for node 1, with a stream-recv
 *   program on partition 1 port 7.
 */
import type { AddressInfo } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import { createMachine, type WaitMode } from '../src/index.js';
import { PROGRAMS, STREAM_RING_BYTES } from './fabric.js';
import type { BenchTls } from './link-certs.js';
import type { ReceiveTally } from './programs/common.js';
import type { StreamRecvArgs } from './programs/stream-recv.js';
import { countFramed } from './tls-stream.js';

export type PeerTask =
  | { role: 'raw-tls'; tls: BenchTls; warmupMs: number }
  | { role: 'node'; tls: BenchTls; wait: WaitMode; mode: 'drain' | 'recv'; maxPayload: number; warmupMs: number };

export type PeerMessage = { port: number } | { tally: ReceiveTally } | { error: string };

/** The port the receiving program listens on in node 2's partition 1. */
export const LINK_BENCH_PORT = 7;
export const LOOPBACK = '127.0.0.1';
/**
 * Silence the bench's links tolerate. The bench measures throughput, not failure detection: on a
 * machine loaded far past its cores the 400 ms default can end a healthy link mid-sample.
 */
export const BENCH_DEAD_AFTER_MS = 5000;

function post(m: PeerMessage): void {
  process.send?.(m);
}

async function rawTls(task: Extract<PeerTask, { role: 'raw-tls' }>): Promise<ReceiveTally> {
  const server = createServer({ ...task.tls, minVersion: 'TLSv1.3', requestCert: true, rejectUnauthorized: true });
  const tally = new Promise<ReceiveTally>((resolve, reject) => {
    server.once('secureConnection', (socket: TLSSocket) => countFramed(socket, task.warmupMs).then(resolve, reject));
    server.once('tlsClientError', reject);
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  post({ port: (server.address() as AddressInfo).port });
  try {
    return await tally;
  } finally {
    server.close();
  }
}

/** What both nodes of a link sample share: one partition, the run's wait mode, stream-sized rings. */
export function benchNodeBase(wait: WaitMode, maxPayload: number) {
  return { partitions: [{ id: 1 }], wait, maxMessageBytes: Math.max(maxPayload, 64), sendRingBytes: STREAM_RING_BYTES, receiveRingBytes: STREAM_RING_BYTES };
}

async function node(task: Extract<PeerTask, { role: 'node' }>): Promise<ReceiveTally> {
  const machine = await createMachine({
    ...benchNodeBase(task.wait, task.maxPayload),
    // Port 0: a free port, bound before createMachine resolves (machine.listening).
    node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], tls: task.tls, deadAfterMs: BENCH_DEAD_AFTER_MS },
  });
  const port = machine.listening!.port;
  try {
    const args: StreamRecvArgs = { port: LINK_BENCH_PORT, channels: 1, mode: task.mode, wait: task.wait, warmupMs: task.warmupMs };
    const rx = await machine.partition(1).spawn(PROGRAMS.streamRecv, args);
    post({ port });
    return (await rx.result) as ReceiveTally;
  } finally {
    await machine.close();
  }
}

// Ctrl-C reaches the whole process group: the bench process finishes the sample under way, which
// needs this side to finish it too (it ends when the bench process stops it). A bench process that
// is gone (a second Ctrl-C) leaves nobody to stop it: the IPC channel closing ends it then.
process.on('SIGINT', () => {});
process.once('disconnect', () => process.exit(0));

process.once('message', (task: PeerTask) => {
  const run = task.role === 'raw-tls' ? rawTls(task) : node(task);
  run.then(
    (tally) => post({ tally }),
    (e: Error) => post({ error: e.stack ?? String(e) }),
  ).finally(() => process.disconnect());
});
