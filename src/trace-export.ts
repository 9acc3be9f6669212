/**
 * The trace exporter: the operator copies every thread's trace ring and streams them out as
 * Chrome Trace Event Format JSON (the object form), which ui.perfetto.dev, chrome://tracing and
 * the DevTools Performance panel all open. The file is written in chunks, with back-pressure,
 * never built as one string (V8 caps a string near 512 MB).
 *
 * What it writes: one track per thread (`M` thread_name, named as the worker is), `X` slices for
 * send, stamp, verify, deliver and receive, instant events for sleeps, wake-ups, doorbell rings
 * and violations, and two flows per sampled message:
 *
 * - `message`: `s` on the send slice, `t` on verify, `f` (`bp: "e"`) on deliver;
 * - `receive`: `s` on the deliver slice, `f` (`bp: "e"`) on the receive slice.
 *
 * Each flow event follows its slice with the same pid, tid, ts and cat, which is how all three
 * viewers bind a flow to a slice. A flow is written only when every slice it ties is in the rings
 * (a record overwritten or refused leaves its slices without arrows, counted as incomplete), so
 * every arrow drawn is whole. A refused message's slices end at the stage that refused it, which
 * says why: `verify` with `"refused":"keyMismatch"`, or `deliver` with `"refused":"receiverFaulted"`.
 * The three stages of a message touch end to start; each slice ends one nanosecond early so a
 * flow at a slice's start can belong to no other slice.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { MachineError } from './shared/errors.js';
import { VIOLATION_KINDS } from './shared/layout.js';
import { NO_PARTITION, TRACE_REFUSALS, TraceKind, TraceRefusal, TraceWait } from './shared/trace-layout.js';
import { TraceSnapshot } from './shared/trace-ring.js';
import { joinFlows, messageKey, type Flows, type TraceThread } from './trace-flows.js';

export type { TraceThread } from './trace-flows.js';

/** What a trace file holds ({@link Machine.exportTrace} returns it). */
export interface TraceSummary {
  /** Trace events written, metadata included. */
  events: number;
  /** Sampled messages whose whole flow (send → verify → deliver) is in the file; on a node, with those to another node whose send and link send are (send → link send). */
  messages: number;
  /** Sampled messages whose hand-over to their reader is in the file (deliver → receive; on a node, link deliver → receive for those from another node). */
  received: number;
  /** Hardware records of sampled messages drawn without arrows: their send was overwritten, or the hardware refused them (they failed verification, or their receiver's queue pair had faulted). */
  incomplete: number;
  /** Records overwritten before the export, all threads together. */
  dropped: number;
  /** Records skipped because they made no sense. */
  malformed: number;
}

/**
 * What to tell someone whose trace dropped records (the summary line of `--trace`), or '' when none
 * were: a full ring overwrites its oldest records, so the file holds only the end of the run.
 */
export function droppedAdvice(summary: TraceSummary): string {
  if (summary.dropped === 0) return '';
  return (
    "a thread's trace ring (trace.records, 32,768 records by default) filled and overwrote its oldest records, " +
    'so the file holds only the last part of the run; trace fewer messages (a larger --trace-sample or trace.sample), ' +
    'or give each thread a larger ring (--trace-records or trace.records, up to 1,048,576), to keep more of it'
  );
}

const CAT = 'lparlink';
/** How much JSON is gathered before one write. */
const CHUNK_CHARS = 1 << 16;

/** Microseconds to the fixed nanosecond text every event of one slice and its flows share. */
function us(t: number): string {
  return (Math.round(t * 1000) / 1000).toFixed(3);
}

/** A slice's length, one nanosecond short (see the module comment), never negative. */
function dur(from: number, to: number): string {
  return us(Math.max(0, to - from - 0.001));
}

class ChunkedJson {
  private buffered = '';
  private first = true;
  events = 0;

  /** An error the stream emitted during the export (one a write reports a tick later is emitted, not thrown). */
  private emitted: Error | undefined;
  private readonly onError = (e: Error): void => {
    this.emitted ??= e;
  };

