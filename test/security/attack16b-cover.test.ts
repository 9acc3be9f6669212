/**
 * What attack run 16b tried against an honest receiver and found holding (docs/THREATS.md, "Found
 * nothing (attack run 16b)"): a hostile peer and an honest one writing to two channels of the same
 * process, which keeps every honest message (they are its to keep) while the flood goes on.
 */
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

const roles = new URL('../fixtures/security/attack16b-roles.mjs', import.meta.url);

it('views an honest reader keeps never change, whatever another channel of its process floods in after them', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1, name: 'keeper' }, { id: 2, name: 'flooder' }, { id: 3, name: 'honest' }] });
  const n = 3000;
  const keeper = await machine.partition(1).spawn(roles, { role: 'keeper', port: 7, honest: 3, n });
  const flooder = await machine.partition(2).spawn(roles, { role: 'flooder', partition: 1, port: 7, n: 20_000 });
  const honest = await machine.partition(3).spawn(roles, { role: 'honestSender', partition: 1, port: 7, n });
  expect(await honest.result).toBe(n);
  const flooded = (await flooder.result) as number;
  const seen = await keeper.result;
  expect(seen).toEqual({ kept: n, wrong: 0, flooded });
  for (const p of machine.stats().partitions) expect(p.violations.total).toBe(0);
}, 120_000);

for (const offset of [0, 1, 4]) {
  it(`recvInto() at byte offset ${offset} of a buffer gets each honest message exactly, and writes no byte past it, beside a flood`, async () => {
    await using machine = await createMachine({ partitions: [{ id: 1, name: 'reader' }, { id: 2, name: 'flooder' }, { id: 3, name: 'honest' }] });
    const n = 600;
    const reader = await machine.partition(1).spawn(roles, { role: 'intoReader', port: 7, honest: 3, offset });
    const flooder = await machine.partition(2).spawn(roles, { role: 'flooder', partition: 1, port: 7, n: 5000 });
    const honest = await machine.partition(3).spawn(roles, { role: 'honestSender', partition: 1, port: 7, n });
    expect(await honest.result).toBe(n);
    const flooded = (await flooder.result) as number;
    expect(await reader.result).toEqual({ read: n, wrong: 0, flooded });
  }, 120_000);
}
