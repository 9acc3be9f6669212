/**
 * Attack run 26b (THREATS case 133): a receiver that faults its own queue pair (its receive ring's
 * consumer position moved ahead of the producer's, from inside its partition) gets every message
 * sent to it refused with EFAULT. The hardware's trace recorded each such message as delivered (a
 * `deliver` slice, the `message` arrow from its send, and a `receive` arrow to whatever RECEIVE the
 * receiver wrote for it), so an honest sender's trace showed delivered, even received, what the
 * hardware refused. Now it is recorded as refused at deliver (`"refused":"receiverFaulted"`), with no
 * arrow, numbered as its sender numbered it, so the sender's later messages are joined whole.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';
import { consumerFlows, type TraceEvent, type TraceFile } from './helpers.js';

const roles = new URL('./fixtures/attack26b-roles.mjs', import.meta.url);
const SENDER = 1;
const HOSTILE = 2;
const HONEST = 3;
/** Sent in one batch to the hostile receiver, all refused; then LATER to the honest one. */
const REFUSED = 3;
const LATER = 4;

interface Slice {
  event: TraceEvent;
  /** The flow events bound to it: those right after it with its tid and ts. */
  flows: TraceEvent[];
}

/** Every slice with the flow events the export binds to it (each follows its slice, same tid and ts). */
function slices(events: TraceEvent[]): Slice[] {
  const out: Slice[] = [];
  for (const e of events) {
    if (e.ph === 'X') out.push({ event: e, flows: [] });
    else if (e.ph === 's' || e.ph === 't' || e.ph === 'f') {
      const last = out.at(-1)!;
      expect(last.event.tid === e.tid && last.event.ts === e.ts, JSON.stringify(e)).toBe(true);
      last.flows.push(e);
    }
  }
  return out;
}

