/**
 * Claim 1's send side across nodes (RemoteConnect) over a real Hardware and stand-in links, with
 * fake timers: connects another node does not answer fail with ETIMEDOUT (THREATS case 49), and
 * what is remembered of them, so that a late CONNECT_OK is closed rather than counted, is kept per
 * link: a node that never answers cannot push out what is remembered for a slow one. An answer
 * granting a window no node may grant, or stating a maxMessageBytes no node has, fails the connect
 * and closes the channel it opened; one in range opens a channel that carries messages up to the
 * smaller of both nodes' maxMessageBytes.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { Hardware } from '../../src/hardware/hardware.js';
import type { NodeLink } from '../../src/hardware/link/node-link.js';
import { RemoteConnect } from '../../src/hardware/link/remote-connect.js';
import type { ConnectFields } from '../../src/hardware/link/link-writer.js';
import { resolveOptions } from '../../src/options.js';
import { Status } from '../../src/shared/errors.js';
import * as F from '../../src/shared/link-frames.js';
import { grantedWindow } from '../../src/shared/link-frames.js';

const TIMEOUT_MS = 2000;
const WINDOW = 1 << 20;
/** This node's maxMessageBytes, as its RemoteConnect states it. */
const MAX_MESSAGE = 64 * 1024;

interface StandInLink {
  node: number;
  up: boolean;
  connects: ConnectFields[];
  closes: Array<[channel: number, senderChannel: number, status: number]>;
  violations: string[];
  counters: { violation(kind: string): void };
  connect(f: ConnectFields): void;
  close(channel: number, senderChannel: number, status: number): void;
}

function standIn(node: number): StandInLink {
  const link: StandInLink = {
    node,
    up: true,
    connects: [],
    closes: [],
    violations: [],
    counters: { violation: (kind) => link.violations.push(kind) },
    connect: (f) => link.connects.push(f),
    close: (channel, senderChannel, status) => link.closes.push([channel, senderChannel, status]),
  };
  return link;
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function setup() {
  const hw = new Hardware(resolveOptions({ partitions: [{ id: 1 }], wait: 'sleep' }));
  const port = hw.ports[0];
  hw.manager.openQueuePair(port, 0);
  const slow = standIn(5);
  const silent = standIn(6);
  const links = new Map<number, NodeLink>([slow, silent].map((l) => [l.node, l as unknown as NodeLink]));
  const connects = new RemoteConnect(hw.manager, hw.table, hw.keys, links, () => {}, { answerTimeoutMs: TIMEOUT_MS, windowBytes: WINDOW, maxMessageBytes: MAX_MESSAGE });
  const connect = (node: number) => connects.connect(port, 0, node, 1, 7) as Promise<{ ok: boolean; code?: string }>;
  return { hw, slow, silent, connects, connect };
}

it('a connect nobody answers fails ETIMEDOUT at the bound; a late answer from a slow node is closed, uncounted, after 1100 timeouts of another node', async () => {
  const { slow, silent, connects, connect } = setup();
  const late = connect(5);
  await vi.advanceTimersByTimeAsync(TIMEOUT_MS - 1);
  let settled = false;
  void late.then(() => (settled = true));
  await Promise.resolve();
  expect(settled).toBe(false);
  // The bound passed; the answer may still be waiting in the socket: it is given up a turn later.
  await vi.advanceTimersByTimeAsync(2);
  expect(await late).toMatchObject({ ok: false, code: 'ETIMEDOUT' });
  // Node 6 never answers: 1100 connects to it time out, one after another (each frees its slot).
  for (let i = 0; i < 1100; i++) {
    const p = connect(6);
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS + 1);
    expect(await p).toMatchObject({ ok: false, code: 'ETIMEDOUT' });
  }
  // Node 5 answers its connect at last: the channel it opened is closed at once, cleanly.
  const [request] = slow.connects;
  connects.connectOk(slow as unknown as NodeLink, request.request, 77, 1, WINDOW, MAX_MESSAGE, 0);
  expect(slow.closes).toEqual([[77, request.sourceChannel, Status.OK]]);
  expect(slow.violations).toEqual([]);
  expect(silent.violations).toEqual([]);
});

