/**
 * The per-queue-pair lookups attacked from real partition workers (compiled dist, the hardware in
 * its own worker, the scheduler running), beside the honest echo pair of test/security: partition 3
 * (hostile OS) sends from one queue pair on several handles in turn — its own channels (runs and
 * quiet lookups), its other queue pair's, a closed slot's handle reused by a newer channel — then
 * after its peer closed one of them, then after its peer partition restarted. Exact answers,
 * counters and deliveries; the honest pair loses nothing.
 */
import { describe, expect, it } from 'vitest';
import { Status } from '../../src/shared/errors.js';
import { RecordType } from '../../src/shared/layout.js';
import { completionCounts, completions, numbered, rawChannel, receiveAll, withBench } from './harness.js';

const A = 3;
const V = 4;
const R = 60;

describe('attack (workers): lookups kept per queue pair', () => {
  it('a queue pair naming its channels, another queue pair\'s, a reused slot\'s old handle, a peer-closed channel and a restarted peer\'s: exact answers, nothing on a channel it does not own', async () => {
    await withBench({ hostile: [A, V] }, async (b) => {
      const [a, v] = [b.os(A), b.os(V)];
      const x = await rawChannel(b, A, 0, V, 0, 9);
      const y = await rawChannel(b, A, 0, V, 0, 9);
      const theirs = await rawChannel(b, A, 1, V, 0, 9);
      const old = await rawChannel(b, A, 0, V, 0, 9);
      a.close(0, old.send);
      expect(await completions(a, 0, 1)).toEqual([{ status: Status.OK, channel: old.send, opcode: RecordType.CLOSE, count: 1 }]);
      await receiveAll(v, 0, 1); // old's END
      const reused = await rawChannel(b, A, 0, V, 0, 9);
      expect(reused.send & 15).toBe(old.send & 15);

      // 1. In turn: x, x, y, theirs, old, reused, per round R times.
      const pattern = [x.send, x.send, y.send, theirs.send, old.send, reused.send];
      const handles = Array.from({ length: R * pattern.length }, (_, i) => pattern[i % pattern.length]);
      const ok = handles.flatMap((h, i) => (h === theirs.send || h === old.send ? [] : [[h, i]]));
      // The victim reads while the attacker writes (its ring holds fewer records than are sent).
      const [sent, got] = await Promise.all([a.sendMany(0, handles, handles.length, 16), receiveAll(v, 0, ok.length)]);
      expect(sent).toBe(handles.length);
      const receiving = new Map([[x.send, x.receive], [y.send, y.receive], [reused.send, reused.receive]]);
      expect(got.map((d) => [d.type, d.channel, d.status, d.bytes])).toEqual(ok.map(([h, i]) => [RecordType.DATA, receiving.get(h), Status.OK, numbered(i)]));
      const refused = await completions(a, 0, 2 * R);
      expect(completionCounts(refused)).toEqual({ [Status.EPERM]: R, [Status.ESTALE]: R });
      expect(b.violations(A)).toEqual({ total: 2 * R, notOwner: R, staleHandle: R });
      expect(b.stats(A).sent).toBe(4 * R);
      expect(b.stats(V).delivered).toBe(4 * R);

      // 2. The peer closes y while queue pair 0 keeps y's lookups (its last SEND named reused, then y, then ...).
      expect(await a.sendMany(0, [x.send, y.send], 2, 16, 10_000)).toBe(2);
      await receiveAll(v, 0, 2);
      v.close(0, y.receive);
      await completions(v, 0, 1);
      const then = [y.send, x.send, y.send, y.send, reused.send];
      const second = Array.from({ length: R * then.length }, (_, i) => then[i % then.length]);
      const [sent2, got2] = await Promise.all([a.sendMany(0, second, second.length, 16, 20_000), receiveAll(v, 0, 2 * R)]);
      expect(sent2).toBe(second.length);
      expect(got2.map((d) => d.channel)).toEqual(second.flatMap((h) => (h === y.send ? [] : [receiving.get(h)])));
      // The END of y reached A's queue pair 0; every SEND on y after it: ECLOSED, a send error, no violation.
      const closed = await completions(a, 0, 3 * R);
      expect(completionCounts(closed)).toEqual({ [Status.ECLOSED]: 3 * R });
      expect(b.stats(A).sendErrors).toBe(3 * R);

      // 3. The peer partition restarts: every channel into it is dead.
      await b.machine.partition(V).restart();
      // Two in turn on each (refusals of one handle coalesce in pairs: 2R completions fit the completion ring unread).
      const third = Array.from({ length: 4 * R }, (_, i) => [x.send, x.send, reused.send, reused.send][i & 3]);
      expect(await a.sendMany(0, third, third.length, 16, 30_000)).toBe(third.length);
      const dead = await completions(a, 0, 4 * R);
      expect(completionCounts(dead)).toEqual({ [Status.EPEERDEAD]: 4 * R });
      expect(b.stats(A)).toMatchObject({ sent: 6 * R + 2, sendErrors: 7 * R, completionsDropped: 0 });
      expect(b.violations(A)).toEqual({ total: 2 * R, notOwner: R, staleHandle: R });
      expect(await b.os(V).readReceive(0)).toEqual([]);
      await b.honest.finish();
    });
  }, 120_000);
});
