/**
 * THREATS case 49: a peer node that keeps its link up (heartbeats) and never answers a CONNECT.
 * The connecting partition's connect() used to wait until the link went down, its slot taken;
 * now it fails with ETIMEDOUT after the link's bound (10 × deadAfterMs, at least 2 s). An answer
 * that comes after that opens nothing: node 2 closes the channel the peer opened, cleanly, and
 * counts no violation (an honest node may just have been slow).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeCertificates } from './certs.js';
import { startNode, type NodeProcess } from './harness.js';
import { F, HostilePeer } from './hostile-peer.js';
import { linkTo, LOOPBACK } from './pair.js';

const certs = makeCertificates([1, 2]);
const DEAD_AFTER_MS = 250;
/** 10 × deadAfterMs, at least 2 s (docs/LINK.md). */
const ANSWER_BOUND_MS = Math.max(10 * DEAD_AFTER_MS, 2000);
let b: NodeProcess;
beforeAll(async () => {
  b = await startNode({
    partitions: [{ id: 1 }],
    wait: 'sleep',
    // A window under one of its largest messages: it grants the message (grantedWindow), as its CONNECT says.
    maxMessageBytes: 1 << 20,
    sendRingBytes: 4 << 20,
    receiveRingBytes: 4 << 20,
    node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], certificates: certs.paths(2), deadAfterMs: DEAD_AFTER_MS, channelWindowBytes: 64 * 1024 },
  });
});
afterAll(async () => {
  await b?.close();
  certs.remove();
});

it('49: a connect the peer node never answers fails with ETIMEDOUT within the bound; a late answer is closed, uncounted', async () => {
  const peer = await HostilePeer.dial(b.port!, certs.tls(1));
  try {
    const started = performance.now();
    const tx = await b.spawn(1, 'sender', { node: 1, partition: 1, port: 7, connectTimeoutMs: 0 });
    const connect = await peer.next((f) => f.type === F.FrameType.CONNECT, 'the CONNECT from node 2');
    const request = connect.bytes.readUInt32LE(F.ConnectFrame.REQUEST_OFFSET);
    expect(connect.bytes.readUInt32LE(F.ConnectFrame.WINDOW_OFFSET)).toBe(F.messageBytes(1 << 20));
    const result = await tx.result;
    const waited = performance.now() - started;
    expect(result).toEqual({ connected: false, error: 'ETIMEDOUT', sent: 0 });
    expect(waited).toBeGreaterThanOrEqual(ANSWER_BOUND_MS - 50);
    expect(waited).toBeLessThan(ANSWER_BOUND_MS + 3000);
    // The link stayed up all along: heartbeats, no violation.
    expect((await linkTo(b, 1)).state).toBe('up');

    // The peer answers now: node 2 opens nothing and closes the peer's new end at once, cleanly.
    peer.send(peer.connectOkFrame(request, 77, 1));
    const close = await peer.next((f) => f.type === F.FrameType.CLOSE, 'the CLOSE of the late channel');
    expect(close.bytes.readUInt32LE(F.CloseFrame.CHANNEL_OFFSET)).toBe(77);
    expect(close.bytes.readUInt32LE(F.CloseFrame.SENDER_CHANNEL_OFFSET)).toBe(connect.bytes.readUInt32LE(F.ConnectFrame.SOURCE_CHANNEL_OFFSET));
    expect(close.bytes.readUInt32LE(F.CloseFrame.STATUS_OFFSET)).toBe(0);
    // A second answer to the same request is one to nothing node 2 asked: counted.
    peer.send(peer.connectOkFrame(request, 78, 1));
    const link = await (async () => {
      for (let i = 0; i < 100; i++) {
        const l = await linkTo(b, 1);
        if (l.violations.total > 0) return l;
        await new Promise((r) => setTimeout(r, 20));
      }
      return linkTo(b, 1);
    })();
    expect(link.violations).toMatchObject({ total: 1, badFrame: 1 });
    expect(link.state).toBe('up');
  } finally {
    peer.close();
  }
}, 30_000);
