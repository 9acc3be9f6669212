/**
 * drain()/drainBytes() hand a message over in place: its ring space must stay unreleased until
 * the visitor returns, even when the visitor calls something that hands consumed space back to
 * the hardware (a blocking wait flushes before it sleeps; a receive that starts the pump flushes
 * before its first await). Found by review in wave 20: the record was consumed before its visit,
 * so such a call handed its bytes back and the hardware wrote the next message over them while
 * the visitor read them. Driven in this thread against a real engine, one round() at a time.
 */
import { describe, expect, it } from 'vitest';
import { verifiedPaths } from '../bench/micro.js';

const RING = 4096;
/** 8 bytes of record header, 8 of delivery header, 48 of payload: 64 records fill the ring exactly. */
const PAYLOAD = 48;
const message = (fill: number): Uint8Array => new Uint8Array(PAYLOAD).fill(fill);

describe('the message a visitor holds keeps its ring space until the visit returns', () => {
  type Rx = ReturnType<typeof verifiedPaths>['rx'][number];
  const calls = {
    // A blocking wait inside the callback is refused now (it could only wait for ever); it used to flush before it slept.
    'waitReadableSync (a blocking wait, refused)': (rx: Rx) => expect(() => rx.waitReadableSync(1)).toThrow(/^EINVAL: a blocking receive/),
    'waitReadableSync(0) (a poll)': (rx: Rx) => expect(rx.waitReadableSync(0)).toBe(false),
    'recv (starts the pump)': (rx: Rx) => void rx.recv().catch(() => undefined),
  };
  for (const [what, call] of Object.entries(calls)) {
    for (const asViews of [true, false]) {
      it(`54: ${what} inside ${asViews ? 'drain' : 'drainBytes'}: nothing of the visited record is handed back, and its bytes are not overwritten`, () => {
        const { tx: [tx], rx: [rx], hw } = verifiedPaths(1024, RING);
        expect(tx.sendBatch(Array.from({ length: 64 }, () => message(0x11)))).toBe(64);
        while (hw.engine.round() > 0);
        const ring = hw.ports[0].queuePairs[0].receive; // the hardware's side: it sees what the reader handed back
        expect(ring.freeBytes()).toBe(0);
        const seen: { before: number[]; freed: number; after: number[] } = { before: [], freed: -1, after: [] };
        const visit = (bytes: Uint8Array, at: number): void => {
          seen.before = Array.from(bytes.subarray(at, at + PAYLOAD));
          call(rx);
          seen.freed = ring.freeBytes();
          // The sender's next message, and a round that would write it wherever space was handed back.
          tx.send(message(0xee));
          while (hw.engine.round() > 0);
          seen.after = Array.from(bytes.subarray(at, at + PAYLOAD));
        };
        const n = asViews ? rx.drain((m) => visit(m, 0), 1) : rx.drainBytes((b, at) => visit(b, at), 1);
        expect(n).toBe(1);
        expect(seen).toEqual({ before: Array(PAYLOAD).fill(0x11), freed: 0, after: Array(PAYLOAD).fill(0x11) });
        // Once the visit returned, the record's space goes back and the next message follows the rest in order.
        const rest: number[] = [];
        // A few passes: the ring holds 63 of them now, the last needs a round after space goes back.
        for (let pass = 0; pass < 4 && rest.length < 64; pass++) {
          rx.drain((m) => void rest.push(m[0]));
          while (hw.engine.round() > 0);
        }
        expect(rest).toEqual([...Array(63).fill(0x11), 0xee]);
      });
    }
  }
});
