/**
 * `stats().partitions[i].channels`: each channel end in use, counted by the hardware. Partitions on
 * the hostile OS make the channels and send raw work requests; one then scribbles over its own
 * connection table (the memory its process reads `connections()` from), which must not change what
 * the operator reads: the channel block is the hardware's, in memory no partition holds.
 */
import { expect, it } from 'vitest';
import { receiveAll, withBench, waitFor } from './harness.js';

const [A, V] = [3, 4];
const PORT = 21;

it('counts each channel end apart, names it as the hardware attests, and a partition scribbling its own table changes none of it', async () => {
  await withBench({ hostile: [A, V] }, async (b) => {
    const [a, v] = [b.os(A), b.os(V)];
    for (const os of [a, v]) expect(await os.open(0)).toMatchObject({ ok: true });
    expect(await v.listen(0, PORT)).toEqual({ ok: true });
    const first = await a.connect(0, V, PORT);
    const second = await a.connect(0, V, PORT);
    const firstAccepted = await v.accept(0, PORT);
    const secondAccepted = await v.accept(0, PORT);
    for (const r of [first, second, firstAccepted, secondAccepted]) expect(r).toMatchObject({ ok: true });
    const channels = (id: number) => b.stats(id).channels;
    const before = { sent: b.stats(A).sent, delivered: b.stats(V).delivered };

    // Three messages (1 + 2 + 3 bytes) on the first channel, one of 10 on the second.
    for (const n of [1, 2, 3]) expect(await a.send(0, first.handle, new Array(n).fill(n))).toEqual(expect.any(Number));
    expect(await a.send(0, second.handle, new Array(10).fill(7))).toEqual(expect.any(Number));
    await a.doorbell();
    await receiveAll(v, 0, 4);

    const row = (handle: number, remotePartition: number, remoteProcess: number, counts: object) => ({
      channel: handle,
      localProcess: expect.any(Number),
      remoteNode: 0,
      remotePartition,
      remoteProcess,
      state: 'open',
      ...counts,
    });
    const sentRows = [
      row(first.handle, V, first.remoteProcess, { sent: 3, bytesSent: 6, delivered: 0, bytesDelivered: 0 }),
      row(second.handle, V, second.remoteProcess, { sent: 1, bytesSent: 10, delivered: 0, bytesDelivered: 0 }),
    ];
    const deliveredRows = [
      row(firstAccepted.handle, A, firstAccepted.remoteProcess, { sent: 0, bytesSent: 0, delivered: 3, bytesDelivered: 6 }),
      row(secondAccepted.handle, A, secondAccepted.remoteProcess, { sent: 0, bytesSent: 0, delivered: 1, bytesDelivered: 10 }),
    ];
    expect(channels(A)).toEqual(sentRows);
    expect(channels(V)).toEqual(deliveredRows);
    // Both ends name the same processes: each end's owner is the other's remote process.
    expect(channels(A)[0].localProcess).toBe(firstAccepted.remoteProcess);
    expect(channels(V)[0].localProcess).toBe(first.remoteProcess);
    // The partitions' counters moved by as much.
    expect(b.stats(A).sent - before.sent).toBe(4);
    expect(b.stats(V).delivered - before.delivered).toBe(4);

    // A overwrites its whole connection table: its own reads show it, the operator's do not.
    const table = await a.connectionTableWords();
    await a.fillWords(table.first, table.count, 0x5a5a5a5a);
    expect((await a.connectionEntry(0))[0]).toBe(0x5a5a5a5a);
    expect(channels(A)).toEqual(sentRows);
    // A send naming a slot with no channel (the last of its 16): a violation, no channel counts.
    expect(await a.send(0, 15, [1])).toEqual(expect.any(Number));
    await a.doorbell();
    await waitFor('the refused send to be counted', () => b.stats(A).violations.total > 0);
    expect(channels(A)).toEqual(sentRows);
    expect(channels(V)).toEqual(deliveredRows);

    // A closes the first channel: its row goes; V's end reads peer-closed and keeps its counts.
    expect(await a.close(0, first.handle)).toEqual(expect.any(Number));
    await a.doorbell();
    await waitFor('A\'s closed end to leave its channel rows', () => channels(A).length === 1);
    expect(channels(A)).toEqual([sentRows[1]]);
    await waitFor('V\'s end to read peer-closed', () => channels(V)[0].state === 'peer-closed');
    expect(channels(V)[0]).toEqual({ ...deliveredRows[0], state: 'peer-closed' });

    // A new channel in the freed slot starts at 0, under its own handle.
    const third = await a.connect(0, V, PORT);
    expect(third).toMatchObject({ ok: true });
    expect(third.handle).not.toBe(first.handle);
    expect(channels(A)).toContainEqual(row(third.handle, V, third.remoteProcess, { sent: 0, bytesSent: 0, delivered: 0, bytesDelivered: 0 }));
    expect(channels(A).map((r) => r.channel)).not.toContain(first.handle);
    await b.honest.finish();
  });
});
