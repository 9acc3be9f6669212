/**
 * Which sampled messages of a machine's trace can be drawn whole: each stage recorded a message
 * as it knows it (the sender by its own partition, handle and number; the hardware by both ends;
 * the receiver by its own partition, handle and number), and here the three are joined into flow
 * ids. A flow gets an id only when every slice it ties is in the rings.
 */
import { TraceKind } from './shared/trace-layout.js';
import type { TraceSnapshot } from './shared/trace-ring.js';

/** One thread's ring, as the operator knows it (never as the ring says). */
export interface TraceThread {
  /** The worker's name: `hardware-0`, `partition-1`, … */
  name: string;
  /** The worker's threadId (the track's tid). */
  tid: number;
  /** The partition's index in the machine's options; undefined for the hardware. */
  partition: number | undefined;
  ring: SharedArrayBuffer;
  /** When the operator allocated the ring (traceNow()): a record from before it is skipped as malformed. */
  since?: number;
}

/** A message as one stage knows it. */
export function messageKey(partition: number, handle: number, n: number): string {
  return `${partition}:${handle}:${n}`;
}

export interface Flows {
  /** send → verify → deliver (or send → link send, to another node), by the sender's key. */
  message: Map<string, number>;
  /** deliver (or link deliver, from another node) → receive, by the receiver's key. */
  receive: Map<string, number>;
  /** Hardware records of sampled messages whose send is not in the rings (overwritten), or that the hardware refused (at verify, or at deliver: THREATS case 133). */
  incomplete: number;
}

/** Join the stages of one machine's rings; flow ids are taken from `nextId`, unique across a file. */
export function joinFlows(threads: TraceThread[], snapshots: TraceSnapshot[], nextId: () => number): Flows {
  const sends = new Set<string>();
  const receives = new Set<string>();
  threads.forEach((t, i) => {
    if (t.partition === undefined) return;
    const s = snapshots[i];
    for (let j = 0; j < s.length; j++) {
      const r = s.at(j);
      const kind = s.kind(r);
      if (kind === TraceKind.SEND) sends.add(messageKey(t.partition, s.field(r, 1), s.field(r, 2)));
      else if (kind === TraceKind.RECEIVE) receives.add(messageKey(t.partition, s.field(r, 1), s.field(r, 2)));
    }
  });
  const flows: Flows = { message: new Map(), receive: new Map(), incomplete: 0 };
  threads.forEach((t, i) => {
    if (t.partition !== undefined) return;
    const s = snapshots[i];
    for (let j = 0; j < s.length; j++) {
      const r = s.at(j);
      const kind = s.kind(r);
      // A message to or from another node: this node's half of its flow (send → link send, or
      // link deliver → receive); the other half is in the other node's trace.
      if (kind === TraceKind.LINK_SEND) {
        const sent = messageKey(s.field(r, 1), s.field(r, 2), s.field(r, 5));
        if (sends.has(sent)) flows.message.set(sent, nextId());
        else flows.incomplete++;
        continue;
      }
      if (kind === TraceKind.LINK_DELIVER) {
        const delivered = messageKey(s.field(r, 2), s.field(r, 3), s.field(r, 5));
        if (receives.has(delivered)) flows.receive.set(delivered, nextId());
        continue;
      }
      if (kind !== TraceKind.HARDWARE_MESSAGE && kind !== TraceKind.HARDWARE_REFUSED) continue;
      const sent = messageKey(s.field(r, 1), s.field(r, 2), s.field(r, 5));
      if (kind === TraceKind.HARDWARE_REFUSED || !sends.has(sent)) {
        flows.incomplete++;
        continue;
      }
      flows.message.set(sent, nextId());
      const delivered = messageKey(s.field(r, 3), s.field(r, 4), s.field(r, 5));
      if (receives.has(delivered)) flows.receive.set(delivered, nextId());
    }
  });
  return flows;
}
