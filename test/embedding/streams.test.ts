/**
 * ch.stream() as embedders use it: node:http serving across partitions, stream.pipeline with a slow
 * reader, end and destroy, and a peer that dies. Every consumer here is Node's own (http, pipeline),
 * not a reader written for the test.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMachine, type Machine } from 'lparlink';
import { until } from './helpers.js';

const fixture = (name: string): URL => new URL(`./fixtures/streams/${name}`, import.meta.url);

/** Rings of 64 KiB and messages of at most 16 KiB: a few MB fill the rings many times, and chunks get split. */
const RINGS = { sendRingBytes: 65536, receiveRingBytes: 65536, maxMessageBytes: 16384, wait: 'sleep' } as const;

interface Digest {
  bytes: number;
  sha256: string;
}
interface ErrorReport {
  name: string;
  code?: string;
  message: string;
}

let machine: Machine;
beforeEach(async () => {
  machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], ...RINGS });
});
afterEach(async () => {
  await machine.close();
});

describe('ch.stream() under node:http', () => {
  it('serves HTTP from one partition to http.request clients in another, one request per channel and keep-alive', async () => {
    const server = await machine.partition(1).spawn(fixture('http-server.mjs'), { port: 80, connections: 3, responseBytes: 200_000 });
    const client = await machine.partition(2).spawn(fixture('http-client.mjs'), { partition: 1, port: 80 });
    type Exchange = Record<string, unknown> & { sent: Digest; received: Digest };
    const { get, post, keepAlive, agentConnections } = (await client.result) as { get: Exchange; post: Exchange; keepAlive: Exchange[]; agentConnections: number };
    expect(get).toMatchObject({ status: 200, servedBy: 'partition-1', serverReceived: { method: 'GET', url: '/hello', echo: 'GET /hello', bytes: 0 } });
    expect(post).toMatchObject({ status: 200, servedBy: 'partition-1', serverReceived: { method: 'POST', url: '/upload', echo: 'POST /upload' } });
    // Byte-exact both ways: what the client sent is what the server read, and the reverse.
    expect(post.sent.bytes).toBe(300_000);
    expect(post.serverReceived).toMatchObject(post.sent);
    // A keep-alive http.Agent (it calls setKeepAlive, setTimeout, unref on its sockets) sends both requests on one channel.
    expect(agentConnections).toBe(1);
    expect(keepAlive.map((r) => r.serverReceived)).toMatchObject([
      { method: 'PUT', url: '/first', ...keepAlive[0].sent },
      { method: 'PUT', url: '/second', ...keepAlive[1].sent },
    ]);
    for (const r of [get, post, ...keepAlive]) {
      expect(r.received.bytes).toBe(200_000);
      expect(r.received).toEqual(r.serverSent);
    }
    expect(await server.result).toEqual({ connections: 3 });
    expect(machine.stats().partitions.map((p) => p.violations.total)).toEqual([0, 0]);
  });
});

describe('ch.stream() under stream.pipeline', () => {
  it('carries 4 MB byte-exact to a slow reader, with back-pressure on the writer and bounded buffering', async () => {
    const readableHighWaterMark = 32768;
    const sink = await machine.partition(1).spawn(fixture('pipe-sink.mjs'), { port: 5, slowEvery: 4, readableHighWaterMark });
    const source = await machine.partition(2).spawn(fixture('pipe-source.mjs'), { partition: 1, port: 5, total: 4 << 20, maxChunk: 100_000 });
    const sent = (await source.result) as Digest & { drains: number; error: ErrorReport | null; channelOpen: boolean };
    const got = (await sink.result) as Digest & { mostBuffered: number; maxMessageBytes: number; error: ErrorReport | null; channelOpen: boolean };
    expect(sent.error).toBeNull();
    expect(got.error).toBeNull();
    expect(sent.bytes).toBe(4 << 20);
    expect(got).toMatchObject({ bytes: sent.bytes, sha256: sent.sha256, readableHighWaterMark, maxMessageBytes: 16384 });
    // The writer waited for ring space: write() returned false and 'drain' followed.
    expect(sent.drains).toBeGreaterThan(0);
    // The reader's Duplex stopped reading the channel at its high-water mark: at most one message over it.
    expect(got.mostBuffered).toBeLessThanOrEqual(readableHighWaterMark + got.maxMessageBytes);
    // end() closed the channel after the data; the clean close ended the reader, which closed its end.
    expect([sent.channelOpen, got.channelOpen]).toEqual([false, false]);
  });
});

