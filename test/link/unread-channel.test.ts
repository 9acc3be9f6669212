/**
 * THREATS case 48: one receive ring its process does not read must hold back only its own
 * channel, never the link. Two nodes in two OS processes: partition 1 of node 2 accepts a 4 KiB
 * stream from node 1 and reads nothing; once that stream stands still (its window is spent:
 * per-channel credit, docs/LINK.md), an honest pair of other partitions opens a channel over the
 * same link and moves 100 messages. Before the credit, the link's reader stopped at the full ring:
 * the honest pair got 0 of 100 (even its CONNECT waited) and the link was never judged silent.
 * Then the idle reader reads: everything the stream sent arrives, exactly once.
 */
import { afterEach, expect, it } from 'vitest';
import { GO, STOP } from './harness.js';
import { linkTo, startLinkedPair, untilStill, type LinkedPair } from './pair.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let pair: LinkedPair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

it('48: a partition that reads nothing of a stream over a link holds back that stream only; an honest pair over the same link goes on', async () => {
  pair = await startLinkedPair({ partitions: [{ id: 1 }, { id: 2 }], heartbeatMs: 50, deadAfterMs: 400 });
  const { a, b } = pair;
  const idle = await b.spawn(1, 'read-later', { port: 8 });
  const stream = await a.spawn(1, 'sender', { node: 2, partition: 1, port: 8, size: 4096 });
  // The stream stands still once its ring on node 2 is full and its window is spent.
  const last = await untilStill(stream, 100);
  expect(last, 'the unread stream never stood still').toBeDefined();

  const rx = await b.spawn(2, 'receiver', { port: 7, size: 64 });
  const tx = await a.spawn(2, 'sender', { node: 2, partition: 2, port: 7, size: 64, count: 100 });
  const [sent, received] = await Promise.race([
    Promise.all([tx.result, rx.result]),
    sleep(15_000).then(() => {
      throw new Error('the honest pair did not finish within 15 s beside the unread stream');
    }),
  ]);
  expect(sent).toMatchObject({ connected: true, sent: 100, error: undefined });
  expect(received.channels).toEqual([expect.objectContaining({ received: 100, outOfOrder: 0, corrupt: 0, end: 'ECLOSED' })]);

  // Node 2 keeps what its ring could not take, within the window it granted (4 MiB by default).
  const keeping = (await linkTo(b, 1)).keptBytes;
  expect(keeping).toBeGreaterThan(0);
  expect(keeping).toBeLessThanOrEqual(4 * 1024 * 1024);

  // Meanwhile the link stayed up (heartbeats were read all along) and saw nothing it had to refuse.
  for (const [node, peer] of [[a, 2], [b, 1]] as const) {
    const link = await linkTo(node, peer);
    expect(link.state).toBe('up');
    expect(link.downs).toBe(0);
    expect(link.violations.total).toBe(0);
  }

  // The idle reader reads at last: the stream goes on, and what it sent arrives exactly once.
  await idle.control.set(GO, 1);
  await sleep(300);
  await stream.control.set(STOP, 1);
  const streamed = await stream.result;
  expect(streamed).toMatchObject({ connected: true, error: undefined });
  expect(streamed.sent).toBeGreaterThan(last!);
  expect(await idle.result).toEqual({ read: streamed.sent });
  expect((await linkTo(b, 1)).keptBytes).toBe(0);
}, 60_000);