  constructor(private readonly out: Writable) {
    out.on('error', this.onError);
  }

  /**
   * The last flush, then a turn of the event loop for a write's failure that a stream reports
   * asynchronously (a socket, a file stream); rejects with it. A file given by path is waited for
   * until it is written (writeTraceFile). The error listener goes either way.
   */
  async finish(): Promise<void> {
    try {
      await this.flush();
      await new Promise((resolve) => setImmediate(resolve));
      this.checkWritable();
    } finally {
      this.out.off('error', this.onError);
    }
  }

  async raw(text: string): Promise<void> {
    this.buffered += text;
    if (this.buffered.length >= CHUNK_CHARS) await this.flush();
  }

  async event(json: string): Promise<void> {
    this.events++;
    await this.raw(this.first ? json : `,\n${json}`);
    this.first = false;
  }

  async flush(): Promise<void> {
    this.checkWritable();
    if (this.buffered === '') return;
    const chunk = this.buffered;
    this.buffered = '';
    if (!this.out.write(chunk)) await this.drained();
    this.checkWritable();
  }

  /**
   * A stream that failed or was destroyed takes nothing more: say so, rather than write into it
   * (a write to a destroyed stream waits for a 'drain' that never comes) or report a trace written.
   */
  private checkWritable(): void {
    const out = this.out;
    if (this.emitted !== undefined) throw this.emitted;
    if (out.errored) throw out.errored;
    if (out.destroyed || out.writableEnded) throw new Error('exportTrace: the stream was closed or ended before the trace was written');
  }

  /** Back-pressure: resolves on 'drain', rejects on 'error' or 'close' (a stream closed early), leaving no listener behind. */
  private drained(): Promise<void> {
    const out = this.out;
    return new Promise((resolve, reject) => {
      const settle = (e?: Error): void => {
        out.off('drain', drained).off('close', closed).off('error', failed);
        if (e === undefined) resolve();
        else reject(e);
      };
      const drained = (): void => settle();
      const closed = (): void => settle(out.errored ?? new Error('exportTrace: the stream was closed before the trace was written'));
      const failed = (e: Error): void => settle(e);
      out.on('drain', drained).on('close', closed).on('error', failed);
    });
  }
}

/** One machine's rings: one process in the file. */
export interface TraceGroup {
  /** The process id of its events (a machine's threads are in this process; a bench run gives each machine its own). */
  pid: number;
  /** The process's name in the viewers. */
  name: string;
  threads: TraceThread[];
  /** Records per ring (the operator's own number; a ring's header is not trusted). */
  records: number;
  sample: number;
  /** Partition ids by index in the machine's options, for event args. */
  partitionIds: number[];
  /** Runs of restarted partitions whose rings were let go (the recorder keeps the last few of each). */
  runsDropped?: number;
}

/**
 * A trace file being written: begin(), add() each machine's rings, end(). Streams to `out`, which
 * it does not end (the caller owns it). Flow ids are unique across the file.
 */
export class TraceStream {
  private readonly json: ChunkedJson;
  private nextFlow = 1;
  private readonly totals: TraceSummary = { events: 0, messages: 0, received: 0, incomplete: 0, dropped: 0, malformed: 0 };
  private readonly processes: Record<string, unknown> = {};

  constructor(out: Writable) {
    this.json = new ChunkedJson(out);
  }

  begin(): Promise<void> {
    return this.json.raw('{"traceEvents":[\n');
  }

  /** Write the trailer, with what was dropped per thread in `otherData`; returns what the file holds. */
  async end(): Promise<TraceSummary> {
    const other = { generator: 'lparlink', clock: 'process.hrtime, microseconds', ...this.totals, events: undefined, processes: this.processes };
    await this.json.raw(`\n],"displayTimeUnit":"ns","otherData":${JSON.stringify(other)}}\n`);
    await this.json.finish();
    return { ...this.totals, events: this.json.events };
  }