describe('ch.stream(): end, destroy and errors', () => {
  for (const how of ['end', 'destroy'] as const) {
    it(`${how}() closes the channel; the peer reads every byte written before it, then 'end'`, async () => {
      const reader = await machine.partition(1).spawn(fixture('stream-edges.mjs'), { role: 'reader', port: 6 });
      const closer = await machine.partition(2).spawn(fixture('stream-edges.mjs'), { role: 'closer', partition: 1, port: 6, how });
      const c = (await closer.result) as { misuse: Record<string, ErrorReport>; timedOut: boolean; errors: ErrorReport[]; destroyed: boolean; channelOpen: boolean };
      const r = (await reader.result) as { text: string; events: string[]; errors: ErrorReport[]; channelOpen: boolean };
      expect(r.text).toBe(how === 'end' ? 'hello, partition!' : 'hello, partition');
      // No half-close: the peer's close ends the readable side, which ends the writable side, then close.
      expect(r.events).toEqual(['end', 'finish', 'close']);
      expect(r.errors).toEqual([]);
      expect([c.errors, c.destroyed, c.channelOpen, r.channelOpen]).toEqual([[], true, false, false]);
      expect(c.misuse.badOption).toMatchObject({ name: 'ChannelError', code: 'EINVAL', message: expect.stringMatching(/stream: highWaterMark must be a positive integer number of bytes, got -1/) });
      expect(c.misuse.unknownOption).toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/stream: 'hwm' is not an option/) });
      expect(c.timedOut).toBe(true); // setTimeout(ms, fn): 'timeout' after idle ms, the stream still open
      expect(c.misuse.negativeTimeout).toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/stream\.setTimeout: ms must be a number of milliseconds >= 0/) });
      expect(c.misuse.twice).toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/stream\(\): channel \d+ already belongs to stream\(\)/) });
      for (const what of ['stream()', 'wrapChannel', 'exposeOverChannel']) {
        const key = what === 'stream()' ? 'streamAfterClose' : what === 'wrapChannel' ? 'wrapAfterClose' : 'exposeAfterClose';
        expect(c.misuse[key], what).toMatchObject({ code: 'ECLOSED', message: expect.stringMatching(new RegExp(`^ECLOSED: ${what.replace(/[()]/g, '\\$&')}: channel \\d+ was closed by this process \\(`)) });
      }
    });
  }

  it("a side that only writes and end()s, never reading, finishes: 'finish', 'end', 'close', and finished() resolves", async () => {
    const reader = await machine.partition(1).spawn(fixture('stream-edges.mjs'), { role: 'reader', port: 8 });
    const writer = await machine.partition(2).spawn(fixture('stream-edges.mjs'), { role: 'writer', partition: 1, port: 8 });
    expect(await writer.result).toEqual({ events: ['finish', 'end', 'close'], channelOpen: false });
    expect(await reader.result).toMatchObject({ text: 'log line\n', events: ['end', 'finish', 'close'], errors: [] });
  });

  for (const killed of ['writer', 'reader'] as const) {
    it(`the ${killed}'s partition is killed mid-stream: the other side's stream errors with EPEERDEAD`, async () => {
      const sink = await machine.partition(1).spawn(fixture('pipe-sink.mjs'), { port: 7, slowEvery: 1, readableHighWaterMark: 16384 });
      const source = await machine.partition(2).spawn(fixture('pipe-source.mjs'), { partition: 1, port: 7, total: Infinity, maxChunk: 50_000 });
      // Kill once a megabyte went through, with the stream in full flow (no timing: the hardware's counter).
      await until(() => machine.stats().partitions[0].bytesDelivered >= 1 << 20, () => `${machine.stats().partitions[0].bytesDelivered} bytes delivered`);
      const [victim, survivor] = killed === 'writer' ? [source, sink] : [sink, source];
      await machine.partition(killed === 'writer' ? 2 : 1).terminate();
      await expect(victim.result).rejects.toMatchObject({ name: 'MachineError', code: 'EPARTITIONDOWN' });
      const out = (await survivor.result) as Digest & { error: ErrorReport | null; channelOpen: boolean };
      expect(out.error).toMatchObject({ name: 'ChannelError', code: 'EPEERDEAD', message: expect.stringMatching(/^EPEERDEAD: /) });
      expect(out.channelOpen).toBe(false);
      if (killed === 'writer') expect(out.bytes).toBeGreaterThanOrEqual(1 << 20); // every delivered byte was read before the error
    });
  }
});