it('133: messages refused EFAULT because their receiver faulted its queue pair are recorded as refused at deliver, with no arrow; the sender’s later messages join whole', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lparlink-attack26b-'));
  try {
    await using machine = await createMachine({
      wait: 'sleep',
      trace: { sample: 1 },
      partitions: [
        { id: SENDER, name: 'sender' },
        { id: HOSTILE, name: 'hostile' },
        { id: HONEST, name: 'honest' },
      ],
    });
    // Never settles: the hostile receiver holds its channel until the machine closes.
    void (await machine.partition(HOSTILE).spawn(roles, { role: 'faultingReceiver', port: 7, forged: REFUSED })).result.catch(() => {});
    const honest = await machine.partition(HONEST).spawn(roles, { role: 'receiver', port: 8 });
    const sender = await machine.partition(SENDER).spawn(roles, { role: 'sender', hostile: HOSTILE, port: 7, refused: REFUSED, honest: HONEST, honestPort: 8, n: LATER });
    const sent = (await sender.result) as { batched: number; failedSends: Record<string, number>; refusedChannel: number; honestChannel: number };
    const received = (await honest.result) as { received: number; channel: number };
    // The hardware refused all of them (the first faulted the receiver's queue pair, the rest found it faulted).
    expect(sent.batched).toBe(REFUSED);
    expect(sent.failedSends).toEqual({ EFAULT: REFUSED });
    expect(received.received).toBe(LATER);
    const stats = machine.stats();
    expect(stats.partitions[HOSTILE - 1].violations).toMatchObject({ total: 1, receiveRingPosition: 1 });
    expect(stats.partitions[SENDER - 1].sendErrors).toBe(REFUSED);
    expect(stats.partitions[HOSTILE - 1].delivered).toBe(0);

    const path = join(dir, 'trace.json');
    const summary = await machine.exportTrace(path);
    const file = JSON.parse(await readFile(path, 'utf8')) as TraceFile;
    const tidOf = (name: string): number => file.traceEvents.find((e) => e.ph === 'M' && e.name === 'thread_name' && e.args!.name === name)!.tid;
    const [hardware, senderTid, hostileTid, honestTid] = ['hardware-0', 'sender', 'hostile', 'honest'].map(tidOf);
    const all = slices(file.traceEvents);
    const on = (tid: number, name: string, channel: number): Slice[] => all.filter((s) => s.event.tid === tid && s.event.name === name && s.event.args!.channel === channel);
    const numbers = (list: Slice[]): unknown[] => list.map((s) => s.event.args!.message);
    const phases = (list: Slice[]): string[][] => list.map((s) => s.flows.map((f) => `${f.ph}:${f.name}`));
    const refused = [1, 2, 3];
    const later = [1, 2, 3, 4];

    // The refused messages: the sender numbered them 1..3, and so did the hardware.
    const sends = on(senderTid, 'send', sent.refusedChannel);
    expect(numbers(sends)).toEqual(refused);
    expect(phases(sends)).toEqual([[], [], []]);
    const from = (name: string): Slice[] => on(hardware, name, sent.refusedChannel).filter((s) => s.event.args!.from === SENDER);
    // Stamped and verified (they passed), and refused at deliver: no deliver of a delivered message, no arrow.
    expect(from('stamp').map((s) => s.event.args)).toEqual(refused.map((message) => ({ from: SENDER, channel: sent.refusedChannel, to: HOSTILE, message })));
    expect(from('verify').map((s) => s.event.args)).toEqual(refused.map((message) => ({ from: SENDER, channel: sent.refusedChannel, to: HOSTILE, message })));
    expect(from('deliver').map((s) => s.event.args)).toEqual(
      refused.map((message) => ({ from: SENDER, channel: sent.refusedChannel, to: HOSTILE, message, refused: 'receiverFaulted' })),
    );
    expect([...phases(from('stamp')), ...phases(from('verify')), ...phases(from('deliver'))]).toEqual(new Array(9).fill([]));
    // What the hostile receiver wrote it took (RECEIVEs of messages 1..3) is drawn on its own track, with no arrow into it.
    const forged = all.filter((s) => s.event.tid === hostileTid && s.event.name === 'receive');
    expect(numbers(forged)).toEqual(refused);
    expect(phases(forged)).toEqual([[], [], []]);
    expect(all.filter((s) => s.event.tid === hostileTid).flatMap((s) => s.flows.filter((f) => f.name === 'receive'))).toEqual([]);

    // The sender's later messages, on its channel to the honest receiver: each flow whole, numbered 1..4 by every stage.
    const laterSends = on(senderTid, 'send', sent.honestChannel);
    expect(numbers(laterSends)).toEqual(later);
    expect(phases(laterSends)).toEqual(later.map(() => ['s:message']));
    for (const stage of ['stamp', 'verify', 'deliver']) {
      expect(numbers(on(hardware, stage, sent.honestChannel)), stage).toEqual(later);
      expect(on(hardware, stage, sent.honestChannel).every((s) => s.event.args!.refused === undefined && s.event.args!.to === HONEST), stage).toBe(true);
    }
    expect(phases(on(hardware, 'verify', sent.honestChannel))).toEqual(later.map(() => ['t:message']));
    expect(phases(on(hardware, 'deliver', sent.honestChannel))).toEqual(later.map(() => ['f:message', 's:receive']));
    const receives = on(honestTid, 'receive', received.channel);
    expect(numbers(receives)).toEqual(later);
    expect(phases(receives)).toEqual(later.map(() => ['f:receive']));
    for (let i = 0; i < LATER; i++) {
      const id = laterSends[i].flows[0].id;
      expect(on(hardware, 'verify', sent.honestChannel)[i].flows[0].id).toBe(id);
      expect(on(hardware, 'deliver', sent.honestChannel)[i].flows[0].id).toBe(id);
      expect(receives[i].flows[0].id).toBe(on(hardware, 'deliver', sent.honestChannel)[i].flows[1].id);
    }

    // Whole: the hostile receiver's cue to the sender and the four later messages; the three refused drawn without arrows.
    expect(summary).toMatchObject({ messages: 1 + LATER, received: 1 + LATER, incomplete: REFUSED, dropped: 0, malformed: 0 });
    const { flows } = await consumerFlows(file.traceEvents);
    expect(flows).toEqual({ 'send>verify>deliver': 1 + LATER, 'deliver>receive': 1 + LATER });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 60_000);