  /** Copy one machine's rings and write their events, in time order. */
  async add(group: TraceGroup): Promise<void> {
    const { threads, pid } = group;
    const snapshots = threads.map((t) => new TraceSnapshot(t.ring, group.records, t.since));
    const flows = joinFlows(threads, snapshots, () => this.nextFlow++);
    const json = this.json;
    await json.event(JSON.stringify({ ph: 'M', name: 'process_name', pid, tid: 0, ts: 0, args: { name: group.name } }));
    for (const [i, t] of threads.entries()) {
      await json.event(JSON.stringify({ ph: 'M', name: 'thread_name', pid, tid: t.tid, ts: 0, args: { name: t.name } }));
      await json.event(JSON.stringify({ ph: 'M', name: 'thread_sort_index', pid, tid: t.tid, ts: 0, args: { sort_index: i } }));
    }
    const events = new GroupEvents(json, group, flows);
    // In time order across threads: the viewers read a flow's events in the order they meet them.
    for (const [i, r] of inTimeOrder(snapshots)) await events.record(threads[i], snapshots[i], r);

    const t = this.totals;
    t.messages += events.messages;
    t.received += events.received;
    t.incomplete += flows.incomplete;
    for (const s of snapshots) {
      t.dropped += s.dropped;
      t.malformed += s.malformed;
    }
    this.processes[`${group.name} (pid ${pid})`] = {
      sample: group.sample,
      messages: events.messages,
      incomplete: flows.incomplete,
      // By name; by name and thread id where a name repeats (a restarted partition's runs share it).
      threads: Object.fromEntries(
        threads.map((thread, i) => [
          threads.filter((t) => t.name === thread.name).length > 1 ? `${thread.name} (tid ${thread.tid})` : thread.name,
          { records: snapshots[i].length, dropped: snapshots[i].dropped },
        ]),
      ),
      ...(group.runsDropped ? { runsDropped: group.runsDropped } : {}),
    };
  }
}

/** The events of one machine's records: slices, their flow events, instants. */
class GroupEvents {
  /** Whole message flows written, and hand-over flows. */
  messages = 0;
  received = 0;
  private readonly pid: number;
  private readonly partitionIds: number[];

  constructor(
    private readonly json: ChunkedJson,
    group: TraceGroup,
    private readonly flows: Flows,
  ) {
    this.pid = group.pid;
    this.partitionIds = group.partitionIds;
  }

  private idOf(index: number): number | null {
    return index === NO_PARTITION ? null : (this.partitionIds[index] ?? null);
  }

  private slice(tid: number, name: string, from: number, to: number, args: string): Promise<void> {
    return this.json.event(`{"ph":"X","name":"${name}","cat":"${CAT}","pid":${this.pid},"tid":${tid},"ts":${us(from)},"dur":${dur(from, to)},"args":${args}}`);
  }

  private flow(tid: number, ph: 's' | 't' | 'f', name: string, at: number, id: number): Promise<void> {
    const bindToEnclosing = ph === 'f' ? ',"bp":"e"' : '';
    return this.json.event(`{"ph":"${ph}","name":"${name}","cat":"${CAT}","pid":${this.pid},"tid":${tid},"ts":${us(at)},"id":${id}${bindToEnclosing}}`);
  }

  private instant(tid: number, name: string, at: number, args: string): Promise<void> {
    return this.json.event(`{"ph":"i","s":"t","name":"${name}","cat":"${CAT}","pid":${this.pid},"tid":${tid},"ts":${us(at)},"args":${args}}`);
  }

