/**
 * THREATS.md case 40: what an unauthenticated connection can make a listening node hold. Anyone
 * who reaches the listener's port gets, before any certificate is checked, a socket and TLS state
 * in the hardware worker. The listener closes each that has not finished its handshake within the
 * dialing side's own bound (10 × deadAfterMs, at least 2 s), and holds at most 64 such at once:
 * one more is closed at once. Both count in `unknownIdentities`.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeCertificates } from './certs.js';
import { startNode, type NodeProcess } from './harness.js';
import { LOOPBACK, until } from './pair.js';

const certs = makeCertificates([1, 2]);
let b: NodeProcess;
beforeAll(async () => {
  // deadAfterMs 200: the handshake bound is its floor, 2 s.
  b = await startNode({ partitions: [{ id: 1 }], wait: 'sleep', node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], certificates: certs.paths(2), deadAfterMs: 200 } });
});
afterAll(async () => {
  await b?.close();
  certs.remove();
});

interface Held {
  socket: Socket;
  closedAfterMs?: number;
}

/**
 * Open one plain TCP connection to the listener from `from` (any 127/8 address is this host's: one
 * address holds at most 8 unfinished handshakes, case 82); `partialRecord`: send the first 5 bytes
 * of a TLS record, then nothing.
 */
function hold(t0: number, partialRecord: boolean, from: string): Held {
  const socket = connect({ host: LOOPBACK, port: b.port!, localAddress: from });
  const held: Held = { socket };
  socket.on('error', () => {});
  socket.on('close', () => (held.closedAfterMs = Date.now() - t0));
  if (partialRecord) socket.on('connect', () => socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])));
  return held;
}

it('40: connections that never finish their handshake are closed within the bound, and at most 64 are held at once', async () => {
  const before = (await b.stats()).unknownIdentities;
  const t0 = Date.now();
  const first: Held[] = [];
  // 8 from each of 8 addresses: the listener's bound, not one address's.
  for (let i = 0; i < 64; i++) first.push(hold(t0, i % 2 === 1, `127.0.0.${11 + (i >> 3)}`));
  // Wait until the listener holds all 64 (each connected, none closed), then one more: closed at once.
  await until('64 connections to be held', async () => first.every((h) => !h.socket.connecting) && first.every((h) => h.closedAfterMs === undefined));
  await new Promise((r) => setTimeout(r, 200));
  const extra = Array.from({ length: 6 }, (_, i) => hold(t0, false, `127.0.0.${21 + i}`));
  await until('the connections over the bound to be closed', async () => extra.every((h) => h.closedAfterMs !== undefined));
  expect(first.filter((h) => h.closedAfterMs !== undefined), 'the 64 held are still open while the 6 over the bound are closed').toHaveLength(0);
  await until('the held connections to be closed', async () => first.every((h) => h.closedAfterMs !== undefined), 15_000);
  for (const h of first) expect(h.closedAfterMs).toBeGreaterThanOrEqual(1900);
  await until('every refusal to be counted', async () => (await b.stats()).unknownIdentities - before >= 70);
  expect((await b.stats()).unknownIdentities - before).toBe(70);
}, 30_000);
