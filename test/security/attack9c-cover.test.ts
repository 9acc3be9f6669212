/**
 * Regression cover for attack run 9c's probes of the control plane that found nothing (docs/THREATS.md,
 * "Found nothing (attack run 9c)"): calls in the wrong order answered with typed refusals and counted
 * as nothing; a detach answering every accept its listener had waiting and giving the bounds back;
 * the policy's refusal the same whether the forbidden partition listens or not; a partition holding
 * every pending accept it may and a queue of unanswered calls terminated, restarted and answering.
 */
import { describe, expect, it } from 'vitest';
import { RecordType } from '../../src/internal.js';
import { waitFor, withBench } from './harness.js';

const A = 3;
const V = 4;

describe('attack run 9c: found solid', () => {
  it('calls in the wrong order: accept and unlisten before listen, unlisten from another queue pair, a second listen, a listen on a queue pair never opened: typed refusals, nothing counted', async () => {
    await withBench({ hostile: [A, V] }, async (b) => {
      const [a, v] = [b.os(A), b.os(V)];
      expect(await a.open(0)).toMatchObject({ ok: true });
      expect(await a.open(1)).toMatchObject({ ok: true });
      expect(await a.accept(0, 7)).toEqual({ ok: false, code: 'EINVAL', message: 'this process does not listen on port 7' });
      expect(await a.unlisten(0, 7)).toEqual({ ok: false, code: 'EINVAL', message: 'this process does not listen on port 7' });
      expect(await a.listen(2, 7)).toEqual({ ok: false, code: 'EINVAL', message: 'queue pair 2 is not open' });
      expect(await a.listen(0, 7)).toEqual({ ok: true });
      expect(await a.listen(0, 7)).toEqual({ ok: false, code: 'EADDRINUSE', message: `port 7 of partition ${A} already has a listener` });
      expect(await a.listen(1, 7)).toEqual({ ok: false, code: 'EADDRINUSE', message: `port 7 of partition ${A} already has a listener` });
      // The other queue pair neither accepts on nor closes the listener of the first.
      expect(await a.accept(1, 7)).toEqual({ ok: false, code: 'EINVAL', message: 'this process does not listen on port 7' });
      expect(await a.unlisten(1, 7)).toEqual({ ok: false, code: 'EINVAL', message: 'this process does not listen on port 7' });
      // Services are per partition: another partition's port 7 is its own.
      expect(await v.open(0)).toMatchObject({ ok: true });
      expect(await v.listen(0, 7)).toEqual({ ok: true });
      expect(await a.unlisten(0, 7)).toEqual({ ok: true, refused: [] });
      expect(await a.accept(0, 7)).toEqual({ ok: false, code: 'EINVAL', message: 'this process does not listen on port 7' });
      for (const id of [A, V]) expect({ refusals: b.stats(id).controlRefusals, violations: b.violations(id) }).toEqual({ refusals: 0, violations: {} });
      await b.honest.finish();
    });
  });

  it("a DETACH answers every accept its process had waiting with ECLOSED, and gives the listener and the accepts' bounds back", async () => {
    await withBench({ hostile: [A] }, async (b) => {
      const a = b.os(A);
      expect(await a.open(0)).toMatchObject({ ok: true });
      expect(await a.listen(0, 7)).toEqual({ ok: true });
      const waiting = Array.from({ length: 16 }, () => a.accept(0, 7));
      // The hardware answers in order: this one is the 17th, past the bound of 16 a port.
      expect(await a.accept(0, 7)).toEqual({ ok: false, code: 'EAGAIN', message: 'already 16 accepts pending on port 7; await one before starting another' });
      expect(b.stats(A).controlRefusals).toBe(1);
      expect(await a.writeRecord(0, { type: RecordType.DETACH, words: [0, 0] })).toEqual(expect.any(Number));
      const answers = await Promise.all(waiting);
      expect(answers).toEqual(Array.from({ length: 16 }, () => ({ ok: false, code: 'ECLOSED', message: 'the listener on port 7 was closed' })));
      // The queue pair opens again (a new process) and listens on the same port, with all 16 accepts.
      await waitFor('the queue pair to be free again', async () => (await a.open(0))?.ok === true);
      expect(await a.listen(0, 7)).toEqual({ ok: true });
      const again = Array.from({ length: 16 }, () => a.accept(0, 7));
      expect(await a.unlisten(0, 7)).toEqual({ ok: true, refused: [] });
      expect(new Set((await Promise.all(again)).map((r: { code: string }) => r.code))).toEqual(new Set(['ECLOSED']));
      expect(b.stats(A).controlRefusals).toBe(1);
      expect(b.violations(A)).toEqual({});
      await b.honest.finish();
    });
  });

  it('the policy refuses a connect to a partition it forbids with the same answer whether that partition listens on the port or not; a port out of range is refused before the policy, saying nothing of the target', async () => {
    await withBench({ hostile: [A, V], policy: { allow: [[1, 2]] } }, async (b) => {
      const [a, v] = [b.os(A), b.os(V)];
      expect(await a.open(0)).toMatchObject({ ok: true });
      expect(await v.open(0)).toMatchObject({ ok: true });
      expect(await v.listen(0, 7)).toEqual({ ok: true });
      const refused = { ok: false, code: 'EPOLICY', message: `partition ${A} and partition ${V} may not connect` };
      expect(await a.connect(0, V, 7)).toEqual(refused);
      expect(await a.connect(0, V, 8)).toEqual(refused);
      expect(await a.connect(0, V, 70000)).toEqual({ ok: false, code: 'EINVAL', message: 'port 70000 is not an integer in 0..65535' });
      expect(await a.connect(0, 9, 70000)).toEqual({ ok: false, code: 'EINVAL', message: 'port 70000 is not an integer in 0..65535' });
      // It still connects to itself (the policy allows a partition its own listeners).
      expect(await a.listen(0, 9)).toEqual({ ok: true });
      expect(await a.connect(0, A, 9)).toMatchObject({ ok: true, remotePartition: A });
      for (const id of [A, V]) expect({ refusals: b.stats(id).controlRefusals, violations: b.violations(id) }).toEqual({ refusals: 0, violations: {} });
      await b.honest.finish();
    });
  });

  it('a partition holding every accept it may keep waiting and a queue of 20,000 unanswered calls: terminate() and restart() resolve, stats read, and the new run answers', async () => {
    await withBench({ hostile: [A], extra: { [A]: { os: new URL('../fixtures/security/flood-os.mjs', import.meta.url) } } }, async (b) => {
      const a = b.os(A);
      const exits: string[] = [];
      b.machine.on('partitionExit', (info) => exits.push(`${info.id} ${info.reason}`));
      for (let qp = 0; qp < 4; qp++) expect(await a.open(qp)).toMatchObject({ ok: true });
      for (let qp = 0; qp < 4; qp++) expect(await a.listen(qp, 10 + qp)).toEqual({ ok: true });
      const waiting = [];
      for (let qp = 0; qp < 4; qp++) for (let i = 0; i < 16; i++) waiting.push(a.accept(qp, 10 + qp));
      // The partition's 65th waiting accept is refused at the partition's bound (64).
      expect(await a.listen(0, 20)).toEqual({ ok: true });
      expect(await a.accept(0, 20)).toEqual({ ok: false, code: 'EAGAIN', message: `partition ${A} already has 64 accepts pending; await some first` });
      expect(await a.burst(20_000)).toBe(20_000);
      const stats = b.machine.stats();
      expect(stats.partitions.map((p) => p.id)).toEqual([1, 2, A]);
      await b.machine.partition(A).terminate();
      expect(exits).toEqual([`${A} terminate`]);
      // Each call the terminated run left waiting rejects, typed.
      for (const r of await Promise.allSettled(waiting)) expect(r).toMatchObject({ status: 'rejected', reason: { code: 'EPARTITIONDOWN' } });
      await b.machine.partition(A).restart();
      const again = b.os(A);
      expect(await again.open(0)).toMatchObject({ ok: true, process: 1 });
      expect(await again.listen(0, 10)).toEqual({ ok: true });
      expect(b.violations(A)).toEqual({});
      await b.honest.finish();
    });
  });
});
