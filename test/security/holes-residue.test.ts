/**
 * THREATS.md case 26: residue of one channel's data in another channel's records. An honest
 * process sends long messages to X and short ones to Y from the same send ring; Y, a raw
 * partition, reads every byte the hardware writes into its receive ring (headers, payload,
 * alignment padding, PAD records) and its whole port, looking for X's bytes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordType, Status } from 'lparlink/internal';
import { completions, waitFor, withBench, type Bench } from './harness.js';

const SENDER = new URL('../fixtures/security/two-stream-sender.mjs', import.meta.url);
const X = 3;
const Y = 4;
const SENDING = 5;
/** Only X's messages carry this byte; Y's carry Y_FILL. */
const X_MARKER = 0xa5;
const Y_FILL = 0x5c;
/** Sizes up to 300 bytes: both the word-by-word copy (up to 256) and the bulk copy. */
const MAX_SIZE = 300;
/** Property runs: each spawns a sender and drains two streams (about 35 ms each on an idle machine). */
const RUNS = 50;

interface RawRecord {
  type: number;
  length?: number;
  channel?: number;
  status?: number;
  payload?: number[];
  padding?: number[];
  pad?: number[];
  fault?: string;
}

/** Drain a raw queue pair until `done(records)`; returns every record, PAD bodies included. */
async function drainRaw(os: any, qp: number, what: string, done: (records: RawRecord[]) => boolean): Promise<RawRecord[]> {
  const records: RawRecord[] = [];
  await waitFor(what, async () => {
    records.push(...((await os.readReceiveRaw(qp)) as RawRecord[]));
    return done(records);
  });
  return records;
}

const endOfStream = (records: RawRecord[]) => records.some((r) => r.type === RecordType.END || r.fault !== undefined);
const count = (bytes: number[] | undefined, byte: number) => (bytes ?? []).filter((b) => b === byte).length;

/**
 * What Y can see besides its payloads, summarised so that a leak shows as numbers: every count
 * but `records` must be zero, and every header must say exactly what the hardware delivered.
 */
function audit(records: RawRecord[], handle: number, sizes: number[]) {
  const data = records.filter((r) => r.type === RecordType.DATA);
  const pads = records.filter((r) => r.type === RecordType.PAD);
  return {
    records: data.length,
    wrongPayloads: data.filter((r, i) => r.payload!.length !== sizes[i] || r.payload!.some((b) => b !== Y_FILL)).length,
    wrongHeaders: data.filter((r, i) => r.length !== 16 + sizes[i] || r.channel !== handle || r.status !== Status.OK).length,
    recordsWithMarkerOutsidePayload: data.filter((r) => count(r.padding, X_MARKER) > 0).length,
    markerBytesInPadding: data.reduce((n, r) => n + count(r.padding, X_MARKER), 0),
    nonZeroPaddingBytes: data.reduce((n, r) => n + r.padding!.filter((b) => b !== 0).length, 0),
    markerBytesInPadRecords: pads.reduce((n, r) => n + count(r.pad, X_MARKER), 0),
    faults: records.filter((r) => r.fault !== undefined).length,
  };
}

const clean = (sizes: number[]) => ({
  records: sizes.length,
  wrongPayloads: 0,
  wrongHeaders: 0,
  recordsWithMarkerOutsidePayload: 0,
  markerBytesInPadding: 0,
  nonZeroPaddingBytes: 0,
  markerBytesInPadRecords: 0,
  faults: 0,
});

