/**
 * THREATS case 109: case 105's fix gave every connect in flight its own listener on the process's
 * abort signal (then Process.untilAborted), and every retry's wait between attempts another
 * (retryWhileRefused's sleep with the signal). Node counts an AbortSignal's listeners and warns
 * past ten: a program with more than ten connects in flight, an honest server opening channels to
 * its backends at once, had its partition print "MaxListenersExceededWarning: Possible
 * EventTarget memory leak detected. 11 abort listeners added to [AbortSignal]" on the operator's
 * stderr, a leak there was not (each listener went when its connect settled), and the warning
 * that would tell of a program's own leak on `proc.signal` was spent on it. Now the abort trips
 * one Tripwire that the connects and the retry's waits race: nothing is added to the signal.
 */
import { expect, it } from 'vitest';
import { createMachine } from 'lparlink';
import { waitFor } from './harness.js';

const ROLES = new URL('../fixtures/security/attack16a-roles.mjs', import.meta.url);
const CONNECTS = 24;

it('109: a program with 24 connects in flight (retrying while nobody listens, then answered) gets its channels and no process warning', async () => {
  const machine = await createMachine({ wait: 'sleep', channelsPerPartition: 64, partitions: [{ id: 1, name: 'client' }, { id: 2, name: 'server' }] });
  try {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const client = await machine.partition(1).spawn(ROLES, { role: 'manyConnects', target: { partition: 2, port: 5 }, n: CONNECTS, flag: flag.buffer });
    // The server listens only once every connect was asked: the first attempts are refused and wait to retry.
    await waitFor('the client to ask for its channels', () => Atomics.load(flag, 0) === 1);
    const server = await machine.partition(2).spawn(ROLES, { role: 'acceptMany', port: 5, n: CONNECTS });
    expect(await client.result).toEqual({ connected: CONNECTS, warnings: [] });
    expect(await server.result).toBe(CONNECTS);
  } finally {
    await machine.close();
  }
}, 60_000);
