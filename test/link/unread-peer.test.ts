/**
 * THREATS.md case 41: a peer that asks without reading the answers. An authenticated peer node
 * (the test process, with node 1's valid certificate) streams CONNECT frames to a port nobody
 * listens on: node 2's hardware answers each with a CONNECT_REFUSED. A peer that reads its socket
 * gets them all and its link stays up; one that reads nothing must not grow node 2's unsent output
 * without bound: node 2 takes the link down once 16 MiB wait unsent, saying why.
 */
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeCertificates } from './certs.js';
import { startNode, type NodeProcess } from './harness.js';
import { F, HostilePeer } from './hostile-peer.js';
import { linkTo, LOOPBACK } from './pair.js';

const certs = makeCertificates([1, 2]);
let b: NodeProcess;
beforeAll(async () => {
  b = await startNode({
    partitions: [{ id: 1 }],
    wait: 'sleep',
    // Silence must not be what ends the link here.
    node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], certificates: certs.paths(2), deadAfterMs: 5000 },
  });
});
afterAll(async () => {
  await b?.close();
  certs.remove();
});

/** 1 MiB of CONNECT frames from partition 1 to partition 1, port 999 (nobody listens). */
function connects(peer: HostilePeer): Buffer {
  const n = Math.floor((1 << 20) / F.ConnectFrame.BYTES);
  const chunk = Buffer.alloc(n * F.ConnectFrame.BYTES);
  for (let i = 0; i < n; i++) {
    const f = peer.frame(F.FrameType.CONNECT, F.ConnectFrame.BYTES);
    f.writeUInt32LE(i + 1, F.ConnectFrame.REQUEST_OFFSET);
    f.writeUInt32LE(1, F.ConnectFrame.SOURCE_PARTITION_OFFSET);
    f.writeUInt32LE(1, F.ConnectFrame.SOURCE_PROCESS_OFFSET);
    f.writeUInt32LE(1, F.ConnectFrame.DESTINATION_PARTITION_OFFSET);
    f.writeUInt32LE(999, F.ConnectFrame.DESTINATION_SERVICE_OFFSET);
    f.copy(chunk, i * F.ConnectFrame.BYTES);
  }
  return chunk;
}

/** Write `mib` MiB of CONNECTs, or fewer if the node closes the connection first; returns the MiB written. */
async function stream(peer: HostilePeer, mib: number): Promise<number> {
  const socket = (peer as unknown as { socket: TLSSocket }).socket;
  const chunk = connects(peer);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  let n = 0;
  for (; n < mib && !peer.closed; n++) {
    if (!socket.write(chunk)) await Promise.race([new Promise((r) => socket.once('drain', r)), closed]);
  }
  return n;
}

it('41: a peer that reads its answers keeps its link; one that reads nothing loses it once 16 MiB wait unsent', async () => {
  const reading = await HostilePeer.dial(b.port!, certs.tls(1));
  expect(await stream(reading, 32)).toBe(32);
  // Its answers arrive (the HostilePeer reads and parses every frame).
  const refused = () => reading.frames.filter((f) => f.type === F.FrameType.CONNECT_REFUSED).length;
  const expected = 32 * Math.floor((1 << 20) / F.ConnectFrame.BYTES);
  for (let i = 0; i < 300 && refused() < expected; i++) await new Promise((r) => setTimeout(r, 20));
  expect(refused()).toBe(expected);
  expect(reading.closed).toBe(false);
  expect((await linkTo(b, 1)).state).toBe('up');
  reading.close();
  await b.waitForEvent('linkDown', (i) => i.node === 1);

  const silent = await HostilePeer.dial(b.port!, certs.tls(1));
  (silent as unknown as { socket: TLSSocket }).socket.pause(); // from now on it reads nothing
  const written = await stream(silent, 512);
  expect(silent.closed, `the node still held the link after ${written} MiB of requests`).toBe(true);
  const down = await b.waitForEvent('linkDown', (info) => info.node === 1 && info.reason !== 'the connection closed');
  expect(down.info.reason).toMatch(/^node 1 read nothing of the last (1[6-9]|2\d) MiB sent to it while it kept sending requests$/);
}, 60_000);
