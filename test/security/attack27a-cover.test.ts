/**
 * Attack run 27a: what held of the process library's receive side against a hostile peer (a
 * partition program on the other end of a channel choosing sizes, counts and when it ends). Exact
 * outcomes on the honest side; no timing is asserted.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);

async function scene(mode: string, peerArgs: { sizes: number[]; die?: boolean }, extra: Record<string, unknown> = {}): Promise<{ victim: unknown; peer: unknown }> {
  await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], maxMessageBytes: 65536 });
  const victim = await machine.partition(1).spawn(fixture('attack27a-cover-victim.mjs'), { port: 80, mode, ...extra });
  const peer = await machine.partition(2).spawn(fixture('attack27a-cover-peer.mjs'), { partition: 1, port: 80, ...peerArgs });
  const peerResult = await peer.result.then(
    (r) => r,
    (e: { name: string; message: string }) => ({ threw: e.message }),
  );
  return { victim: await victim.result, peer: peerResult };
}

const sumOf = (sizes: number[]): number => sizes.reduce((s, n, i) => s + n * ((i + 1) & 255), 0);

describe('attack run 27a: held', () => {
  it('for await reads empty, 1-byte and maxMessageBytes messages exactly, then ends cleanly, and recv() after it is ECLOSED', async () => {
    const sizes = [0, 1, 65536, 0, 0, 7, 65535, 0, 1];
    const { victim, peer } = await scene('iterate', { sizes });
    expect(peer).toEqual({ sent: sizes.length });
    expect(victim).toEqual({ lengths: sizes, sum: sumOf(sizes), error: undefined, after: { name: 'ChannelError', code: 'ECLOSED' } });
  }, 30_000);

  it('a peer that dies after sending: for await reads all it sent, then throws ChannelError EPEERDEAD once', async () => {
    const sizes = [3, 0, 65536];
    const { victim, peer } = await scene('iterate', { sizes, die: true });
    expect(peer).toEqual({ threw: 'the peer dies with its messages sent' });
    expect(victim).toEqual({
      lengths: sizes,
      sum: sumOf(sizes),
      error: { name: 'ChannelError', code: 'EPEERDEAD' },
      after: { name: 'ChannelError', code: 'EPEERDEAD' },
    });
  }, 30_000);

  it('recvInto: a message larger than the buffer is EMSGSIZE and stays whole for the next call; the end is ECLOSED', async () => {
    const sizes = [16, 0, 5];
    const { victim } = await scene('recvInto', { sizes });
    expect(victim).toEqual({
      tooSmall: { name: 'ChannelError', code: 'EMSGSIZE' },
      n: 16,
      first: new Array(16).fill(1),
      rest: [0, 5],
      end: { name: 'ChannelError', code: 'ECLOSED' },
    });
  }, 30_000);

  it("a stream left unread holds at most its readable mark of a peer's 1-byte and empty messages, and hands all of them over", async () => {
    // 3,000 messages: 1 byte each, every tenth empty.
    const sizes = Array.from({ length: 3000 }, (_, i) => (i % 10 === 9 ? 0 : 1));
    const { victim, peer } = await scene('stream', { sizes }, { settleMs: 300 });
    expect(peer).toEqual({ sent: sizes.length });
    const v = victim as { held: number; bytes: number; error: unknown };
    expect(v.held).toBeLessThanOrEqual(1024);
    expect(v).toMatchObject({ bytes: 2700, error: undefined });
  }, 30_000);
});
