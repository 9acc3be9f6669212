/**
 * Attack run 26a: what held, asserted exactly. The per-channel counters (`stats().partitions[i].channels`)
 * against hostile partitions (raw OS: they write their rings and make control calls as they like),
 * and the trace export against a program that fills its own partition's trace ring with records
 * naming other partitions' channels and message numbers.
 */
import { PassThrough } from 'node:stream';
import { expect, it } from 'vitest';
import type { ChannelStats } from 'lparlink';
import { completions, receiveAll, waitFor, withBench } from './harness.js';
import { consumerFlows, type TraceFile } from '../trace/helpers.js';

const [A, V, C] = [3, 4, 5];
const PORT = 21;
const OWN_PORT = 30;
const SLOT_MASK = 15; // SMALL: 16 channel slots, the handle's low 4 bits

it('a channel row names the channel the hardware made, its counts start at 0 in a reused slot, and a slot churned by its partition never shows counts or another identity', async () => {
  await withBench({ hostile: [A, V, C] }, async (b) => {
    const [a, v, c] = [b.os(A), b.os(V), b.os(C)];
    for (const os of [a, v, c]) expect(await os.open(0)).toMatchObject({ ok: true });
    expect(await a.open(1)).toMatchObject({ ok: true });
    expect(await v.listen(0, PORT)).toEqual({ ok: true });
    const channels = (id: number): ChannelStats[] => b.stats(id).channels;

    // A → V: three messages of 1, 2 and 3 bytes.
    const sent = await a.connect(0, V, PORT);
    const taken = await v.accept(0, PORT);
    for (const r of [sent, taken]) expect(r).toMatchObject({ ok: true });
    for (const n of [1, 2, 3]) expect(await a.send(0, sent.handle, new Array(n).fill(n))).toEqual(expect.any(Number));
    await a.doorbell();
    expect((await receiveAll(v, 0, 3)).map((r) => r.bytes.length)).toEqual([1, 2, 3]);

    // V closes its end: A's row stays, peer-closed, with its counts; V lists nothing.
    expect(await v.close(0, taken.handle)).toEqual(expect.any(Number));
    await v.doorbell();
    await waitFor("A's end to read peer-closed", () => channels(A)[0]?.state === 'peer-closed');
    const aRow = { channel: sent.handle, localProcess: taken.remoteProcess, remoteNode: 0, remotePartition: V, remoteProcess: sent.remoteProcess, state: 'peer-closed', sent: 3, bytesSent: 6, delivered: 0, bytesDelivered: 0 };
    expect(channels(A)).toEqual([aRow]);
    await waitFor("V's closed end to leave its rows", () => channels(V).length === 0);

    // C connects to V: V's freed slot takes the new channel, under a new handle, from 0.
    const fromC = await c.connect(0, V, PORT);
    const takenC = await v.accept(0, PORT);
    for (const r of [fromC, takenC]) expect(r).toMatchObject({ ok: true });
    expect(takenC.handle & SLOT_MASK).toBe(taken.handle & SLOT_MASK);
    expect(takenC.handle).not.toBe(taken.handle);
    for (let i = 0; i < 5; i++) expect(await c.send(0, fromC.handle, [i, i, i, i])).toEqual(expect.any(Number));
    await c.doorbell();
    expect((await receiveAll(v, 0, 5)).map((r) => r.channel)).toEqual(Array(5).fill(takenC.handle));
    const vRow = { channel: takenC.handle, localProcess: fromC.remoteProcess, remoteNode: 0, remotePartition: C, remoteProcess: takenC.remoteProcess, state: 'open', sent: 0, bytesSent: 0, delivered: 5, bytesDelivered: 20 };
    const cRow = { channel: fromC.handle, localProcess: takenC.remoteProcess, remoteNode: 0, remotePartition: V, remoteProcess: fromC.remoteProcess, state: 'open', sent: 5, bytesSent: 20, delivered: 0, bytesDelivered: 0 };
    expect(channels(V)).toEqual([vRow]);
    expect(channels(C)).toEqual([cRow]);
    expect(channels(A)).toEqual([aRow]);

    // A sends on its peer-closed end: refused, and counted on no row.
    expect(await a.send(0, sent.handle, [9, 9])).toEqual(expect.any(Number));
    await a.doorbell();
    expect((await completions(a, 0, 1)).map((r) => r.channel)).toEqual([sent.handle]);
    expect(channels(A)).toEqual([aRow]);
    expect(channels(V)).toEqual([vRow]);

    // A turns its slot 1 over 400 times (a connect to its own listener and a CLOSE, as fast as it
    // can) while the operator reads stats() back to back: every row of A it reads is the fixed one,
    // or a churned channel of A's own with no counts (open; peer-closed; peer-dead when the churn's
    // unlisten refused the listening end before the connector's CLOSE was served); V's and C's rows
    // never move.
    expect(await a.listen(1, OWN_PORT)).toEqual({ ok: true });
    let churning = true;
    const churned = a.churn(0, 1, OWN_PORT, 1, 400).finally(() => (churning = false));
    let reads = 0;
    let churnRows = 0;
    const bad: unknown[] = [];
    while (churning) {
      const s = b.machine.stats().partitions;
      reads++;
      const rowsOf = (id: number) => s.find((p) => p.id === id)!.channels;
      for (const r of rowsOf(A)) {
        if (r.channel === sent.handle) {
          if (JSON.stringify(r) !== JSON.stringify(aRow)) bad.push(r);
          continue;
        }
        churnRows++;
        const counts = r.sent + r.bytesSent + r.delivered + r.bytesDelivered;
        if (r.remotePartition !== A || r.remoteNode !== 0 || counts !== 0 || r.state === 'closed' || r.state === 'link-down') bad.push(r);
      }
      if (JSON.stringify(rowsOf(V)) !== JSON.stringify([vRow]) || JSON.stringify(rowsOf(C)) !== JSON.stringify([cRow])) bad.push({ v: rowsOf(V), c: rowsOf(C) });
      await new Promise((r) => setImmediate(r));
    }
    const result = await churned;
    expect(result.failed).toBeUndefined();
    expect(result.hits).toBe(400);
    expect(bad).toEqual([]);
    expect(reads).toBeGreaterThan(0);
    // Once the churn is over, A lists its one channel (the listener's backlog was dropped with it).
    await waitFor("A's churned ends to leave its rows", () => channels(A).length === 1);
    expect(channels(A)).toEqual([aRow]);
    expect(channels(V)).toEqual([vRow]);
    expect(channels(C)).toEqual([cRow]);
    await b.honest.finish();
  });
}, 120_000);

