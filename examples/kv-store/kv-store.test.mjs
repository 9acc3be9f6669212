// A replicated key-value store across three partitions (leader 1, followers 2 and 3), used by a
// client in partition 4. Each write is acknowledged to the client only after the followers
// acknowledged it; at the end every replica holds the same data.
import assert from 'node:assert/strict';
import { createMachine } from 'lparlink';
import { test, TIMEOUT } from '../harness.mjs';

const program = (name) => new URL(`./${name}.mjs`, import.meta.url);

async function runStore({ quorum, window }) {
  const machine = await createMachine({
    partitions: [
      { id: 1, name: 'leader' },
      { id: 2, name: 'follower-a' },
      { id: 3, name: 'follower-b' },
      { id: 4, name: 'client' },
    ],
    // The client may talk only to the leader; the leader to its followers.
    policy: { allow: [[4, 1], [1, 2], [1, 3]] },
  });
  try {
    const followers = await Promise.all([2, 3].map((id) => machine.partition(id).spawn(program('follower'), { port: 9 })));
    const leader = await machine.partition(1).spawn(program('leader'), { port: 8, followers: [2, 3], followerPort: 9, quorum });
    const ops = [];
    for (let i = 0; i < 20; i++) ops.push({ op: 'put', key: `k${i % 5}`, value: i });
    ops.push({ op: 'get', key: 'k4' }, { op: 'get', key: 'missing' });
    const client = await machine.partition(4).spawn(program('client'), { leader: 1, port: 8, ops, window });

    const answers = await client.result;
    const [led, a, b] = await Promise.all([leader.result, ...followers.map((f) => f.result)]);
    return { machine, answers, led, replicas: [a, b] };
  } finally {
    await machine.close();
  }
}

test('kv-store: every write is acknowledged by all followers before the client hears ok', { timeout: TIMEOUT }, async () => {
  const { machine, answers, led, replicas } = await runStore({ quorum: 2, window: 1 });
  for (let i = 0; i < 20; i++) assert.deepEqual(answers[i], { op: 'ok', id: i, seq: i + 1, acks: 2 });
  assert.deepEqual(answers[20], { op: 'value', id: 20, key: 'k4', value: 19, seq: 20 });
  assert.deepEqual(answers[21], { op: 'value', id: 21, key: 'missing', value: null, seq: 20 });
  const expected = { k0: 15, k1: 16, k2: 17, k3: 18, k4: 19 };
  assert.deepEqual(led, { store: expected, seq: 20 });
  for (const r of replicas) assert.deepEqual(r, { store: expected, applied: 20, leader: { node: 0, partition: 1, process: 1 } }); // node 0: a machine that is not one node of several
  // 20 replicate messages to each follower, and the hardware saw no violation.
  const stats = machine.stats().partitions;
  assert.equal(stats[1].delivered, 20);
  assert.equal(stats[2].delivered, 20);
  assert.equal(stats.reduce((n, p) => n + p.violations.total, 0), 0);
});

test('kv-store: with a quorum of one and pipelined requests the replicas still converge', { timeout: TIMEOUT }, async () => {
  const { answers, led, replicas } = await runStore({ quorum: 1, window: 8 });
  const oks = answers.slice(0, 20);
  assert.deepEqual(oks.map((a) => a.seq), Array.from({ length: 20 }, (_, i) => i + 1));
  assert.ok(oks.every((a) => a.op === 'ok' && a.acks === 1));
  assert.equal(answers[21].value, null);
  for (const r of replicas) assert.deepEqual(r.store, led.store);
});
