/**
 * Attack run 21a: what it tried against the partition-side API and the operator boundary that held,
 * and the bounds of its own changes (cases 118–120).
 */
import { once } from 'node:events';
import { expect, it } from 'vitest';
import { createMachine, MachineError } from 'lparlink';

const ROLES = new URL('../fixtures/security/attack21a-roles.mjs', import.meta.url);

it("118's walk: a result that is a sparse array of length 2^32 - 1 is looked through at once, by the elements it has", async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }] });
  // A walk by index (or a slice) of it held the operator's thread for good: the first version of 118.
  const plain = (await (await machine.partition(1).spawn(ROLES, { role: 'sparse', histogram: false })).result) as unknown[] & { named: string };
  expect(plain.length).toBe(2 ** 32 - 1);
  expect(plain[7]).toEqual({ plain: true });
  expect(plain.named).toBe('kept');
  const live = await (await machine.partition(1).spawn(ROLES, { role: 'sparse', histogram: true })).result.catch((e: unknown) => e);
  expect(live).toBeInstanceOf(MachineError);
  expect(live).toMatchObject({ code: 'EINVAL' });
  expect((live as Error).message).toContain('that the partition still shares (it holds a RecordableHistogram, which Node clones as the same native object');
}, 60_000);

it("118's walk: every kind of data structured clone copies still crosses as a program's result", async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }] });
  const value = (await (await machine.partition(1).spawn(ROLES, { role: 'everyKind' })).result) as Record<string, any>;
  expect(value.cyclic.self).toBe(value.cyclic);
  expect([...value.named]).toEqual([1, 2]);
  const [map] = value.named.extra.deep as [Map<{ k: number }, Set<Date>>];
  expect(map).toBeInstanceOf(Map);
  expect([...map][0][0]).toEqual({ k: 1 });
  expect([...[...map][0][1]][0]).toEqual(new Date(0));
  expect(value.error).toBeInstanceOf(RangeError);
  expect(value.error.cause).toBeInstanceOf(TypeError);
  expect(value.regexp).toEqual(/x/g);
  expect(value.wrappers.map((w: object) => w.valueOf())).toEqual([1, 's', false, 2n]);
  expect(value.bytes).toEqual(new Uint8Array([1, 2, 3]));
  expect(new TextDecoder().decode(value.buffer)).toBe('hi'); // a Buffer arrives as a Uint8Array
  expect(value.view).toBeInstanceOf(DataView);
  expect(value.arrayBuffer.byteLength).toBe(2);
  expect(value.floats).toEqual(new Float64Array(2));
  expect({ ...value.nullProto }).toEqual({ a: 1 });
}, 60_000);

it("118's walk: an immutable object of Node's (a Blob) is refused as the others are: a program returns plain data", async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }] });
  const refused = await (await machine.partition(1).spawn(ROLES, { role: 'blob' })).result.catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(MachineError);
  expect((refused as Error).message).toContain('(it holds a Blob, which Node clones as the same native object: the partition could still change it)');
}, 60_000);

it("held: a program answering the operator's abort() with a thrown object no string conversion takes changes nothing; the abort's grace restarts it", async () => {
  const unhandled: unknown[] = [];
  const record = (e: unknown): number => unhandled.push(e);
  process.on('unhandledRejection', record);
  try {
    await using machine = await createMachine({ partitions: [{ id: 1 }] });
    const exited = once(machine, 'partitionExit');
    const handle = await machine.partition(1).spawn(ROLES, { role: 'forgedAbort' }, { timeoutMs: 300, abortGraceMs: 500 });
    const outcome = await handle.result.catch((e: unknown) => e);
    expect(outcome).toBeInstanceOf(MachineError);
    expect(outcome).toMatchObject({ code: 'EABORTED' });
    const [info] = (await exited) as [{ id: number; reason: string }];
    expect(info).toMatchObject({ id: 1, reason: 'abortGraceMs' });
    await new Promise((r) => setTimeout(r, 200));
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', record);
  }
}, 60_000);

it("held: a hostile server's request to a wrapChannel caller, its argument marked with comlink's throw handler, is refused before comlink sees it; the caller's call is answered", async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }] });
  const exits: string[] = [];
  machine.on('partitionExit', (info) => exits.push(`partition ${info.id} ${info.reason}`));
  const PEER = new URL('../fixtures/security/attack21a-rpc-peer.mjs', import.meta.url);
  const server = await machine.partition(1).spawn(PEER, { role: 'hostileServer', port: 80 });
  const caller = await machine.partition(2).spawn(PEER, { role: 'caller', partition: 1, port: 80 });
  expect(await caller.result).toBe(42);
  expect(await server.result).toEqual({
    refusal: 'comlink: the process called serves nothing; it calls with wrapChannel() too. One side must serve with exposeOverChannel(api, channel)',
  });
  expect(exits).toEqual([]);
}, 60_000);

it("held: a SET through the api's own setter whose value is marked with comlink's throw handler is answered with the throw (comlink's try holds it); the server serves on", async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }] });
  const exits: string[] = [];
  machine.on('partitionExit', (info) => exits.push(`partition ${info.id} ${info.reason}`));
  const PEER = new URL('../fixtures/security/attack21a-rpc-peer.mjs', import.meta.url);
  const server = await machine.partition(1).spawn(PEER, { role: 'setterServer', port: 80 });
  const attacker = await machine.partition(2).spawn(PEER, { role: 'setterAttacker', partition: 1, port: 80 });
  expect(await attacker.result).toEqual({ set: { type: 'HANDLER', name: 'throw', isError: false, keys: ['toString', 'valueOf'] }, sum: { value: 42 } });
  expect(await server.result).toEqual({ served: 'ok', limit: 1 });
  expect(exits).toEqual([]);
}, 60_000);
