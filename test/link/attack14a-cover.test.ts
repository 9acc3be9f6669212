/**
 * What attack run 14a tried against the link with tracing on and off and found solid, kept as a
 * test: a hostile peer (node 1) fills the receive ring of a partition that reads nothing, so that
 * node 2 keeps the rest aside (traced, each message goes through deliverTraced() instead of
 * deliverFromLink(), and its number is kept until it is in the ring); while they are kept it sends
 * a run with the next sequence and a wrong key, and replays the first run. Traced or not, node 2
 * refuses exactly those two, counted once each by kind (the wrong key on the partition too), the
 * link stays up, and once the partition reads, every message the peer sent honestly arrives
 * exactly once, in order, nothing kept is left behind, and (traced) the trace draws one
 * `link deliver` per sampled message and nothing it had to skip. And the same kept messages when the
 * reading partition restarts instead: the peer hears its channel closed, what was kept is dropped
 * (none of it reaches the new run, whose ring is empty), what the peer sends after on the old
 * channel reaches nobody, and the link stays up with nothing counted against it.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { afterAll, expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';
import { makeCertificates } from './certs.js';
import { F, HostilePeer, type ForgedMessage } from './hostile-peer.js';
import { LOOPBACK } from './pair.js';
import { HOSTILE_OS, waitFor } from '../security/harness.js';

const certs = makeCertificates([1, 2]);
afterAll(() => certs.remove());

const SAMPLE = 4;
const PAYLOAD = 4096;
/** 1 MiB: a 256 KiB ring takes about 63; the rest is kept aside, well within the 4 MiB window. */
const HONEST = 256;
const PER_FRAME = 8;

function payload(i: number): Uint8Array {
  const p = new Uint8Array(PAYLOAD).fill(i & 255);
  new DataView(p.buffer).setUint32(0, i, true);
  return p;
}

it.each([false, true])('traced %s: a forged key and a replayed run beside messages kept for an unread ring are refused once each; every honest message arrives once, in order', async (traced) => {
  const machine = await createMachine({
    wait: 'sleep',
    ...(traced ? { trace: { sample: SAMPLE } } : {}),
    partitions: [{ id: 1, name: 'reader', os: HOSTILE_OS }],
    node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], tls: certs.tls(2), deadAfterMs: 10_000 },
  });
  let peer: HostilePeer | undefined;
  const link = () => machine.stats().links!.find((l: { node: number }) => l.node === 1)!;
  try {
    peer = await HostilePeer.dial(machine.listening!.port, certs.tls(1));
    await waitFor('the link to node 1', () => link().state === 'up');
    const os = machine.partition(1).os as any;
    expect(await os.open(0)).toMatchObject({ ok: true });
    expect(await os.listen(0, 8)).toMatchObject({ ok: true });
    const accepted = os.accept(0, 8) as Promise<{ ok: boolean; handle: number }>;
    const { key, channel } = await peer.openChannel({ request: 1, sourcePartition: 1, sourceProcess: 1, partition: 1, port: 8, sourceChannel: 5 });
    const { handle } = await accepted;
    const run = (first: number, n: number, k: Uint8Array = key): Buffer => {
      const messages: ForgedMessage[] = [];
      for (let s = first; s < first + n; s++) messages.push({ channel, sourcePartition: 1, sequence: s, key: k, payload: payload(s) });
      return peer!.dataFrame(messages);
    };
    for (let s = 1; s <= HONEST; s += PER_FRAME) peer.send(run(s, PER_FRAME));
    await waitFor('messages kept aside for the unread ring', () => link().keptBytes > 0);
    // The next sequence with another key, then the first run again: neither may reach the reader.
    peer.send(run(HONEST + 1, PER_FRAME, randomBytes(F.LINK_KEY_BYTES)));
    peer.send(run(1, PER_FRAME));
    await waitFor('both forgeries counted', () => link().violations.total >= 2);
    // The peer goes on honestly where its sequence stood.
    peer.send(run(HONEST + 1, PER_FRAME));
    const total = HONEST + PER_FRAME;

    const got: number[] = [];
    const wrong: string[] = [];
    await waitFor(
      'every honest message read',
      async () => {
        for (const r of (await os.readReceive(0)) as Array<{ type: number; channel: number; status: number; bytes: number[] }>) {
          const bytes = Uint8Array.from(r.bytes);
          const i = bytes.length >= 4 ? new DataView(bytes.buffer).getUint32(0, true) : -1;
          if (r.channel !== handle || r.status !== 0 || bytes.length !== PAYLOAD || !bytes.subarray(4).every((b) => b === (i & 255))) wrong.push(JSON.stringify({ ...r, bytes: bytes.length }));
          got.push(i);
        }
        return got.length >= total;
      },
      30_000,
    );
    expect(wrong).toEqual([]);
    expect(got).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    await waitFor('nothing kept', () => link().keptBytes === 0);
    expect(await os.readReceive(0)).toEqual([]);
    expect(link()).toMatchObject({ state: 'up', downs: 0 });
    expect(link().violations).toMatchObject({ total: 2, keyMismatch: 1, sequence: 1 });
    const [reader] = machine.stats().partitions;
    expect(reader.delivered).toBe(total);
    expect(reader.violations).toMatchObject({ total: 1, keyMismatch: 1 });
    if (traced) {
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (c: Buffer) => chunks.push(c));
      const summary = await machine.exportTrace(out);
      const file = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { traceEvents: Array<{ name: string; args?: { message?: number; channel?: number } }> };
      expect(summary).toMatchObject({ malformed: 0, dropped: 0 });
      // Each sampled message once, on the reader's handle: the refused runs were never numbered.
      const delivers = file.traceEvents.filter((e) => e.name === 'link deliver');
      expect(delivers.map((e) => e.args!.message)).toEqual(Array.from({ length: Math.floor(total / SAMPLE) }, (_, i) => (i + 1) * SAMPLE));
      expect(delivers.every((e) => e.args!.channel === handle)).toBe(true);
    }
  } finally {
    peer?.close();
    await machine.close();
  }
}, 60_000);

