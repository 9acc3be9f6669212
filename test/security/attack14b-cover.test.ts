/**
 * What attack run 14b tried and found holding (docs/THREATS.md, "Found nothing (attack run 14b)"),
 * driven in process against the real Hardware, writing the records and making the control calls a
 * hostile partition's OS makes, so that what the hardware holds can be read exactly.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Hardware } from '../../src/hardware/hardware.js';
import { LISTEN_BACKLOG, MAX_PENDING_ACCEPTS, PENDING_ACCEPTS_PER_PARTITION } from '../../src/hardware/connection-manager.js';
import { resolveOptions } from '../../src/options.js';
import type { ChannelGrant, ControlResult } from '../../src/shared/control-contract.js';
import { readPartitionStats } from '../../src/shared/counter-block.js';
import { RecordType, SendBody } from '../../src/shared/layout.js';
import { queuePairRings } from '../../src/shared/port.js';
import { FULL, RingProducer } from '../../src/shared/ring.js';

/** A closed endpoint: the tests leave the control plane out (bindControl does nothing). */
function endpoint(): MessagePort {
  const { port1, port2 } = new MessageChannel();
  port1.close();
  port2.close();
  return port1;
}

function hardware(extra: Record<string, unknown> = {}) {
  const options = resolveOptions({
    partitions: [{ id: 1 }, { id: 2 }],
    processesPerPartition: 8,
    channelsPerPartition: 64,
    sendRingBytes: 4096,
    receiveRingBytes: 1024,
    maxMessageBytes: 64,
    ...extra,
  });
  const hw = new Hardware(options);
  hw.bindControl = () => {};
  const stats = (p: number) => readPartitionStats(hw.counters.values, p, p + 1, '');
  const settle = (): void => {
    for (let idle = 0; idle < 3; ) idle = hw.engine.round() > 0 ? 0 : idle + 1;
  };
  const write = (port: number, qp: number, type: number, handle: number): void => {
    const p = hw.ports[port];
    const tx = new RingProducer(queuePairRings(p.buffer, options.geometry, qp).send);
    const at = tx.tryClaim(type, SendBody.BYTES);
    if (at === FULL) throw new Error('send ring full');
    tx.u32[at >> 2] = handle;
    tx.u32[(at >> 2) + 1] = 0;
    tx.publish();
  };
  return { hw, options, stats, settle, write };
}

describe('attack run 14b: what held', () => {
  it('a partition at its control-plane bounds (64 listeners, 64 accepts waiting), restarted: every waiting accept is answered ECLOSED, the bounds count from zero for the new run, and an honest partition connects to it at once', async () => {
    const { hw, stats } = hardware();
    const [hostile, honest] = hw.ports;
    const fill = (port = hw.ports[0]) => {
      for (let qp = 0; qp < 8; qp++) expect(hw.manager.openQueuePair(port, qp).ok).toBe(true);
      const listening: number[] = [];
      for (let service = 1; hw.manager.listen(port, service % 8, service).ok; service++) listening.push(service);
      const waiting: Promise<ControlResult<ChannelGrant>>[] = [];
      for (const service of listening) {
        const a = hw.manager.accept(port, service % 8, service);
        if (!(a instanceof Promise)) break;
        waiting.push(a);
      }
      return { listening, waiting };
    };
    const first = fill(hostile);
    expect(first.listening).toHaveLength(64);
    expect(first.waiting).toHaveLength(PENDING_ACCEPTS_PER_PARTITION);
    expect(PENDING_ACCEPTS_PER_PARTITION).toBeGreaterThan(MAX_PENDING_ACCEPTS);
    // One more listener and one more accept are refused, and counted (with the 65th listen that ended fill()'s loop).
    expect(hw.manager.listen(hostile, 0, 999)).toMatchObject({ ok: false, code: 'EMFILE' });
    expect(hw.manager.accept(hostile, 1, 1)).toMatchObject({ ok: false, code: 'EAGAIN' });
    expect(stats(0).controlRefusals).toBe(3);
    expect(hw.manager.openQueuePair(honest, 0).ok).toBe(true);
    hw.restartPartition(0, endpoint());
    const answers = await Promise.all(first.waiting);
    expect(answers.every((a) => !a.ok && a.code === 'ECLOSED')).toBe(true);
    // The new run starts from nothing: the same bounds again, none of the old run's counted.
    const second = fill();
    expect(second.listening).toHaveLength(64);
    expect(second.waiting).toHaveLength(PENDING_ACCEPTS_PER_PARTITION);
    // An honest connect to a port the new run waits on is accepted at once, by that run.
    const c = hw.manager.connect(honest, 0, 1, second.listening[0]);
    expect(c).toMatchObject({ ok: true, remotePartition: 1 });
    const granted = await second.waiting[0];
    expect(granted.ok).toBe(true);
    expect(LISTEN_BACKLOG).toBe(64);
    hw.restartPartition(0, endpoint());
    await Promise.all(second.waiting.slice(1));
  });

  it('ENDs waiting for a receive ring that is never read, 2,000 connect-and-close cycles on one slot: the hardware remembers at most one per live end, never one per cycle', () => {
    const { hw, stats, settle, write } = hardware({ partitions: [{ id: 1 }], processesPerPartition: 2 });
    const [port] = hw.ports;
    expect(hw.manager.openQueuePair(port, 0).ok).toBe(true);
    expect(hw.manager.openQueuePair(port, 1).ok).toBe(true);
    expect(hw.manager.listen(port, 0, 7).ok).toBe(true);
    const pending = () => (hw.engine as unknown as { pendingEnds: number[] }).pendingEnds.length;
    let most = 0;
    for (let cycle = 0; cycle < 2000; cycle++) {
      const c = hw.manager.connect(port, 1, 1, 7);
      const a = hw.manager.accept(port, 0, 7);
      if (!c.ok || a instanceof Promise || !a.ok) throw new Error(`cycle ${cycle}: ${JSON.stringify(c)} ${JSON.stringify(a)}`);
      // The connecting process closes: its END goes to the reader's ring, or waits once the ring is full.
      write(0, 1, RecordType.CLOSE, c.handle);
      settle();
      most = Math.max(most, pending());
      // The reader, which never reads its receive ring, closes its end too: the slot goes round again.
      write(0, 0, RecordType.CLOSE, a.handle);
      settle();
      most = Math.max(most, pending());
    }
    // The ring filled with ENDs early on; every later END waited (one at a time), and went with its end's close.
    expect(most).toBe(1);
    expect(pending()).toBeLessThanOrEqual(1);
    expect(stats(0).violations.total).toBe(0);
  });
});