/** X and Y listen (raw), one sender process runs the two streams, both ends are drained to their END. */
async function runStreams(b: Bench, ports: { x: number; y: number }, xSizes: number[], ySizes: number[]) {
  const [x, y] = [b.os(X), b.os(Y)];
  const sender = await b.machine.partition(SENDING).spawn(SENDER, {
    x: { partition: X, port: ports.x },
    y: { partition: Y, port: ports.y },
    xSizes,
    ySizes,
    xFill: X_MARKER,
    yFill: Y_FILL,
  });
  // A sender that fails (to connect, say) ends the run with its own error, not an accept's timeout.
  const failed = new Promise<never>((_, reject) => void sender.result.catch(reject));
  const [xGrant, yGrant] = await Promise.race([Promise.all([x.accept(0, ports.x), y.accept(0, ports.y)]), failed]);
  expect(xGrant).toMatchObject({ ok: true, remotePartition: SENDING });
  expect(yGrant).toMatchObject({ ok: true, remotePartition: SENDING });
  const [toX, toY] = await Promise.all([
    drainRaw(x, 0, `X's ${xSizes.length} messages and end`, endOfStream),
    drainRaw(y, 0, `Y's ${ySizes.length} messages and end`, endOfStream),
  ]);
  // X and Y close their ends too, so their channel slots are free for the next run.
  for (const [os, grant] of [[x, xGrant], [y, yGrant]]) {
    await os.close(0, grant.handle);
    expect(await completions(os, 0, 1)).toEqual([{ status: Status.OK, channel: grant.handle, opcode: RecordType.CLOSE, count: 1 }]);
  }
  expect(await sender.result).toEqual({ x: xSizes.length, y: ySizes.length, failedSends: { x: {}, y: {} } });
  const xPayloads = toX.filter((r) => r.type === RecordType.DATA).map((r) => r.payload);
  expect(xPayloads, 'what X received').toEqual(xSizes.map((n) => new Array(n).fill(X_MARKER)));
  return { toY, yHandle: yGrant.handle as number };
}

describe('residue of other channels in delivered records', () => {
  it('26: a short message never carries bytes of a longer message sent to another channel; Y finds none of X\'s bytes anywhere in its port', async () => {
    await withBench({ hostile: [X, Y], standard: [SENDING] }, async (b) => {
      const mark = b.honest.progress();
      for (const [id, port] of [[X, 21], [Y, 22]] as const) {
        expect(await b.os(id).open(0)).toMatchObject({ ok: true });
        expect(await b.os(id).listen(0, port)).toMatchObject({ ok: true });
      }
      // The measurement: long messages to X alternating with 5-byte ones to Y. X's sizes
      // vary so that, lap after lap of the sender's ring, Y's records land on every offset of X's.
      const xSizes = Array.from({ length: 300 }, (_, i) => 160 + ((i * 37) % 96));
      const ySizes = new Array(300).fill(5);
      const { toY, yHandle } = await runStreams(b, { x: 21, y: 22 }, xSizes, ySizes);

      expect(audit(toY, yHandle, ySizes)).toEqual(clean(ySizes));
      // And the whole port, as the partition can read it: no byte of X's anywhere. (No header,
      // handle, position or table word of this small run can hold 0xA5.)
      const port = new Uint8Array(b.machine.hooks!.portOf(Y));
      expect(count(Array.from(port), X_MARKER), 'bytes 0xA5 in Y\'s port').toBe(0);
      expect(b.stats(Y).delivered).toBe(300);
      expect(b.violations(Y)).toEqual({});
      await b.honest.advances(mark);
      await b.honest.finish();
    });
  });

  it('26: property: for payload sizes 0–300 on both streams, no byte outside a payload Y holds (padding, headers, PAD records) is ever X\'s', async () => {
    await withBench({ hostile: [X, Y], standard: [SENDING], maxMessageBytes: 512 }, async (b) => {
      for (const [id, port] of [[X, 31], [Y, 32]] as const) {
        expect(await b.os(id).open(0)).toMatchObject({ ok: true });
        expect(await b.os(id).listen(0, port)).toMatchObject({ ok: true });
      }
      const sizes = fc.array(fc.integer({ min: 0, max: MAX_SIZE }), { minLength: 1, maxLength: 40 });
      let runs = 0;
      await fc.assert(
        fc.asyncProperty(sizes, sizes, async (xSizes, ySizes) => {
          runs++;
          const { toY, yHandle } = await runStreams(b, { x: 31, y: 32 }, xSizes, ySizes);
          expect(audit(toY, yHandle, ySizes)).toEqual(clean(ySizes));
        }),
        // Every run spawns a process and drains two streams: few runs, and no shrinking, which
        // would spend minutes re-running a failure that the audit already describes in numbers.
        { numRuns: RUNS, endOnFailure: true },
      );
      expect(runs).toBe(RUNS);
      expect(b.violations(Y)).toEqual({});
      expect(b.violations(X)).toEqual({});
      await b.honest.finish();
    });
  });
});
