/**
 * Tracing on nodes: a message to another node has its hardware stage on each node, each in that
 * node's own file. The sender's shows `send` → `link send` (its stamp, until its link's batch
 * took it); the receiver's shows `link deliver` → `receive`. Before, such a message showed only
 * its send and its receive, with no hardware stage and no arrow.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createMachine, type TraceSummary } from '../../src/index.js';
import { makeCertificates, type CertificateSet } from '../link/certs.js';
import { consumerFlows, type TraceFile } from './helpers.js';

const traffic = new URL('./fixtures/traffic.mjs', import.meta.url);
const SAMPLE = 8;
const MESSAGES = 203; // not a multiple of SAMPLE: the last messages are not sampled
const SAMPLED = Math.floor(MESSAGES / SAMPLE);

let certs: CertificateSet;
let dir: string;
beforeAll(async () => {
  certs = makeCertificates([1, 2]);
  dir = await mkdtemp(join(tmpdir(), 'lparlink-trace-link-'));
});
afterAll(async () => {
  certs?.remove();
  await rm(dir, { recursive: true, force: true });
});

it('a message to another node: send → link send on the sending node, link deliver → receive on the other, every sampled one, as a real consumer reads them', async () => {
  const trace = { sample: SAMPLE };
  await using b = await createMachine({ partitions: [{ id: 1 }], trace, wait: 'sleep', node: { id: 2, listen: { port: 0 }, peers: [{ id: 1 }], tls: certs.tls(2) } });
  await using a = await createMachine({ partitions: [{ id: 1 }], trace, wait: 'sleep', node: { id: 1, peers: [{ id: 2, host: '127.0.0.1', port: b.listening!.port }], tls: certs.tls(1) } });
  const receiver = await b.partition(1).spawn(traffic, { role: 'receiver', port: 10 });
  const sender = await a.partition(1).spawn(traffic, { role: 'sender', node: 2, partition: 1, port: 10, n: MESSAGES, size: 32 });
  expect(await sender.result).toEqual({ sent: MESSAGES });
  expect(await receiver.result).toMatchObject({ received: MESSAGES });

  const exported = async (m: typeof a, name: string): Promise<{ file: TraceFile; summary: TraceSummary }> => {
    const path = join(dir, `${name}.json`);
    const summary = await m.exportTrace(path);
    return { file: JSON.parse(await readFile(path, 'utf8')) as TraceFile, summary };
  };
  const sending = await exported(a, 'node-1');
  const receiving = await exported(b, 'node-2');

  // Each file names its node (both nodes ran in this one process: the pid alone would not tell them apart).
  const processName = (f: TraceFile) => f.traceEvents.find((e) => e.ph === 'M' && e.name === 'process_name')?.args?.name;
  expect([processName(sending.file), processName(receiving.file)]).toEqual(['lparlink node 1', 'lparlink node 2']);
  const slices = (f: TraceFile, name: string) => f.traceEvents.filter((e) => e.ph === 'X' && e.name === name);
  expect(slices(sending.file, 'link send')).toHaveLength(SAMPLED);
  expect(slices(sending.file, 'link send')[0].args).toEqual({ from: 1, channel: expect.any(Number), toNode: 2, message: SAMPLE });
  expect(slices(receiving.file, 'link deliver')).toHaveLength(SAMPLED);
  expect(slices(receiving.file, 'link deliver')[0].args).toEqual({ fromNode: 1, to: 1, channel: expect.any(Number), message: SAMPLE });
  // Neither node ran a local stage for them.
  for (const f of [sending.file, receiving.file]) for (const stage of ['stamp', 'verify', 'deliver']) expect(slices(f, stage)).toHaveLength(0);

  expect((await consumerFlows(sending.file.traceEvents)).flows).toEqual({ 'send>link send': SAMPLED });
  expect((await consumerFlows(receiving.file.traceEvents)).flows).toEqual({ 'link deliver>receive': SAMPLED });
  expect(sending.summary).toMatchObject({ messages: SAMPLED, received: 0, incomplete: 0, malformed: 0 });
  expect(receiving.summary).toMatchObject({ messages: 0, received: SAMPLED, incomplete: 0, malformed: 0 });
}, 60_000);

it('a message held for its window (its reader on the other node reads late, work of its process waits behind it) shows as held for window, its flow from its send', async () => {
  const trace = { sample: 1 };
  const rings = { sendRingBytes: 16 * 1024, receiveRingBytes: 16 * 1024 };
  await using b = await createMachine({ partitions: [{ id: 1 }], trace, wait: 'sleep', ...rings, node: { id: 2, listen: { port: 0 }, peers: [{ id: 1 }], tls: certs.tls(2), channelWindowBytes: 64 * 1024 } });
  await using a = await createMachine({ partitions: [{ id: 1 }], trace, wait: 'sleep', ...rings, node: { id: 1, peers: [{ id: 2, host: '127.0.0.1', port: b.listening!.port }], tls: certs.tls(1), channelWindowBytes: 64 * 1024 } });
  const late = await b.partition(1).spawn(traffic, { role: 'lateReceiver', port: 11, delayMs: 1500 });
  const other = await b.partition(1).spawn(traffic, { role: 'receiver', port: 12 });
  const sender = await a.partition(1).spawn(traffic, { role: 'twoChannels', node: 2, partition: 1, late: 11, other: 12, n: 20, size: 1024 });
  const sent = (await sender.result) as { first: number; second: number };
  expect(await late.result).toEqual({ received: sent.first });
  expect(await other.result).toEqual({ received: 20 });

  const path = join(dir, 'held.json');
  await a.exportTrace(path);
  const file = JSON.parse(await readFile(path, 'utf8')) as TraceFile;
  const held = file.traceEvents.filter((e) => e.ph === 'X' && e.name === 'held for window');
  expect(held.length).toBeGreaterThan(0);
  const flows = (await consumerFlows(file.traceEvents)).flows;
  expect(flows['send>held for window']).toBe(held.length);
  // Every message sent has its stage, held or straight to the link.
  expect(flows['send>held for window'] + flows['send>link send']).toBe(sent.first + sent.second);
}, 60_000);
