/**
 * Attack run 21a, case 120: comlink's expose side reads a request's argument list before its own
 * try, so a caller that marks an argument with comlink's `throw` handler makes the serving side's
 * listener throw whatever value the caller wrote. The serving side took that as why its channel
 * ended: a ChannelError the caller wrote (EHWRESET) ended `exposeOverChannel` as if the serving
 * partition's own hardware had failed, and a thrown object no string conversion takes threw out of
 * the endpoint's failure path, an unhandled rejection that crashed the whole serving partition.
 */
import { expect, it } from 'vitest';
import { createMachine } from 'lparlink';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);

const THREW = {
  object: 'an object',
  hwreset: 'a ChannelError EHWRESET',
  text: '"a thrown string"',
  coded: 'a TypeError EHWRESET',
};

for (const kind of ['object', 'hwreset', 'text', 'coded'] as const) {
  it(`120: a caller whose argument throws ${THREW[kind]} as the serving side takes it in ends only its channel, EINVAL; the serving partition lives`, async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }] });
    const exits: string[] = [];
    machine.on('partitionExit', (info) => exits.push(`partition ${info.id} ${info.reason}: ${info.error?.message}`));
    const server = await machine.partition(1).spawn(fixture('kv-server.mjs'), { port: 80 });
    const caller = await machine.partition(2).spawn(fixture('attack21a-throw-args.mjs'), { partition: 1, port: 80, kind });
    // Without the change: 'object' crashed partition 1 (the caller's channel EPEERDEAD, the server's
    // result EPARTITIONDOWN, "Cannot convert object to primitive value"); 'hwreset' served "EHWRESET:
    // the hardware worker stopped"; 'coded' (before thrownFromTheWire) ended serving "EINVAL: comlink
    // over channel 0: TypeError: the hardware worker stopped", the caller's words as comlink's own failure.
    expect(await caller.result).toEqual({ ended: 'ECLOSED' });
    const served = await server.result.catch((e: unknown) => `rejected ${(e as Error).message}`);
    expect(served).toEqual({
      values: 0,
      bytes: 0,
      pinned: 0,
      served: expect.stringMatching(
        new RegExp(
          `^EINVAL: EINVAL: comlink over channel \\d+: partition 2 sent a request whose argument list threw ${THREW[kind].replace(/"/g, '\\"')} as comlink's expose side took it in \\(an argument marked with comlink's throw handler\\) \\(fix the argument or field the message names\\)$`,
        ),
      ),
    });
    expect(exits).toEqual([]);
    // The serving partition still serves: a second store answers an honest put.
    const again = await machine.partition(1).spawn(fixture('kv-server.mjs'), { port: 81 });
    const honest = await machine.partition(2).spawn(fixture('kv-padder.mjs'), { partition: 1, port: 81, puts: 1, padBytes: 0 });
    await honest.result;
    expect(await again.result).toMatchObject({ values: 1, served: 'ok' });
  }, 60_000);
}
