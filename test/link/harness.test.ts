/**
 * The two-process harness itself, on a machine without the `node` option: a node process boots
 * a machine, runs programs on request and returns their results, its stats and its events,
 * shares each program's control block, scans partition memory, closes cleanly, and dies at once
 * to SIGKILL with every pending call rejected.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fillMessage } from './programs/messages.mjs';
import { closeNodes, PROGRESS, READY, startNode, STOP } from './harness.js';
import { until } from './pair.js';

afterEach(closeNodes);

const LOCAL = { partitions: [{ id: 1 }, { id: 2 }], wait: 'sleep' as const, sendRingBytes: 16384, receiveRingBytes: 16384 };

describe('test/link/harness.ts', () => {
  it('runs a sender and a receiver in a child process and returns their results and the stats', async () => {
    const node = await startNode(LOCAL);
    expect(node.id).toBeUndefined();
    expect(node.port).toBeUndefined();
    expect(node.child.pid).not.toBe(process.pid);
    const rx = await node.spawn(2, 'receiver', { port: 7, size: 100 });
    const tx = await node.spawn(1, 'sender', { partition: 2, port: 7, size: 100, count: 5000, batch: 16 });
    const [sent, received] = await Promise.all([tx.result, rx.result]);
    expect(sent).toEqual({ connected: true, sent: 5000, error: undefined, failedSends: {}, peer: { node: 0, partition: 2, process: rx.pid } });
    expect(received.channels).toEqual([{ peer: { node: 0, partition: 1, process: tx.pid }, received: 5000, outOfOrder: 0, corrupt: 0, end: 'ECLOSED' }]);
    const stats = await node.stats();
    expect(stats.partitions.map((p: { id: number; delivered: number }) => [p.id, p.delivered])).toEqual([
      [1, 0],
      [2, 5000],
    ]);
    expect(await node.close()).toEqual({ code: 0, signal: null });
  });

  it('shares the control block: the test reads progress and stops a program that would run forever', async () => {
    const node = await startNode(LOCAL);
    const rx = await node.spawn(2, 'receiver', { port: 7, size: 64 });
    const tx = await node.spawn(1, 'sender', { partition: 2, port: 7, size: 64, batch: 8 });
    await until('the sender to send 1000 messages', async () => (await tx.control.read())[PROGRESS] > 1000);
    expect((await tx.control.read())[READY]).toBe(1);
    await tx.control.set(STOP, 1);
    const sent = await tx.result;
    expect(sent.error).toBeUndefined();
    expect((await tx.control.read())[PROGRESS]).toBe(sent.sent);
    expect((await rx.result).channels[0]).toMatchObject({ received: sent.sent, outOfOrder: 0, corrupt: 0, end: 'ECLOSED' });
  });

  it('forwards a failed program as a rejected result with its code and as a programError event', async () => {
    const node = await startNode(LOCAL);
    const p = await node.spawn(1, 'fail', { code: 'EWHATEVER', message: 'on purpose' });
    await expect(p.result).rejects.toMatchObject({ code: 'EWHATEVER', message: expect.stringContaining('on purpose') });
    const event = await node.waitForEvent('programError', (info) => info.pid === p.pid);
    expect(event.info).toMatchObject({ partition: 1, pid: p.pid, error: { code: 'EWHATEVER', message: 'on purpose' } });
    await expect(node.spawn(1, 'no-such-program')).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('a program that ends at once still reports (its outcome may come in the same read as the spawn reply)', async () => {
    const node = await startNode(LOCAL);
    const programs = [];
    for (let i = 0; i < 30; i++) programs.push(await node.spawn(1 + (i % 2), 'fail', { code: `E${i}` }));
    const outcomes = await Promise.allSettled(programs.map((p) => p.result));
    expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as { code: string }).code : o.status))).toEqual(programs.map((_, i) => `E${i}`));
  });

  it('scans partition memory: finds a message in the sending and the receiving partition, and no key anywhere', async () => {
    const node = await startNode(LOCAL);
    const rx = await node.spawn(2, 'receiver', { port: 7, size: 64 });
    const tx = await node.spawn(1, 'sender', { partition: 2, port: 7, size: 64, count: 10, tag: 0x5eed1e55, close: false });
    await tx.result;
    await until('the receiver to have all 10', async () => (await rx.control.read())[PROGRESS] === 10);
    const message = fillMessage(new Uint8Array(64), 9, 0x5eed1e55);
    const keys = await node.keyHistory();
    expect(keys.length).toBeGreaterThan(0);
    const scan = await node.scanPorts([message, ...keys]);
    // The sender's send ring (partition 1) held it, and the receiver's receive ring (partition 2).
    expect(scan.map((s) => [s.partition, s.found[0].length > 0])).toEqual([
      [1, true],
      [2, true],
    ]);
    for (const s of scan) expect(s.found.slice(1)).toEqual(keys.map(() => []));
  });

  it('SIGKILL ends the node process at once and rejects every pending call and result', async () => {
    const node = await startNode(LOCAL);
    const rx = await node.spawn(2, 'receiver', { port: 7, size: 64 });
    const exit = await node.kill();
    expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
    await expect(rx.result).rejects.toThrow(/exited \(code null, signal SIGKILL\)/);
    await expect(node.stats()).rejects.toThrow(/exited/);
  });

  it('refuses a config without partitions with a TypeError saying what it needs', async () => {
    await expect(startNode({} as never)).rejects.toThrow(/partitions array/);
  });

  it('a machine that cannot boot rejects start with the machine error', async () => {
    await expect(startNode({ partitions: [{ id: 0 }] })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('partitions[0].id') });
  });
});

