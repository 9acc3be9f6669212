/**
 * The operator (the embedding program's own thread) keeps nothing per call it made once the call
 * is over (memory hunt, wave 19). Each spawn raced its start and its result against one promise of
 * the partition's exit, and each restart its steps against one promise of the machine's close: each
 * race stayed on that promise until it settled, with what it settled with (~0.8 KB a spawn and
 * every program's result; every old port, 4 MiB at the default geometry, a restart).
 */
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';
import { memory } from './helpers.js';

const fixture = (name: string): URL => new URL(`./fixtures/${name}`, import.meta.url);
const heapAfterGc = async (): Promise<number> => (await memory()).heapUsed;

it("spawning 2,000 programs into one partition does not grow the operator's heap with them or their results", async () => {
  await using machine = await createMachine({ wait: 'sleep', partitions: [{ id: 1 }] });
  const p = machine.partition(1);
  const run = async (n: number) => {
    for (let i = 0; i < n; i++) await (await p.spawn(fixture('returns-text.mjs'), { bytes: 1000 })).result;
  };
  await run(300);
  const before = await heapAfterGc();
  await run(2000);
  // 2,000 × ~1.9 KB kept before the fix (3.7 MiB): now warm-up and noise.
  expect((await heapAfterGc()) - before).toBeLessThan(1 << 20);
}, 120_000);

it("a restarted partition's old ports are let go", async () => {
  await using machine = await createMachine({ wait: 'sleep', partitions: [{ id: 1 }] });
  const p = machine.partition(1);
  const old: WeakRef<SharedArrayBuffer>[] = [];
  for (let k = 0; k < 8; k++) {
    old.push(new WeakRef(p.port));
    await p.restart();
  }
  await heapAfterGc();
  await heapAfterGc();
  expect(old.filter((w) => w.deref() !== undefined)).toHaveLength(0);
}, 60_000);
