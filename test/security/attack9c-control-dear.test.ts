/**
 * THREATS case 84: a control call the guard takes, dear to take in. Case 59 pauses a partition's
 * control endpoint after each message the guard drops, because Node deserializes a message on the
 * hardware's thread before any listener sees it, and some shapes cost the hardware many times
 * what they cost their poster. The guard checked the four fields of a call, each argument's two
 * keys and the arrays' lengths, but not the arrays' own named properties, which structured clone
 * copies along with their elements: a `path` or `argumentList` carrying 5,000 small objects with
 * distinct keys passed as a well-formed call, answered, never dropped, so never paused, and one
 * every 2 ms stays far under case 55's count.
 */
import { describe, expect, it } from 'vitest';
import { checkControlMessage } from '../../src/hardware/control-endpoint.js';
import { waitFor, withBench } from './harness.js';

const DEAR_CALL_OS = new URL('../fixtures/security/dear-call-os.mjs', import.meta.url);
const A = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('84: control calls whose arrays carry named properties', () => {
  it('84: the guard refuses a path or an argument list with a named property, of any kind, and takes the same call without it', () => {
    const raw = (value: number) => ({ type: 'RAW', value });
    const call = (path: string[], argumentList: unknown[]) => ({ id: '1', type: 'APPLY', path, argumentList });
    for (const extra of [{ k: 1 }, { length2: {} }, { '-1': 0 }, { '4294967295': 0 }]) {
      expect(checkControlMessage(call(Object.assign(['listen'], extra), [raw(0), raw(7)]))).toBe('arrays must hold only their elements');
      expect(checkControlMessage(call(['listen'], Object.assign([raw(0), raw(7)], extra)))).toBe('arrays must hold only their elements');
    }
    expect(checkControlMessage(call(['listen'], [raw(0), raw(7)]))).toEqual({ id: '1', type: 'APPLY', path: ['listen'], argumentList: [raw(0), raw(7)] });
  });

  for (const where of ['path', 'argumentList'] as const) {
    it(`84: a call whose ${where} carries 5,000 named properties is dropped and counted, not answered`, async () => {
      await withBench({ hostile: [A], extra: { [A]: { os: DEAR_CALL_OS } } }, async (b) => {
        const a = b.os(A);
        // Answered with the guard's refusal (comlink answers nothing for a dropped message): the
        // call below, posted after it, is answered; the dear one never is.
        void a.dearOnce(where);
        await waitFor('the dear call to be counted', () => b.violations(A).badControlMessage === 1);
        expect(await a.open(99)).toMatchObject({ ok: false, code: 'EINVAL' });
        const r = await a.floodResult();
        expect(r.answered).toBe(0);
        expect(b.violations(A)).toEqual({ badControlMessage: 1, total: 1 });
        await b.honest.finish();
      });
    }, 60_000);
  }

  it('84: a partition posting such calls every 2 ms does not starve the honest pair', async () => {
    await withBench({ hostile: [A], extra: { [A]: { os: DEAR_CALL_OS } } }, async (b) => {
      const a = b.os(A);
      let mark = b.honest.progress();
      await sleep(1500);
      const base = b.honest.progress() - mark;
      expect(base, 'the honest pair moves before the flood').toBeGreaterThan(100);
      await a.flood(6000, 'path');
      await waitFor('the flood to be under way', async () => (await a.floodResult()).posted > 20);
      mark = b.honest.progress();
      await sleep(1500);
      const during = b.honest.progress() - mark;
      const r = await a.stopFlood();
      const result = await a.floodResult();
      expect(during, `honest messages in 1.5 s: ${base} before the flood, ${during} during it`).toBeGreaterThan(base / 10);
      expect(b.violations(A).badControlMessage).toBeGreaterThan(0);
      for (const id of [1, 2]) expect({ refusals: b.stats(id).controlRefusals, violations: b.violations(id) }).toEqual({ refusals: 0, violations: {} });
      await b.honest.finish();
    });
  }, 90_000);
});