it.each([false, true])('traced %s: the reader restarts while messages are kept for it: the peer hears the close, nothing kept reaches the new run, the link stays clean', async (traced) => {
  const machine = await createMachine({
    wait: 'sleep',
    ...(traced ? { trace: { sample: SAMPLE } } : {}),
    partitions: [{ id: 1, name: 'reader', os: HOSTILE_OS }],
    node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], tls: certs.tls(2), deadAfterMs: 10_000 },
  });
  let peer: HostilePeer | undefined;
  const link = () => machine.stats().links!.find((l: { node: number }) => l.node === 1)!;
  try {
    peer = await HostilePeer.dial(machine.listening!.port, certs.tls(1));
    await waitFor('the link to node 1', () => link().state === 'up');
    let os = machine.partition(1).os as any;
    expect(await os.open(0)).toMatchObject({ ok: true });
    expect(await os.listen(0, 8)).toMatchObject({ ok: true });
    const accepted = os.accept(0, 8) as Promise<{ ok: boolean; handle: number }>;
    const { key, channel } = await peer.openChannel({ request: 1, sourcePartition: 1, sourceProcess: 1, partition: 1, port: 8, sourceChannel: 5 });
    await accepted;
    const run = (first: number, n: number): Buffer => {
      const messages: ForgedMessage[] = [];
      for (let s = first; s < first + n; s++) messages.push({ channel, sourcePartition: 1, sequence: s, key, payload: payload(s) });
      return peer!.dataFrame(messages);
    };
    for (let s = 1; s <= HONEST; s += PER_FRAME) peer.send(run(s, PER_FRAME));
    await waitFor('messages kept aside for the unread ring', () => link().keptBytes > 0);

    await machine.partition(1).restart();
    const close = await peer.next((f) => f.type === F.FrameType.CLOSE && f.bytes.readUInt32LE(F.CloseFrame.CHANNEL_OFFSET) === 5, 'the CLOSE of the channel');
    expect(close.bytes.readUInt32LE(F.CloseFrame.STATUS_OFFSET)).not.toBe(0);
    await waitFor('nothing kept', () => link().keptBytes === 0);
    // The peer goes on on the old channel, as if it had not heard: nobody gets it.
    peer.send(run(HONEST + 1, PER_FRAME));
    os = machine.partition(1).os as any;
    expect(await os.open(0)).toMatchObject({ ok: true });
    // A new listener on the same port, and a second channel from the peer: only its messages arrive.
    expect(await os.listen(0, 8)).toMatchObject({ ok: true });
    const second = os.accept(0, 8) as Promise<{ ok: boolean; handle: number }>;
    const fresh = await peer.openChannel({ request: 2, sourcePartition: 1, sourceProcess: 1, partition: 1, port: 8, sourceChannel: 6 });
    const { handle } = await second;
    peer.send(peer.dataFrame([1, 2, 3].map((s) => ({ channel: fresh.channel, sourcePartition: 1, sequence: s, key: fresh.key, payload: payload(1000 + s) }))));
    const got: Array<{ channel: number; first: number }> = [];
    await waitFor('the new channel\'s three messages', async () => {
      for (const r of (await os.readReceive(0)) as Array<{ channel: number; bytes: number[] }>) got.push({ channel: r.channel, first: new DataView(Uint8Array.from(r.bytes).buffer).getUint32(0, true) });
      return got.length >= 3;
    });
    expect(got).toEqual([1001, 1002, 1003].map((first) => ({ channel: handle, first })));
    expect(await os.readReceive(0)).toEqual([]);
    expect(link()).toMatchObject({ state: 'up', downs: 0, keptBytes: 0 });
    expect(link().violations.total).toBe(0);
    if (traced) {
      const out = new PassThrough();
      const summary = await machine.exportTrace(out.resume());
      expect(summary).toMatchObject({ malformed: 0, dropped: 0 });
    }
  } finally {
    peer?.close();
    await machine.close();
  }
}, 60_000);
