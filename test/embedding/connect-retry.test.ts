/**
 * Connect readiness: a client that starts before its server connects with { retry: { timeoutMs } }
 * instead of a loop of its own; without a listener the retry ends in ECONNREFUSED saying how long it
 * waited. The retry loop itself is tested with a scripted attempt, so the count of attempts is exact.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMachine, type Machine } from 'lparlink';
import { retryTimeout, retryWhileRefused } from '../../src/partitions/connect-retry.js';
import { ChannelError } from '../../src/shared/errors.js';

const client = new URL('./fixtures/streams/connect-client.mjs', import.meta.url);
const echoServer = new URL('../fixtures/echo-server.mjs', import.meta.url);

type Outcome = { value?: unknown; error?: { name: string; code?: string; message: string } };

describe('proc.connect(target, { retry: { timeoutMs } })', () => {
  let machine: Machine;
  beforeEach(async () => {
    machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], sendRingBytes: 4096, receiveRingBytes: 4096, wait: 'sleep' });
  });
  afterEach(async () => {
    await machine.close();
  });

  it('a client started before the server connects once the server listens', async () => {
    // The client's first connect is posted before spawn() returns; the server starts only afterwards.
    const c = await machine.partition(2).spawn(client, { partition: 1, port: 7, timeoutMs: 30_000 });
    const s = await machine.partition(1).spawn(echoServer, { port: 7 });
    const out = (await c.result) as Record<string, Outcome> & { badOptions: Record<string, Outcome> };
    expect(out.plain.error).toMatchObject({ name: 'ChannelError', code: 'ECONNREFUSED' });
    expect(out.retried).toEqual({ value: { reply: 'ping', peer: { node: 0, partition: 1, process: expect.any(Number) } } });
    expect(await s.result).toMatchObject({ echoed: 1 });
    const bad = out.badOptions;
    for (const [what, pattern] of [
      ['notAnObject', /connect: options must be an object such as \{ retry: \{ timeoutMs: 5000 \} \}, got 5/],
      ['unknownOption', /connect: 'retries' is not an option; the only option is retry: \{ timeoutMs \}/],
      ['retryNotAnObject', /connect: retry must be an object \{ timeoutMs \}, got true/],
      ['unknownRetryOption', /connect: retry\.backoff is not an option/],
      ['negativeTimeout', /connect: retry\.timeoutMs must be an integer number of milliseconds from 0 to 2147483647, got -1/],
      ['fractionalTimeout', /retry\.timeoutMs must be an integer .* got 1\.5/],
      ['hugeTimeout', /retry\.timeoutMs must be an integer .* got 2147483648/],
    ] as const) {
      expect(bad[what].error, what).toMatchObject({ name: 'ChannelError', code: 'EINVAL', message: expect.stringMatching(pattern) });
    }
  });

  it('with nobody listening, the retry ends in ECONNREFUSED saying how long it waited (its advice is not to retry)', async () => {
    const c = await machine.partition(2).spawn(client, { partition: 1, port: 8, timeoutMs: 200 });
    const out = (await c.result) as Record<string, Outcome>;
    expect(out.plain.error).toMatchObject({ code: 'ECONNREFUSED' });
    expect(out.retried.error).toMatchObject({
      name: 'ChannelError',
      code: 'ECONNREFUSED',
      message: expect.stringMatching(/^ECONNREFUSED: nobody listened on port 8 of partition 1 within 200 ms \(\d+ attempts?\) \(.*or give retry a longer timeoutMs\)$/),
    });
  });
});

describe('a connect to a partition the machine does not have', () => {
  it('is ECONNREFUSED advising to check the partition id, not to start a listener', async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], sendRingBytes: 4096, receiveRingBytes: 4096, wait: 'sleep' });
    const c = await machine.partition(2).spawn(client, { partition: 9, port: 7, timeoutMs: 100 });
    const out = (await c.result) as Record<string, Outcome>;
    expect(out.plain.error).toMatchObject({
      name: 'ChannelError',
      code: 'ECONNREFUSED',
      message:
        'ECONNREFUSED: partition 9 does not exist or is down (check the partition id (the machine has no such partition, or it is not running); to wait for a partition that is starting, connect with { retry: { timeoutMs } })',
    });
  });
});

describe('the retry loop', () => {
  const refused = (): ChannelError => new ChannelError('ECONNREFUSED', 'nobody listens on port 7 of partition 1');

  it('retries ECONNREFUSED until an attempt succeeds', async () => {
    let attempts = 0;
    const value = await retryWhileRefused(
      async () => {
        if (++attempts < 4) throw refused();
        return 'connected';
      },
      60_000,
      'port 7 of partition 1',
    );
    expect([value, attempts]).toEqual(['connected', 4]);
  });

  it('passes any other error through at once', async () => {
    let attempts = 0;
    const policy = new ChannelError('EPOLICY', 'the policy forbids 1-2');
    await expect(
      retryWhileRefused(
        async () => {
          attempts++;
          throw policy;
        },
        60_000,
        'x',
      ),
    ).rejects.toBe(policy);
    expect(attempts).toBe(1);
  });

  it('with timeoutMs 0 makes exactly one attempt, then ECONNREFUSED naming the target', async () => {
    let attempts = 0;
    const e = await retryWhileRefused(
      async () => {
        attempts++;
        throw refused();
      },
      0,
      'port 9 of partition 3',
    ).catch((err: unknown) => err);
    expect(attempts).toBe(1);
    expect(e).toBeInstanceOf(ChannelError);
    expect(e).toMatchObject({ code: 'ECONNREFUSED', message: expect.stringMatching(/nobody listened on port 9 of partition 3 within 0 ms \(1 attempt\)/) });
  });

  it('reads the options: none, no retry, or a deadline', () => {
    expect(retryTimeout(undefined)).toBeUndefined();
    expect(retryTimeout({})).toBeUndefined();
    expect(retryTimeout({ retry: { timeoutMs: 250 } })).toBe(250);
    expect(() => retryTimeout(null)).toThrow(/options must be an object/);
  });
});