  /** Record `r` of thread `t`; a kind the thread cannot write (a partition's "hardware" record) is left out. */
  async record(t: TraceThread, s: TraceSnapshot, r: number): Promise<void> {
    const tid = t.tid;
    const f1 = s.field(r, 1);
    const f2 = s.field(r, 2);
    const t0 = s.time(r, 0);
    switch (s.kind(r)) {
      case TraceKind.SEND:
      case TraceKind.RECEIVE: {
        if (t.partition === undefined) return;
        // A send starts its message's flow; a receive ends its hand-over flow.
        const sending = s.kind(r) === TraceKind.SEND;
        await this.slice(tid, sending ? 'send' : 'receive', t0, s.time(r, 1), `{"channel":${f1},"message":${f2}}`);
        const id = (sending ? this.flows.message : this.flows.receive).get(messageKey(t.partition, f1, f2));
        if (id !== undefined) await this.flow(tid, sending ? 's' : 'f', sending ? 'message' : 'receive', t0, id);
        return;
      }
      case TraceKind.HARDWARE_MESSAGE:
      case TraceKind.HARDWARE_REFUSED:
        if (t.partition === undefined) await this.stages(tid, s, r);
        return;
      case TraceKind.LINK_SEND:
      case TraceKind.LINK_DELIVER:
        if (t.partition === undefined) await this.linkStage(tid, s, r);
        return;
      case TraceKind.SLEEP:
      case TraceKind.WOKE:
        // Only the hardware sleeps on the doorbells: a partition's record of it named another
        // partition as the one whose doorbell woke it (case 89).
        if (f1 === TraceWait.DOORBELLS && t.partition !== undefined) return;
        if (s.kind(r) === TraceKind.SLEEP) return this.instant(tid, 'sleep', t0, waitArgs(f1, f2, null));
        return this.instant(tid, 'woke', t0, waitArgs(f1, f2, this.idOf(f2)));
      case TraceKind.RANG:
        return this.instant(tid, 'rang doorbell', t0, `{"queuePair":${f1}}`);
      case TraceKind.VIOLATION:
        if (t.partition !== undefined) return;
        return this.instant(tid, 'violation', t0, `{"partition":${this.idOf(f1)},"kind":${JSON.stringify(VIOLATION_KINDS[f2] ?? 'unknown')}}`);
    }
  }

  /**
   * This node's hardware stage of a message to another node (`link send`, or `held for window`
   * when it was kept for its window), ending the flow from its send; or of one from another node
   * (`link deliver`), starting the flow to its receive.
   */
  private async linkStage(tid: number, s: TraceSnapshot, r: number): Promise<void> {
    const n = s.field(r, 5);
    const [began, ended] = [s.time(r, 0), s.time(r, 1)];
    if (s.kind(r) === TraceKind.LINK_SEND) {
      const [from, handle, node, held] = [s.field(r, 1), s.field(r, 2), s.field(r, 3), s.field(r, 4)];
      await this.slice(tid, held === 1 ? 'held for window' : 'link send', began, ended, `{"from":${this.idOf(from)},"channel":${handle},"toNode":${node},"message":${n}}`);
      const id = this.flows.message.get(messageKey(from, handle, n));
      if (id === undefined) return;
      this.messages++;
      await this.flow(tid, 'f', 'message', began, id);
      return;
    }
    const [node, to, deliveryHandle] = [s.field(r, 1), s.field(r, 2), s.field(r, 3)];
    await this.slice(tid, 'link deliver', began, ended, `{"fromNode":${node},"to":${this.idOf(to)},"channel":${deliveryHandle},"message":${n}}`);
    const handover = this.flows.receive.get(messageKey(to, deliveryHandle, n));
    if (handover === undefined) return;
    this.received++;
    await this.flow(tid, 's', 'receive', began, handover);
  }

