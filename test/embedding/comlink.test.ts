/**
 * comlink between partitions: exposeOverChannel in one, wrapChannel in the other, over one verified
 * channel. Calls, thrown errors, messages larger than maxMessageBytes, misuse, and a server that dies
 * while a call waits (the call rejects; nothing hangs).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMachine, type Machine } from 'lparlink';

const server = new URL('./fixtures/streams/rpc-server.mjs', import.meta.url);
const client = new URL('./fixtures/streams/rpc-client.mjs', import.meta.url);
const rogue = new URL('./fixtures/streams/rpc-rogue.mjs', import.meta.url);

type Outcome = { value?: unknown; error?: { name: string; code?: string; message: string } };

let machine: Machine;
beforeEach(async () => {
  machine = await createMachine({
    partitions: [{ id: 1 }, { id: 2 }],
    sendRingBytes: 65536,
    receiveRingBytes: 65536,
    maxMessageBytes: 16384,
    wait: 'sleep',
  });
});
afterEach(async () => {
  await machine.close();
});

describe('comlink over a channel (exposeOverChannel / wrapChannel)', () => {
  it('calls methods across partitions, with results, thrown errors and 100 kB arguments', async () => {
    const s = await machine.partition(1).spawn(server, { port: 9 });
    const c = await machine.partition(2).spawn(client, { partition: 1, port: 9, bigBytes: 100_000, die: false });
    const out = (await c.result) as Record<string, Outcome> & { misuse: Record<string, Outcome['error']>; reverse: unknown };
    expect(out.add).toEqual({ value: 42 });
    expect(out.whoami).toEqual({ value: { partition: 1, pid: expect.any(Number) } });
    // A thrown error arrives with its built-in class, message, code and the server's stack.
    expect(out.fail).toEqual({ error: { name: 'RangeError', code: 'ERANGE', message: 'out of range on purpose', isError: true } });
    expect(out.failClass).toEqual({ isRangeError: true, stackFromServer: true });
    // 100 kB each way is seven channel messages each way (maxMessageBytes 16 KiB), reassembled exactly.
    expect(out.reverse).toEqual({ length: 100_000, sum: 12_749_008, exact: true });
    expect(out.transfer.error).toMatchObject({ name: 'ChannelError', code: 'EINVAL', message: expect.stringMatching(/transfer lists cannot cross partitions/) });
    // What comlink alone reports as "Unserializable return value", named: the call and the value.
    expect(out.unserializableResult.error).toMatchObject({ name: 'TypeError', message: expect.stringMatching(/^comlink: aFunction\(\) of the api served gave a function, which cannot cross partitions \(results are copied by structured clone/) });
    // A method the api lacks, or a property called as one: a TypeError that says so (comlink alone: "Cannot read properties of undefined").
    expect(out.missingMethod.error).toMatchObject({
      name: 'TypeError',
      message: 'comlink: the api served has no nope (its methods: add, aFunction, dieNow, fail, hold, reverse, whoami)',
    });
    expect(out.notAMethod.error).toMatchObject({ name: 'TypeError', message: 'comlink: version of the api served is 3, not a method: read it with `await remote.version`, without calling it' });
    expect(out.property).toEqual({ value: 3 });
    expect(out.unserializableArgument.error).toMatchObject({ name: 'ChannelError', code: 'EINVAL', message: expect.stringMatching(/could not be cloned/) });
    expect(out.afterMistakes).toEqual({ value: 2 }); // mistakes cost the call, not the channel
    expect(out.misuse.notAChannel).toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/wrapChannel: channel must be a Channel from proc\.connect\(\)/) });
    expect(out.misuse.twice).toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/already belongs to wrapChannel/) });
    // The client closed the channel: its later calls reject with ECLOSED, and the server's expose resolves.
    expect(out.afterClose.error).toMatchObject({ name: 'ChannelError', code: 'ECLOSED', message: expect.stringMatching(/^ECLOSED: channel \d+ was closed \(/) });
    // Six calls ran there: the transfer and the function argument were refused before they left.
    const served = (await s.result) as { misuse: Record<string, { code: string; message: string }> };
    expect(served).toMatchObject({ calls: 6, outcome: 'closed', channelOpen: false });
    expect(served.misuse.apiNull).toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/exposeOverChannel: api must be an object whose methods the peer calls, got null/) });
    expect(served.misuse.notAChannel).toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/exposeOverChannel: channel must be a Channel .* got an object \(/) });
    expect(machine.stats().partitions.map((p) => p.violations.total)).toEqual([0, 0]);
  });

  it('a call waiting on a server whose partition dies rejects with EPEERDEAD, and so do later calls', async () => {
    const s = await machine.partition(1).spawn(server, { port: 9 });
    const c = await machine.partition(2).spawn(client, { partition: 1, port: 9, bigBytes: 10, die: true });
    const out = (await c.result) as Record<string, Outcome>;
    expect(out.add).toEqual({ value: 42 });
    expect(out.whileDying.error).toMatchObject({ name: 'ChannelError', code: 'EPEERDEAD', message: expect.stringMatching(/to partition 1 ended/) });
    expect(out.afterDeath.error).toMatchObject({ name: 'ChannelError', code: 'EPEERDEAD' });
    await expect(s.result).rejects.toMatchObject({ name: 'MachineError', code: 'EPARTITIONDOWN' });
  });

  for (const [what, reply, message] of [
    ['a fragment without a flag', [7, 1, 2], /partition 1 sent a message without a fragment flag \(first byte 7\)/],
    ['bytes that are no structured clone', [0, 0xff, 0x0f, 0xee], /partition 1 sent a message that is not a structured clone/],
  ] as const) {
    it(`a peer that answers with ${what}: the call rejects with EINVAL, and the caller closes the channel`, async () => {
      const r = await machine.partition(1).spawn(rogue, { role: 'rogue', port: 4, reply });
      const c = await machine.partition(2).spawn(rogue, { role: 'caller', partition: 1, port: 4 });
      const out = (await c.result) as { first: Outcome; second: Outcome; channelOpen: boolean };
      expect(out.first.error).toMatchObject({ name: 'ChannelError', code: 'EINVAL', message: expect.stringMatching(message) });
      expect(out.second.error).toEqual(out.first.error); // later calls learn the same, at once
      expect(out.channelOpen).toBe(false);
      expect(await r.result).toMatchObject({ end: { error: { code: 'ECLOSED' } } });
    });
  }

  it('both sides with wrapChannel: each call rejects at once, saying one side must serve (it waited for good)', async () => {
    // The other side made its end with wrapChannel too, and stays until the caller's end closes the channel.
    const other = await machine.partition(1).spawn(rogue, { role: 'wrap-only', port: 4 });
    const c = await machine.partition(2).spawn(rogue, { role: 'caller', partition: 1, port: 4 });
    const out = (await c.result) as { first: Outcome; second: Outcome; channelOpen: boolean };
    const nobodyServes = {
      name: 'Error',
      message: 'comlink: the process called serves nothing; it calls with wrapChannel() too. One side must serve with exposeOverChannel(api, channel)',
    };
    expect(out.first.error).toMatchObject(nobodyServes);
    expect(out.second.error).toMatchObject(nobodyServes);
    expect(out.channelOpen).toBe(true); // a mistake of roles costs the calls, not the channel
    expect(await other.result).toEqual({ open: false });
  });

  it('a hostile caller cannot reach past the api (prototypes, `new`), a throwing getter costs its call only, and a call id too long ends the channel', async () => {
    const s = await machine.partition(1).spawn(server, { port: 9 });
    const c = await machine.partition(2).spawn(rogue, { role: 'hostile-caller', partition: 1, port: 9 });
    const out = (await c.result) as Record<string, { threw?: string; value?: unknown; ended?: string }>;
    expect(out.pollute).toEqual({ threw: 'comlink: __proto__ is not part of the api served (names every object has, like __proto__ or toString, are refused)' });
    expect(out.viaConstructor).toEqual({ threw: 'comlink: add.constructor is not part of the api served (names every object has, like __proto__ or toString, are refused)' });
    expect(out.toString).toEqual({ threw: 'comlink: toString is not part of the api served (names every object has, like __proto__ or toString, are refused)' });
    // A getter that throws costs that call only (comlink runs it once, and answers with its error).
    expect(out.getter).toEqual({ threw: 'not ready yet' });
    expect(out.construct.threw).toMatch(/^comlink: `new` on the api served answers with a proxy/);
    expect(out.endpoint.threw).toMatch(/^comlink: createEndpoint makes a MessagePort, which cannot cross partitions/);
    expect(out.afterAll).toEqual({ value: 5 });
    expect(out.longId).toEqual({ ended: 'ECLOSED' });
    const served = (await s.result) as { outcome: unknown; polluted: unknown };
    expect(served.polluted).toBeNull(); // Object.prototype in the serving partition is untouched
    expect(served.outcome).toEqual({ name: 'ChannelError', code: 'EINVAL' });
  });

  it('a side that serves nothing answers 64 calls with why, then ends the channel (a flood would queue an answer each)', async () => {
    const victim = await machine.partition(1).spawn(rogue, { role: 'wrap-only', port: 5 });
    const flood = await machine.partition(2).spawn(rogue, { role: 'flood-caller', partition: 1, port: 5 });
    expect(await flood.result).toEqual({ answered: 64, ended: 'ECLOSED' });
    expect(await victim.result).toEqual({ open: false });
  });

  it('a path of 64 names is looked up (and refused past the api); one of 65 ends the channel with EINVAL', async () => {
    const s = await machine.partition(1).spawn(server, { port: 10 });
    const c = await machine.partition(2).spawn(rogue, { role: 'path-caller', partition: 1, port: 10 });
    const out = (await c.result) as { at64: { threw?: string }; at65: { ended?: string } };
    expect(out.at64).toEqual({ threw: 'comlink: the api served has no version.version' });
    expect(out.at65).toEqual({ ended: 'ECLOSED' });
    const served = (await s.result) as { outcome: unknown };
    expect(served.outcome).toEqual({ name: 'ChannelError', code: 'EINVAL' });
  });

  it('holds 4096 calls running at once and refuses the next with why, then answers the 4096', async () => {
    const s = await machine.partition(1).spawn(server, { port: 11 });
    const c = await machine.partition(2).spawn(rogue, { role: 'crowd-caller', partition: 1, port: 11 });
    expect(await c.result).toEqual({
      refused: [{ id: 'crowd-4096', message: 'comlink: 4096 calls are still running on the api served; await some before making more' }],
      held: 4096,
    });
    expect(((await s.result) as { outcome: unknown }).outcome).toBe('closed');
  });

  it('ends the channel once 65,536 answers wait for a caller that reads none (EINVAL), and the caller reads what had room', async () => {
    const s = await machine.partition(1).spawn(server, { port: 12 });
    const c = await machine.partition(2).spawn(rogue, { role: 'deaf-caller', partition: 1, port: 12 });
    const out = (await c.result) as { sent: number; writeError?: string; answers: number; ended: string };
    const served = (await s.result) as { calls: number; outcome: unknown };
    expect(served.outcome).toEqual({ name: 'ChannelError', code: 'EINVAL' });
    // The server answered every call it took; it gave up with more than 65,536 of those answers
    // still waiting, so the caller can have read at most the rest (what its receive ring held).
    expect(served.calls).toBeGreaterThan(65_536);
    expect(out.answers).toBeGreaterThan(0);
    expect(out.answers).toBeLessThanOrEqual(served.calls - 65_536);
    expect(out.ended).toBe('ECLOSED');
    // Its writes either all went (into rings the server had stopped reading) or met the end.
    expect(out.writeError ?? (out.sent === 100_000 ? 'all written' : `stopped at ${out.sent}`)).toMatch(/^(ECLOSED|all written)$/);
  }, 60_000);

  it('refuses a machine whose messages carry a single byte (maxMessageBytes 1) with EINVAL', async () => {
    const tiny = await createMachine({ partitions: [{ id: 1 }], maxMessageBytes: 1, sendRingBytes: 1024, receiveRingBytes: 1024, wait: 'sleep' });
    try {
      const h = await tiny.partition(1).spawn(new URL('./fixtures/streams/rpc-tiny-messages.mjs', import.meta.url));
      const out = (await h.result) as Record<string, { code: string; message: string }>;
      for (const what of ['wrap', 'expose'] as const) {
        expect(out[what], what).toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/comlink needs messages of at least 2 bytes; this channel's maxMessageBytes is 1/) });
      }
    } finally {
      await tiny.close();
    }
  });
});