it('an answer read in the turn the bound passed is taken, not given up (timers run before sockets are read)', async () => {
  const { slow, connects, connect } = setup();
  const p = connect(5);
  await vi.advanceTimersByTimeAsync(TIMEOUT_MS);
  connects.connectOk(slow as unknown as NodeLink, slow.connects[0].request, 77, 1, WINDOW, MAX_MESSAGE, 0);
  await vi.advanceTimersByTimeAsync(1);
  expect(await p).toMatchObject({ ok: true });
  expect(slow.closes).toEqual([]);
});

it('a node grants its window, or one of its largest messages where that is more: what it keeps aside for a channel stays within what it granted', () => {
  expect(grantedWindow(4 << 20, 64 * 1024)).toBe(4 << 20);
  expect(grantedWindow(64 * 1024, 1 << 20)).toBe(F.messageBytes(1 << 20));
  // The window this node sends in its CONNECTs is that one.
  const { silent, connect } = setup();
  void connect(6);
  expect(silent.connects[0].window).toBe(WINDOW);
});

it('an answer granting a window no node may grant fails the connect (EINVAL), is counted, and the channel it opened is closed', async () => {
  const { slow, connects, connect } = setup();
  for (const window of [0, 64 * 1024 - 1, 1024 * 1024 * 1024 + 1, 0xffff_ffff]) {
    const p = connect(5);
    const request = slow.connects[slow.connects.length - 1];
    connects.connectOk(slow as unknown as NodeLink, request.request, 90, 1, window, MAX_MESSAGE, 0);
    expect(await p).toMatchObject({ ok: false, code: 'EINVAL' });
    expect(slow.closes[slow.closes.length - 1]).toEqual([90, request.sourceChannel, Status.EINVAL]);
  }
  expect(slow.violations).toEqual(['badFrame', 'badFrame', 'badFrame', 'badFrame']);
  // Windows in range open the channel: from 64 KiB up to the bound (above one message of any node's maxMessageBytes).
  for (const window of [64 * 1024, 1024 * 1024 * 1024]) {
    const p = connect(5);
    connects.connectOk(slow as unknown as NodeLink, slow.connects[slow.connects.length - 1].request, 91, 1, window, MAX_MESSAGE, 0);
    expect(await p).toMatchObject({ ok: true });
  }
});

it('an answer stating a maxMessageBytes no node has, or a reserved word that is not zero, fails the connect (EINVAL), is counted, and the channel it opened is closed', async () => {
  const { slow, connects, connect } = setup();
  const bad: Array<[maxMessage: number, reserved: number]> = [
    [0, 0],
    [1024 * 1024 * 1024 + 1, 0],
    [0xffff_ffff, 0],
    [MAX_MESSAGE, 1],
  ];
  for (const [maxMessage, reserved] of bad) {
    const p = connect(5);
    const request = slow.connects[slow.connects.length - 1];
    connects.connectOk(slow as unknown as NodeLink, request.request, 92, 1, WINDOW, maxMessage, reserved);
    const r = (await p) as { ok: boolean; code?: string; message?: string };
    expect(r).toMatchObject({ ok: false, code: 'EINVAL' });
    expect(r.message).toMatch(reserved === 0 ? /maxMessageBytes of \d+ \(a node's is 1 to 1073741824\)/ : /reserved word/);
    expect(slow.closes[slow.closes.length - 1]).toEqual([92, request.sourceChannel, Status.EINVAL]);
  }
  expect(slow.violations).toEqual(['badFrame', 'badFrame', 'badFrame', 'badFrame']);
});

it('a CONNECT states this node\'s maxMessageBytes, and the channel carries messages up to the smaller of both nodes\'', async () => {
  const { slow, connects, connect } = setup();
  for (const [peer, channel] of [
    [1, 1],
    [1000, 1000],
    [MAX_MESSAGE, MAX_MESSAGE],
    [1024 * 1024 * 1024, MAX_MESSAGE],
  ]) {
    const p = connect(5);
    const request = slow.connects[slow.connects.length - 1];
    expect(request.maxMessage).toBe(MAX_MESSAGE);
    connects.connectOk(slow as unknown as NodeLink, request.request, 93, 1, WINDOW, peer, 0);
    expect(await p).toMatchObject({ ok: true, maxMessageBytes: channel });
  }
  expect(slow.violations).toEqual([]);
});
