/**
 * Regression cover from the seventh attack run (a hostile partition against the operator's thread)
 * for the probes that found nothing: a result of many distinct Maps (the operator's heap pays what
 * the partition built, ~200 B a Map, no more), an exit code that lies (13 reads as Node's unsettled
 * top-level await: the partition's own word on its own end). A console flood is left uncovered for
 * its noise: Node's worker stdio holds the backlog in the partition's own heap, and the operator's
 * event loop kept turning (a 1 ms interval's longest gap 16 ms). Cases 63 to 66 are
 * operator-errors, operator-flood and operator-answers.test.ts.
 */
import { expect, it } from 'vitest';
import { createMachine, MachineError } from '../../src/index.js';

const COVER = new URL('../fixtures/security/operator-cover.mjs', import.meta.url);

it('a result of 100,000 distinct Maps arrives whole', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }] });
  const result = (await (await machine.partition(1).spawn(COVER, { kind: 'maps', n: 100_000 })).result) as unknown[];
  expect(result).toHaveLength(100_000);
  expect(result.every((m) => m instanceof Map && m.size === 0)).toBe(true);
  expect(new Set(result).size).toBe(100_000);
});

it('an exit code of the partition’s choosing is reported as its exit, not a crash', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }] });
  const exits: { reason: string; exitCode: number; error?: Error }[] = [];
  machine.on('partitionExit', (info) => exits.push(info));
  const handle = await machine.partition(1).spawn(COVER, { kind: 'exit', n: 13 });
  const down = await handle.result.catch((e: unknown) => e);
  expect(down).toBeInstanceOf(MachineError);
  expect((down as MachineError).code).toBe('EPARTITIONDOWN');
  expect(exits).toEqual([{ id: 1, name: 'partition-1', exitCode: 13, error: undefined, reason: 'exit' }]);
});
