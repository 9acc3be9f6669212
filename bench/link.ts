/**
 * The cases of `lparlink bench --suite link`: two nodes as two OS processes on this host (this
 * process sends, a forked bench/link-peer.js receives), each case beside a raw TLS 1.3 socket
 * between the same two processes that packs framed messages into large writes. Every sample
 * starts both processes afresh: no state carries from one sample to the next.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:tls';
import { createMachine, type WaitMode } from '../src/index.js';
import { PROGRAMS } from './fabric.js';
import { benchCertificates } from './link-certs.js';
import { BENCH_DEAD_AFTER_MS, benchNodeBase, LINK_BENCH_PORT, LOOPBACK, type PeerMessage, type PeerTask } from './link-peer.js';
import type { ReceiveTally } from './programs/common.js';
import type { StreamSendArgs } from './programs/stream-send.js';
import { sendFramed } from './tls-stream.js';

const PEER = new URL('./link-peer.js', import.meta.url);
/** A sample that has not finished by then has hung: stop it rather than the whole run. */
const PEER_TIMEOUT_MS = 60_000;

interface Peer {
  /** The port the peer listens on. */
  ready: Promise<number>;
  /** What the peer's receiver counted once the stream ended. */
  tally: Promise<ReceiveTally>;
  stop(): void;
}

function forkPeer(task: PeerTask): Peer {
  const child: ChildProcess = fork(PEER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let ready!: (port: number) => void;
  let tally!: (t: ReceiveTally) => void;
  let failed!: (e: Error) => void;
  const failure = new Promise<never>((_, reject) => (failed = reject));
  failure.catch(() => {});
  const timer = setTimeout(() => failed(new Error(`link bench: the peer process did not finish within ${PEER_TIMEOUT_MS} ms`)), PEER_TIMEOUT_MS);
  const peer: Peer = {
    ready: Promise.race([new Promise<number>((r) => (ready = r)), failure]),
    tally: Promise.race([new Promise<ReceiveTally>((r) => (tally = r)), failure]),
    stop() {
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill();
    },
  };
  child.on('message', (m: PeerMessage) => {
    if ('port' in m) ready(m.port);
    else if ('tally' in m) tally(m.tally);
    else failed(new Error(`link bench: the peer process failed: ${m.error}`));
  });
  child.once('exit', (code, signal) => failed(new Error(`link bench: the peer process exited (code ${code}, signal ${signal}) before it reported`)));
  child.send(task);
  // A sample that fails before it awaits one of these (the peer died first) must not leave the
  // other's rejection unhandled: that would end the run with a stack trace instead of its line.
  peer.ready.catch(() => {});
  peer.tally.catch(() => {});
  return peer;
}

async function withPeer<T>(task: PeerTask, body: (peer: Peer, port: number) => Promise<T>): Promise<T> {
  const peer = forkPeer(task);
  try {
    return await body(peer, await peer.ready);
  } finally {
    peer.stop();
  }
}

export interface LinkStreamCase {
  size: number;
  /** Messages per sendBatch; 1 sends each message on its own. */
  batch: number;
  mode: 'drain' | 'recv';
  durationSeconds: number;
  wait: WaitMode;
  maxPayload: number;
  /** The receiver leaves the stream's first milliseconds out of its count (both systems alike). */
  warmupMs: number;
}

/** One-way stream from node 1 (this process) to node 2 (the peer process), measured at the receiver. */
export function linkStream(c: LinkStreamCase): Promise<ReceiveTally> {
  const certs = benchCertificates();
  const task: PeerTask = { role: 'node', tls: certs.get(2)!, wait: c.wait, mode: c.mode, maxPayload: c.maxPayload, warmupMs: c.warmupMs };
  return withPeer(task, async (peer, port) => {
    const machine = await createMachine({
      ...benchNodeBase(c.wait, c.maxPayload),
      node: { id: 1, peers: [{ id: 2, host: LOOPBACK, port }], tls: certs.get(1)!, deadAfterMs: BENCH_DEAD_AFTER_MS },
    });
    try {
      const args: StreamSendArgs = { node: 2, partition: 1, port: LINK_BENCH_PORT, size: c.size, batch: c.batch, durationMs: c.durationSeconds * 1000 };
      const tx = await machine.partition(1).spawn(PROGRAMS.streamSend, args);
      await tx.result;
      return await peer.tally;
    } finally {
      await machine.close();
    }
  });
}

/** The baseline: framed messages in large writes over one TLS 1.3 socket to the peer process. */
export function rawTlsStream(c: { size: number; durationSeconds: number; warmupMs: number }): Promise<ReceiveTally> {
  const certs = benchCertificates();
  return withPeer({ role: 'raw-tls', tls: certs.get(2)!, warmupMs: c.warmupMs }, async (peer, port) => {
    const socket = connect({ ...certs.get(1)!, host: LOOPBACK, port, minVersion: 'TLSv1.3' });
    try {
      await once(socket, 'secureConnect');
      await sendFramed(socket, c.size, c.durationSeconds * 1000);
      return await peer.tally;
    } finally {
      socket.destroy();
    }
  });
}
