// Ping-pong between two partitions: the smallest complete use of lparlink in a test.
import assert from 'node:assert/strict';
import { createMachine } from 'lparlink';
import { test, TIMEOUT } from '../harness.mjs';

test('ping-pong: 100 round trips between two partitions', { timeout: TIMEOUT }, async () => {
  const machine = await createMachine({ partitions: [{ id: 1, name: 'pong' }, { id: 2, name: 'ping' }] });
  try {
    const pong = await machine.partition(1).spawn(new URL('./pong.mjs', import.meta.url), { port: 7 });
    const ping = await machine.partition(2).spawn(new URL('./ping.mjs', import.meta.url), { partition: 1, port: 7, rounds: 100 });
    const [pinged, ponged] = await Promise.all([ping.result, pong.result]);

    assert.equal(pinged.rounds, 100);
    assert.equal(ponged.answered, 100);
    // Each side sees the other as the hardware attests it, never as the other claims.
    // node 0: this machine is not one node of several (docs/LINK.md).
    assert.deepEqual(pinged.peer, { node: 0, partition: 1, process: pong.pid });
    assert.deepEqual(ponged.peer, pinged.self);

    const [p1, p2] = machine.stats().partitions;
    assert.equal(p2.sent, 100);
    assert.equal(p1.delivered, 100);
    assert.equal(p1.violations.total + p2.violations.total, 0);
  } finally {
    await machine.close();
  }
});
