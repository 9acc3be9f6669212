/**
 * What attack run 9d (a hostile peer against the partition-side channel library: receives, the pump,
 * slabs, streams, comlink over a channel) found solid, covered with exact outcomes. THREATS.md, wave
 * 24, after case 86.
 */
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);

it("a hostile comlink server's answers: handlers the caller cannot use reject, forged ids are ignored, a cause chain is cut at 8", async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }] });
  const server = await machine.partition(1).spawn(fixture('forged-answers-server.mjs'), { port: 80 });
  const calls = ['proxyAnswer', 'unknownHandler', 'forgedFirst', 'twice', 'after', 'throwsValue', 'deepCause', 'last'];
  const caller = await machine.partition(2).spawn(fixture('forged-answers-caller.mjs'), { partition: 1, port: 80, calls });
  expect(await caller.result).toEqual([
    { error: 'TypeError', message: 'port.start is not a function', causes: 0 },
    { error: 'TypeError', message: "Cannot read properties of undefined (reading 'deserialize')", causes: 0 },
    { value: 42 },
    { value: 1 },
    { value: 'plain after' },
    { thrown: { code: 'X', n: 1 } },
    { error: 'Error', message: 'cause 0', causes: 8 },
    { value: 'plain last' },
  ]);
  expect(await server.result).toEqual({ read: calls.length });
}, 60_000);

it('every receive pending when its peer closes or its partition dies settles, with the end or EPEERDEAD', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }] });
  machine.on('partitionExit', () => {});
  const victim = await machine.partition(1).spawn(fixture('pending-reads-victim.mjs'), { port: 80 });
  const peer = await machine.partition(2).spawn(fixture('pending-reads-peer.mjs'), { partition: 1, port: 80, crash: true });
  await peer.result.catch(() => {});
  const clean = [{ error: 'ECLOSED' }, { value: false }, { value: { done: true } }, { error: 'ECLOSED' }];
  const dead = [{ error: 'EPEERDEAD' }, { error: 'EPEERDEAD' }, { error: 'EPEERDEAD' }, { error: 'EPEERDEAD' }];
  expect(await victim.result).toEqual([clean, { end: [7, 8, 9] }, dead, { error: 'EPEERDEAD', chunks: [] }]);
}, 60_000);

for (const crash of [false, true]) {
  it(`a write waiting on a peer that reads nothing rejects once that peer ${crash ? 'dies' : 'closes'}: ${crash ? 'EPEERDEAD' : 'ECLOSED'}`, async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }] });
    machine.on('partitionExit', () => {});
    const cue = new SharedArrayBuffer(4);
    const victim = await machine.partition(1).spawn(fixture('blocked-writer-victim.mjs'), { port: 80, cue });
    const peer = await machine.partition(2).spawn(fixture('silent-peer.mjs'), { partition: 1, port: 80, cue, crash });
    await peer.result.catch(() => {});
    expect(await victim.result).toEqual({ error: crash ? 'EPEERDEAD' : 'ECLOSED', waited: true });
  }, 60_000);
}

it("argument lists comlink's expose side cannot take end only that caller's channel, EINVAL, and nothing is kept", async () => {
  for (const [kind, why] of [
    ['proxy', 'TypeError: port.start is not a function'],
    ['unknown', "TypeError: Cannot read properties of undefined (reading 'deserialize')"],
    ['string', 'TypeError: (ev.data.argumentList || []).map is not a function'],
  ]) {
    await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }] });
    const server = await machine.partition(1).spawn(fixture('kv-server.mjs'), { port: 80 });
    const caller = await machine.partition(2).spawn(fixture('kv-raw-args.mjs'), { partition: 1, port: 80, kind });
    expect(await caller.result, kind).toEqual({ ended: 'ECLOSED' });
    expect(await server.result, kind).toEqual({
      values: 0,
      bytes: 0,
      pinned: 0,
      served: expect.stringMatching(new RegExp(`^EINVAL: EINVAL: comlink over channel \\d+: ${why.replace(/[().|[\]]/g, '\\$&')} \\(fix the argument or field the message names\\)$`)),
    });
  }
}, 60_000);

it('messages of 0 bytes, maxMessageBytes and one less, through a ring they wrap many times, arrive whole by every way of receiving', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }] });
  const victim = await machine.partition(1).spawn(fixture('edge-sizes-victim.mjs'), { port: 80 });
  const rounds = 40;
  const peer = await machine.partition(2).spawn(fixture('edge-sizes-peer.mjs'), { partition: 1, port: 80, rounds });
  const { max } = (await peer.result) as { max: number };
  const lengths = Array.from({ length: rounds }, () => [0, max, 1, max - 1, 0, 7]).flat();
  const read = { lengths, bad: 0 };
  expect(await victim.result).toEqual([read, read, read, read, read, { total: rounds * (2 * max + 7) }]);
}, 60_000);