const SAMPLE = 4;
const FORGER = 3;

it('a program filling its own trace ring with records naming every small handle and sampled number draws only its own slices: no arrow, and the honest flows whole', async () => {
  await withBench({ hostile: [], standard: [FORGER], trace: { sample: SAMPLE } }, async (b) => {
    const handles = 32;
    const upTo = 1024;
    const handle = await b.machine.partition(FORGER).spawn(new URL('../trace/fixtures/attack26a-flow-forger.mjs', import.meta.url), { handles, upTo, sample: SAMPLE });
    const written = (await handle.result) as number;
    expect(written).toBe(handles * (upTo / SAMPLE) * 2 + 1);
    const { echoed } = await b.honest.finish();

    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (chunk: Buffer) => chunks.push(chunk));
    const summary = await b.machine.exportTrace(out);
    const file = JSON.parse(Buffer.concat(chunks).toString('utf8')) as TraceFile;
    expect(summary.malformed).toBe(0);
    expect(summary.dropped).toBe(0);
    const tid = file.traceEvents.find((e) => e.ph === 'M' && e.name === 'thread_name' && (e.args as { name?: string }).name === `standard-${FORGER}`)!.tid;
    const own = file.traceEvents.filter((e) => e.tid === tid && e.ph !== 'M');
    // Every forged record is drawn on the forger's own track, as a slice with no arrow.
    expect(own.filter((e) => e.name === 'send').length).toBe(handles * (upTo / SAMPLE) + 1);
    expect(own.filter((e) => e.name === 'receive').length).toBe(handles * (upTo / SAMPLE));
    expect(own.filter((e) => e.ph === 's' || e.ph === 't' || e.ph === 'f')).toEqual([]);
    expect(own.find((e) => (e.args as { channel?: number } | undefined)?.channel === 0xffffffff)!.args).toEqual({ channel: 0xffffffff, message: 0xffffffff });
    // The honest pair's sampled messages, one channel each way: each flow whole, none more.
    const sampled = 2 * Math.floor(echoed / SAMPLE);
    expect(summary.messages).toBe(sampled);
    expect(summary.received).toBe(sampled);
    const { flows } = await consumerFlows(file.traceEvents);
    expect(flows).toEqual({ 'send>verify>deliver': sampled, 'deliver>receive': sampled });
  });
}, 120_000);