  /** The hardware's stamp, verify and deliver of one message, with the flow events they carry. */
  private async stages(tid: number, s: TraceSnapshot, r: number): Promise<void> {
    const [from, handle, to, deliveryHandle, n] = [s.field(r, 1), s.field(r, 2), s.field(r, 3), s.field(r, 4), s.field(r, 5)];
    const [stamped, verifying, delivering] = [s.time(r, 0), s.time(r, 1), s.time(r, 2)];
    const args = `{"from":${this.idOf(from)},"channel":${handle},"to":${this.idOf(to)},"message":${n}}`;
    await this.slice(tid, 'stamp', stamped, verifying, args);
    if (s.kind(r) === TraceKind.HARDWARE_REFUSED) {
      // Field 4 says at which stage and why (TraceRefusal); the slice of that stage says so, and no arrow is drawn.
      const why = s.field(r, 4);
      const reason = JSON.stringify(TRACE_REFUSALS[why] ?? 'unknown');
      if (why !== TraceRefusal.RECEIVER_FAULTED) {
        await this.slice(tid, 'verify', verifying, delivering, `{"from":${this.idOf(from)},"channel":${handle},"message":${n},"refused":${reason}}`);
        return;
      }
      await this.slice(tid, 'verify', verifying, delivering, args);
      await this.slice(tid, 'deliver', delivering, s.time(r, 3), `${args.slice(0, -1)},"refused":${reason}}`);
      return;
    }
    await this.slice(tid, 'verify', verifying, delivering, args);
    const id = this.flows.message.get(messageKey(from, handle, n));
    if (id !== undefined) await this.flow(tid, 't', 'message', verifying, id);
    await this.slice(tid, 'deliver', delivering, s.time(r, 3), args);
    if (id === undefined) return;
    this.messages++;
    await this.flow(tid, 'f', 'message', delivering, id);
    const handover = this.flows.receive.get(messageKey(to, deliveryHandle, n));
    if (handover === undefined) return;
    this.received++;
    await this.flow(tid, 's', 'receive', delivering, handover);
  }
}

/**
 * Every kept record of every snapshot as [snapshot, record], by first timestamp. Each ring is
 * nearly in order already (a record is written when its last stage ends), so each is sorted on
 * its own and the rings are merged.
 */
function* inTimeOrder(snapshots: TraceSnapshot[]): Generator<[number, number]> {
  const sorted = snapshots.map((s) => {
    const records = Array.from({ length: s.length }, (_, j) => s.at(j));
    return records.sort((a, b) => s.time(a, 0) - s.time(b, 0));
  });
  const next = sorted.map(() => 0);
  for (;;) {
    let best = -1;
    let bestTime = Infinity;
    for (let i = 0; i < sorted.length; i++) {
      if (next[i] === sorted[i].length) continue;
      const time = snapshots[i].time(sorted[i][next[i]], 0);
      if (best < 0 || time < bestTime) {
        best = i;
        bestTime = time;
      }
    }
    if (best < 0) return;
    yield [best, sorted[best][next[best]++]];
  }
}

/** What a thread slept on; `wokenBy`: the partition whose doorbell woke the hardware (its WOKE records). */
function waitArgs(on: number, queuePair: number, wokenBy: number | null): string {
  switch (on) {
    case TraceWait.DOORBELLS:
      return `{"on":"doorbells","wokenBy":${wokenBy}}`;
    case TraceWait.RECEIVE_RING:
      return `{"on":"receive ring","queuePair":${queuePair}}`;
    case TraceWait.SEND_SPACE:
      return `{"on":"send ring space","queuePair":${queuePair}}`;
    default:
      return '{}';
  }
}

/** Write the trace to a new file at `path` (replaced if it exists); resolves once it is on disk. */
export async function writeTraceFile(path: string, write: (out: Writable) => Promise<TraceSummary>): Promise<TraceSummary> {
  const out = createWriteStream(path);
  try {
    await once(out, 'open');
  } catch (e) {
    throw new MachineError('EINVAL', `exportTrace: cannot create ${path} (${(e as Error).message}); give a file path in a folder that exists and is writable`, {
      cause: e,
    });
  }
  const failed = once(out, 'error').then(([e]) => Promise.reject(e as Error));
  failed.catch(() => {});
  const summary = await Promise.race([write(out), failed]);
  out.end();
  await Promise.race([once(out, 'finish'), failed]);
  return summary;
}
