/**
 * THREATS case 51 on a hardware that never sleeps ('spin' with 4 or more cores: its idle wait has
 * no end), so it never hands back all of a send ring at once before sleeping (releaseAll), and a
 * write() polls for room without sleeping: it must raise the hint again at each look, or the one
 * SEND the hardware kept aside for its first hint is all it ever gets (review, wave 18: the honest
 * client timed out; this fails without the repeated hint). The cores are faked for the wait policy
 * (node:os availableParallelism).
 */
import { describe, expect, it, vi } from 'vitest';

vi.mock('node:os', async (original) => {
  const real = (await original()) as typeof import('node:os');
  return { ...real, default: { ...real, availableParallelism: () => 16 }, availableParallelism: () => 16 };
});

const { resolveWaitPolicy } = await import('../../src/shared/wait.js');
const { greedyBesideHonest, SERVERS } = await import('./held-scenario.js');

describe('case 51 on a hardware that never sleeps', () => {
  it('the wait policy this file fakes: spin on 16 cores never ends the hardware\'s idle poll', () => {
    expect(resolveWaitPolicy('spin').engineIdleMs).toBe(Number.POSITIVE_INFINITY);
  });

  for (const server of SERVERS) {
    it(`51: an honest server answers its other clients while one client never reads (${server}, 4 B messages, 64 KiB send ring)`, async () => {
      // 24-byte records: the greedy client's ring holds 170 answers, the server's 64 KiB send ring 2730 more.
      const outcome = await greedyBesideHonest({ wait: 'spin', receiveRingBytes: 4096, sendRingBytes: 65536, maxMessageBytes: 256, partitions: [] }, server, 4, 4, 170, 3200);
      expect(outcome.honest).toEqual({ done: 25, timedOut: false });
      expect(outcome.table).toEqual(expect.arrayContaining([{ remotePartition: 3, held: true }]));
    }, 90_000);
  }
});
