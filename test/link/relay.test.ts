/**
 * The loopback relay of the failure tests (./relay.ts), against a plain TCP sink: it forwards
 * and counts both ways, cut() resets both sides mid-stream, blackHole() forwards nothing while
 * every socket stays open, heal() forwards again.
 */
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startRelay, type Relay } from './relay.js';

let sink: Server | undefined;
let relay: Relay | undefined;
afterEach(async () => {
  await relay?.close();
  sink?.close();
  relay = sink = undefined;
});

/** A server that counts what it receives and answers each chunk with one byte. */
async function startSink(): Promise<{ port: number; received: () => number; sockets: Socket[] }> {
  let received = 0;
  const sockets: Socket[] = [];
  sink = createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    s.on('data', (chunk) => {
      received += chunk.length;
      s.write('!');
    });
  });
  await new Promise<void>((r) => sink!.listen(0, '127.0.0.1', r));
  return { port: (sink.address() as AddressInfo).port, received: () => received, sockets };
}

async function dial(port: number): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port, timeout: 10_000 });
  s.once('timeout', () => s.destroy(new Error(`no connection to port ${port} within 10 s`)));
  await once(s, 'connect');
  s.setTimeout(0);
  return s;
}

async function until(probe: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error('condition not met within 10 s');
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('test/link/relay.ts', () => {
  it('forwards both ways and counts the bytes', async () => {
    const target = await startSink();
    relay = await startRelay({ port: target.port });
    const s = await dial(relay.port);
    let answers = 0;
    s.on('data', (c) => (answers += c.length));
    s.write(Buffer.alloc(1000, 1));
    await until(() => target.received() === 1000 && answers > 0);
    expect(relay.bytes.toTarget).toBe(1000);
    expect(relay.bytes.toDialer).toBe(answers);
    expect(relay.bytes.dropped).toBe(0);
    expect([relay.connections, relay.open]).toEqual([1, 1]);
    s.destroy();
  });

  it('cut() destroys both sides mid-stream; a later connection is forwarded again', async () => {
    const target = await startSink();
    relay = await startRelay({ port: target.port });
    const s = await dial(relay.port);
    s.on('error', () => {});
    // Read what comes back (the sink's '!'): after a plain FIN, a socket that leaves data unread
    // never emits 'end', so never 'close'.
    s.resume();
    s.write(Buffer.alloc(100));
    await until(() => target.received() === 100);
    // (events.once would reject on the reset's 'error' that comes before 'close')
    const closed = new Promise((r) => s.once('close', r));
    relay.cut();
    // Bounded, as every wait here: this test once ran into vitest's 60 s timeout in CI, with no sign of which wait hung.
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error("the dialer's socket did not close within 10 s of cut()")), 10_000).unref())]);
    await until(() => target.sockets[0].destroyed);
    expect(relay.open).toBe(0);
    const again = await dial(relay.port);
    again.write(Buffer.alloc(10));
    await until(() => target.received() === 110);
    expect(relay.connections).toBe(2);
    again.destroy();
  });

  it('blackHole() forwards nothing and keeps the sockets open; heal() forwards again', async () => {
    const target = await startSink();
    relay = await startRelay({ port: target.port });
    const s = await dial(relay.port);
    s.write(Buffer.alloc(10));
    await until(() => target.received() === 10);
    relay.blackHole();
    s.write(Buffer.alloc(5000));
    await until(() => relay!.bytes.dropped >= 5000);
    expect(target.received()).toBe(10);
    expect(relay.bytes.toTarget).toBe(10);
    expect(s.destroyed).toBe(false);
    expect(target.sockets[0].destroyed).toBe(false);
    expect(relay.open).toBe(1);
    relay.heal();
    s.write(Buffer.alloc(7));
    await until(() => target.received() === 17);
    s.destroy();
  });

  it('refuses a target without a valid port', async () => {
    await expect(startRelay({ port: 0 })).rejects.toThrow(/target.port must be the port/);
  });
});
