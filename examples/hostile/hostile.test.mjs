// A hostile partition tries to send on a channel it does not own. The hardware refuses every
// forged work request: the violation counters rise, the hostile queue pairs get EPERM / EINVAL
// completions, and the victim receives nothing. An honest pair keeps working throughout.
import assert from 'node:assert/strict';
import { createMachine } from 'lparlink';
import { test, TIMEOUT } from '../harness.mjs';

test('hostile partition: forged sends are counted as violations and never delivered', { timeout: TIMEOUT }, async () => {
  const machine = await createMachine({
    partitions: [
      { id: 1, name: 'victim' },
      { id: 2, name: 'hostile', os: new URL('./hostile-os.mjs', import.meta.url) },
      { id: 3, name: 'honest' },
    ],
  });
  try {
    const victim = await machine.partition(1).spawn(new URL('./victim.mjs', import.meta.url), { port: 7 });
    // An honest ping-pong between partitions 1 and 3 runs while the attack goes on.
    const pong = await machine.partition(1).spawn(new URL('../ping-pong/pong.mjs', import.meta.url), { port: 8 });
    const ping = await machine.partition(3).spawn(new URL('../ping-pong/ping.mjs', import.meta.url), { partition: 1, port: 8, rounds: 200 });

    const before = machine.stats().partitions[1].violations;
    assert.equal(before.total, 0);
    const report = await machine.partition(2).os.attack({ partition: 1, port: 7, forged: 50, guessed: 10 });

    const { received } = await victim.result;
    assert.equal(received, 0, 'the victim received nothing');
    const hostile = machine.stats().partitions[1];
    assert.equal(hostile.violations.notOwner, 50, 'every send on a channel it does not own');
    assert.equal(hostile.violations.badHandle, 10, 'every send naming a slot it never opened');
    assert.equal(hostile.violations.total, 60);
    assert.equal(hostile.sent, 0, 'nothing the hostile partition wrote was sent');
    assert.deepEqual(report.completions.intruder, { EPERM: 50 });
    assert.deepEqual(report.completions.owner, { EINVAL: 10 });

    const [pinged] = await Promise.all([ping.result, pong.result]);
    assert.equal(pinged.rounds, 200, 'the honest pair was not disturbed');
    const [victimStats, , honestStats] = machine.stats().partitions;
    assert.equal(victimStats.violations.total + honestStats.violations.total, 0);
  } finally {
    await machine.close();
  }
});
