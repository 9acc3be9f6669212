/**
 * A queue pair's receive side: the one reader of its receive ring.
 *
 * A channel that reads takes its own messages straight from the ring when
 * they are next (`peekFor` + `take…`, `visitFor`): nothing is queued or
 * allocated on the way. Records for other channels met on the way are copied
 * into those channels' queues, up to a bound per channel and one per process
 * (channel-registry.ts): a channel at its bound holds the ring at its next
 * message until it is read, or ends with ENOBUFS if nothing reads it for
 * UNREAD_HOLD_MS (THREATS case 44); at the process's bound, any channel's read
 * moves the ring again, and the one that keeps the most ends (case 135). While
 * anyone awaits (a `recv()`, a `readable()`), the pump runs: it moves every
 * record to its channel and sleeps when the ring is empty. Nobody awaiting means
 * nothing is read, so a slow reader back-pressures its senders through the
 * hardware instead of buffering without bound.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { ChannelError } from '../shared/errors.js';
import { DeliverBody, RecordType } from '../shared/layout.js';
import { deliveryChannel, deliveryPayload, deliveryPayloadBytes, deliveryStatus } from '../shared/records.js';
import { hardwareGone } from '../shared/port.js';
import { EMPTY, FAULT, type RingConsumer } from '../shared/ring.js';
import { sleepAsync, sleepSync, type WaitPolicy } from '../shared/wait.js';
import { keptCharge, UNREAD_HOLD_MS, type ChannelRegistry } from './channel-registry.js';
import { type BufferCopier, MessageSlab } from './message-slab.js';
import { ReceiveRelease } from './receive-release.js';
import { spaceWaitInThread, type SendQueue } from './send-queue.js';
import type { PartitionTrace } from './trace.js';
import { TraceWait } from '../shared/trace-layout.js';
import { deadlineAfter, now, timeLeft } from '../shared/clock.js';

/** walk()'s answers and targets besides a length and a handle (a const enum: tsc writes the numbers in, see RecordLayout in layout.ts). */
export const enum Walk {
  /** peekFor(): no message for that channel is next in the ring. */
  NO_MESSAGE = -1,
  /** A channel handle is a u32: this target matches no record. */
  NO_CHANNEL = -1,
}

/** What the receive side needs to know of the queue pair it belongs to. */
export interface ReceivePumpOwner {
  readonly index: number;
  readonly failure: ChannelError | undefined;
  fail(error: ChannelError): void;
}

/** Called with a message in place: `bytes[offset, offset + length)`, valid only during the call. */
export type MessageVisitor = (bytes: Uint8Array, offset: number, length: number) => void;

/**
 * Receive pumps running in this thread (module state: one per worker isolate). A pump blocks the
 * thread only when it is the one running, so no other process's wake-up waits behind its block.
 */
let pumpsRunning = 0;
/**
 * When this thread's event loop last turned as far as the pumps know (a pump's yield to it ended;
 * an async sleep may have returned without one). Module state, not a pump's: a round trip's pump
 * stops and starts again at every message, and the blocking waits of all of them together must
 * not keep the loop from turning.
 */
let loopTurnedAt = 0;
/**
 * What the time between two meetings with a held message counts for, at most: meetings close
 * together are one stretch of reading past it (a poll loop, the pump's steps), while a long gap
 * is mostly time nobody read (the process computed, or waited on timers), which the hold should
 * not count; capped rather than ignored, so that a process polling slowly still gets past it.
 */
const HOLD_SEEN_GAP_MS = 100;

export class ReceivePump {
  private readonly release: ReceiveRelease;
  private readonly slab = new MessageSlab();
  /** The memory under the ring's byte view (which starts at its offset 0), for views of messages in place. */
  private readonly ringMemory: ArrayBufferLike;
  private interest = 0;
  private pumping = false;
  /** The pump's run() is in its sleepAsync (on the event loop), not blocked or busy. */
  private sleepingAsync = false;
  /** A visitor runs (inside visitFor): the ring's head is in use, nested reads find nothing in the ring (what walks already queued for other channels they still find). */
  private visiting = false;
  /** The channel whose messages visitFor() hands out, and how many it hands out at most in all (0 once the channel closed or the queue pair failed meanwhile). */
  private visited: number = Walk.NO_CHANNEL;
  private visitsLeft = 0;
  /** Records moved to channels (or their readers notified) by walks; the pump's measure of progress. */
  private moved = 0;
  /**
   * What ends a blocking wait for data, made once rather than per wait (a blocking receive waits
   * once a message). waitSync's also ends on the operator's mark that the hardware is gone, which
   * a blocked thread cannot hear otherwise; blockForData's learns that from the event loop, after
   * it returns.
   */
  private readonly dataOrNews = (): boolean => this.ring.hasData() || this.sendQueue.completions.hasData() || this.owner.failure !== undefined;
  private readonly dataOrNewsOrGone = (): boolean => this.dataOrNews() || hardwareGone(this.ring.i32);

  constructor(
    readonly ring: RingConsumer,
    private readonly dataWaiting: number,
    private readonly dataBell: number,
    private readonly channels: ChannelRegistry,
    private readonly sendQueue: SendQueue,
    private readonly owner: ReceivePumpOwner,
    private readonly wait: WaitPolicy,
    /** This partition's trace, when the machine traces. */
    private readonly tracer: PartitionTrace | undefined = undefined,
  ) {
    this.release = new ReceiveRelease(ring);
    this.ringMemory = ring.u8.buffer;
  }

  /**
   * This turn of the event loop read from this ring for its slice (ReceiveRelease.spent): receives
   * that await take nothing more from it until the next turn (THREATS case 61).
   */
  get turnSpent(): boolean {
    return this.release.spent;
  }

  /**
   * Length of the next message for `handle` if it is at the head of the ring
   * once the records before it went to their channels; otherwise Walk.NO_MESSAGE.
   * A message found stays in the ring until takeInto()/takeCopy().
   */
  peekFor(handle: number): number {
    if (this.visiting || this.owner.failure !== undefined) return Walk.NO_MESSAGE;
    return this.walk(handle);
  }

  /** Copy the message peekFor() found into `buffer` (the caller checked it fits) with its channel's copier, and consume it. */
  takeInto(buffer: Uint8Array, copier: BufferCopier): void {
    const rx = this.ring;
    const traced = this.receiving();
    copier.copy(rx.u8, rx.u32, deliveryPayload(rx.bodyOffset), deliveryPayloadBytes(rx.bodyBytes), buffer);
    rx.consume();
    this.release.consumed();
    if (traced !== 0) this.tracer!.received(traced);
  }

  /** The message peekFor() found, copied into a slab view the caller keeps; consumes it. */
  takeCopy(): Uint8Array {
    const rx = this.ring;
    const traced = this.receiving();
    const m = this.slab.copy(rx.u8, rx.u32, deliveryPayload(rx.bodyOffset), deliveryPayloadBytes(rx.bodyBytes));
    rx.consume();
    this.release.consumed();
    if (traced !== 0) this.tracer!.received(traced);
    return m;
  }

  /**
   * Tracing: number the DATA record at the head for its channel. Its number when sampled (then
   * received() records it once handed over), else 0; with tracing off, only the one test.
   */
  private receiving(): number {
    const tracer = this.tracer;
    return tracer === undefined ? 0 : tracer.receiving(deliveryChannel(this.ring.u32, this.ring.bodyOffset));
  }

  /**
   * Hand `handle`'s messages at the head of the ring to `visit` in place, up
   * to `max`, as (bytes, offset, length), or as a view of the ring each with
   * `asViews`; returns how many. Each message's ring space is handed back
   * only after `visit` returns; reads from inside `visit` find nothing in the
   * ring, and a blocking one is refused (it could only wait for ever).
   */
  visitFor(handle: number, visit: MessageVisitor | ((message: Uint8Array) => void), max: number, asViews: boolean): number {
    if (this.visiting || this.owner.failure !== undefined) return 0;
    this.visiting = true;
    this.visited = handle;
    this.visitsLeft = max;
    let given = 0;
    const rx = this.ring;
    const release = this.release;
    // Where the next step of space goes back (ReceiveRelease.consumed()): a compare per message
    // rather than a call, which cost a tenth of the receiver's time per 64 B message.
    let due = release.dueAt;
    // The record handed to `visit` is consumed only once the visit returned (or threw): until then
    // the ring's position stays before it, so nothing the visitor calls that hands space back (a
    // blocking wait, a receive that starts the pump, both of which flush) can hand back the bytes
    // it is reading, for the hardware to write the next message over.
    let inVisit = false;
    // At most a ring's worth a call: "ready now" is what one ring holds, and a peer that refills the
    // ring as fast as the visitor reads would otherwise keep one call going for as long as it sends
    // (THREATS case 61). Bytes, not the turn's slice: a program that polls drain() in a loop of its
    // own chose its loop, and gets a ring's worth each call. Looked at where space goes back.
    const start = rx.consumedPosition;
    try {
      // Until `max`, the ring's end, or the channel closing (a visitor may close it: stopVisits()).
      while (given < this.visitsLeft) {
        // The walk's answer is the message's length: read from the record once.
        const length = this.walk(handle);
        if (length === Walk.NO_MESSAGE) break;
        const offset = rx.bodyOffset + DeliverBody.BYTES;
        const traced = this.receiving();
        given++;
        inVisit = true;
        if (asViews) (visit as (message: Uint8Array) => void)(new Uint8Array(this.ringMemory, offset, length));
        else (visit as MessageVisitor)(rx.u8, offset, length);
        inVisit = false;
        rx.consume();
        let full = false;
        if (((rx.consumedPosition - due) | 0) >= 0) {
          release.consumed();
          due = release.dueAt;
          full = ((rx.consumedPosition - start) >>> 0) >= rx.capacity;
        }
        if (traced !== 0) this.tracer!.received(traced);
        if (full) break;
      }
    } finally {
      // A visitor that threw: its message is not handed out again.
      if (inVisit) rx.consume();
      this.visiting = false;
      this.visited = Walk.NO_CHANNEL;
      // What the loop consumed is handed back in steps, the rest on the next turn (a visitor that threw too).
      if (given > 0) release.consumed();
    }
    return given;
  }

  /**
   * The channel whose message at the ring's head the pump leaves there, at its unread bound
   * (-1: none). Its reader taking a message, its close or its accept ends the hold.
   */
  heldHandle = -1;
  /**
   * How long the hold has lasted while something tried to read past it: the pump waiting, a
   * blocking receive, polls (HOLD_SEEN_GAP_MS at most per gap between them). Time when nothing of
   * the process read (it computed, or waited on timers) barely counts: the bound is on a channel
   * left unread while others are read.
   */
  private heldFor = 0;
  /** When the hold was last met or waited on. */
  private heldSeenAt = 0;
  /** The ring position of the held message: once the ring moved past it (its own reader took it from the ring), the hold is over. */
  private heldPosition = 0;
  /**
   * The hold is at the process's bound on what its channels keep together, not at the held
   * channel's own (THREATS case 135): any channel's take ends it, and when it runs out the channel
   * that keeps the most ends.
   */
  private heldByProcess = false;

  /** The walk met `handle`'s message at a bound (`byProcess`: the process's): hold the ring there, or count the hold on. */
  private hold(handle: number, byProcess: boolean): void {
    const at = now();
    const position = this.ring.consumedPosition;
    if (this.heldHandle !== handle || this.heldPosition !== position) {
      this.heldHandle = handle;
      this.heldPosition = position;
      this.heldFor = 0;
    } else this.heldFor += Math.min(at - this.heldSeenAt, HOLD_SEEN_GAP_MS);
    this.heldByProcess = byProcess;
    this.heldSeenAt = at;
  }

  /**
   * Whether the pump still holds the ring: a hold whose message was read meanwhile (a channel held
   * at the process's bound takes its own message from the ring, queue empty) is over, and nothing
   * is ended for it.
   */
  private holdStands(): boolean {
    if (this.heldHandle !== -1 && this.ring.consumedPosition !== this.heldPosition) this.heldHandle = -1;
    return this.heldHandle !== -1;
  }

  /** A wait on the held ring that began at `since` ended: it counts in full. */
  private heldWaitEnded(since: number): void {
    const at = now();
    this.heldFor += at - since;
    this.heldSeenAt = at;
  }

  /**
   * `handle` closed here (or, with no handle, the queue pair failed): a visitFor() handing out its
   * messages hands out no more (what is left of them is dropped, as for any closed channel).
   */
  stopVisits(handle: number = this.visited): void {
    if (this.visited === handle) this.visitsLeft = 0;
  }

  /**
   * `handle`'s reader took a kept message or let go of what it kept: a hold for that channel, or at
   * the process's bound (now with room), ends. Called only while a hold is on.
   */
  freed(handle: number): void {
    if (this.heldHandle === handle || this.heldByProcess) this.unhold(this.heldHandle);
  }

  /** `handle` was read, closed or accepted: if the pump holds the ring for it, the ring moves again. */
  unhold(handle: number): void {
    if (this.heldHandle !== handle) return;
    this.heldHandle = -1;
    this.nudge();
  }

  /** Whatever the pump holds the ring for, it holds no more (the process is ending). */
  dropHold(): void {
    if (this.heldHandle !== -1) this.unhold(this.heldHandle);
  }

  /** Milliseconds the current hold may still last. */
  private holdLeft(): number {
    return UNREAD_HOLD_MS - this.heldFor;
  }

  /** The hold lasted UNREAD_HOLD_MS and nothing read its channel: it ends (ENOBUFS), and its messages are dropped from now on. */
  private endHold(): void {
    if (!this.holdStands()) return;
    const handle = this.heldHandle;
    this.heldHandle = -1;
    if (this.heldByProcess) {
      // At the process's bound: the channel that keeps the most ends, not the one whose message is next.
      this.channels.largestKept()?.overflowed(this.channels.keptLimit, true);
      return;
    }
    const sink = this.channels.sink(handle);
    if (sink !== undefined) sink.overflowed(this.channels.unreadLimit);
    else this.channels.endEarlyHold(handle);
  }

  /** True when the ring's next record (DATA or END) is for `handle`; reads nothing past it. */
  nextIsFor(handle: number): boolean {
    if (this.visiting || this.owner.failure !== undefined) return false;
    const rx = this.ring;
    const type = rx.poll();
    return (type === RecordType.DATA || type === RecordType.END) && deliveryChannel(rx.u32, rx.bodyOffset) === handle;
  }

  /** Move every ready completion and delivery to its channel. Returns how many records moved. */
  step(): number {
    if (this.visiting) return 0;
    const before = this.moved;
    const completions = this.sendQueue.drainCompletions();
    if (this.owner.failure === undefined) this.walk(Walk.NO_CHANNEL);
    return completions + this.moved - before;
  }

  /**
   * Walk from the head of the ring, handing each record to its channel,
   * until `target`'s next message is at the head (its length is returned,
   * the record left in place) or the ring is empty. Walking for no channel,
   * the walk also stops at a record for a channel whose reader waits to
   * drain it in place (its readers are woken instead).
   */
  private walk(target: number): number {
    // The common case first, in a function small enough for V8 to inline into the receive calls:
    // the next record is a message for `target`. Everything else is walkOn(). Its fields are read
    // from layout.ts's offsets here, not through records.ts: an imported function costs a load and
    // a check of its module cell at every call, once per message received.
    const rx = this.ring;
    const type = rx.poll();
    if (type === RecordType.DATA) {
      const bytes = rx.bodyBytes - DeliverBody.BYTES;
      if (bytes >= 0 && rx.u32[(rx.bodyOffset + DeliverBody.CHANNEL_OFFSET) >> 2] === target) return bytes;
    }
    return this.walkOn(target, type);
  }

  /** walk() from a record poll() found (`type`) on. */
  private walkOn(target: number, first: number): number {
    const rx = this.ring;
    const u32 = rx.u32;
    for (let type = first; ; type = rx.poll()) {
      if (type === EMPTY) {
        // The consumer caught up: everything goes back, and a stop is a good moment to hear from the hardware.
        this.release.flush();
        this.sendQueue.checkCompletions();
        return Walk.NO_MESSAGE;
      }
      if (type === FAULT) {
        this.owner.fail(new ChannelError('EFAULT', `receive ring: ${rx.faultReason}`));
        return Walk.NO_MESSAGE;
      }
      if (deliveryPayloadBytes(rx.bodyBytes) < 0) {
        // Only this partition's own code can write such a record (the ring is its memory): stop, as for any fault.
        this.owner.fail(new ChannelError('EFAULT', `receive ring: a delivery of ${rx.bodyBytes} bytes is shorter than its header`));
        return Walk.NO_MESSAGE;
      }
      const at = rx.bodyOffset;
      const handle = deliveryChannel(u32, at);
      if (type === RecordType.DATA) {
        const bytes = deliveryPayloadBytes(rx.bodyBytes);
        if (handle === target) return bytes;
        const sink = this.channels.sink(handle);
        if (target === Walk.NO_CHANNEL && sink !== undefined && sink.wantsReadable()) {
          sink.notifyReadable();
          this.moved++;
          return Walk.NO_MESSAGE;
        }
        const takes = sink !== undefined && sink.takesNow();
        if (!takes && !(sink !== undefined ? sink.canKeep(bytes) : this.channels.canKeepEarly(handle, bytes))) {
          // At its unread bound, or the process's (its channels' queues together, THREATS case 135):
          // the message stays in the ring (its sender is held back) until the channel (for the
          // process's bound, any channel) is read, or UNREAD_HOLD_MS pass (THREATS case 44). Checked
          // here too, not only where the pump waits: a process that only polls (tryRecv) never waits.
          this.hold(handle, sink !== undefined && sink.keptCharges() + keptCharge(bytes) <= this.channels.unreadLimit);
          if (this.holdLeft() > 0) return Walk.NO_MESSAGE;
          this.endHold(); // from now on its messages are dropped: read this one again
          continue;
        }
        const traced = this.receiving();
        const from = deliveryPayload(at);
        if (takes) sink.deliver(this.slab.copy(rx.u8, u32, from, bytes));
        else if (sink !== undefined) sink.keep(rx.u8, u32, from, bytes);
        else this.channels.keepEarly(handle, rx.u8, from, bytes);
        rx.consume();
        this.release.consumed();
        this.moved++;
        if (traced !== 0) this.tracer!.received(traced);
      } else {
        const status = deliveryStatus(u32, at);
        rx.consume();
        this.release.consumed();
        this.moved++;
        // The sends this end failed are completed in the same hardware round, published before it
        // (partition-port.ts): counted now, so a reader that stops at the end finds failedSends whole.
        this.sendQueue.drainCompletions();
        const sink = this.channels.sink(handle);
        if (sink === undefined) this.channels.keepEarlyEnd(handle, status);
        else sink.end(status);
        if (handle === target) return Walk.NO_MESSAGE;
      }
    }
  }

  /**
   * Block this thread in Atomics.wait until `ready()` (which reads the ring, moving other channels'
   * records to their queues on the way) or `timeoutMs` passes; false on timeout. The wait is the
   * same flag-and-bell protocol the async pump uses, so the hardware rings only a sleeper. While
   * it blocks, this partition's event loop stands still (its other processes, timers, control
   * calls): the inspector still answers (V8 interrupts the wait).
   */
  waitSync(ready: () => boolean, timeoutMs: number): boolean {
    // The clock is read only once a wait is needed, and the first wait starts from the whole timeout.
    let deadline: number | undefined;
    const rx = this.ring;
    const completions = this.sendQueue.completions;
    for (;;) {
      if (ready()) return true;
      if (this.owner.failure !== undefined) throw this.owner.failure;
      if (hardwareGone(rx.i32)) throw new ChannelError('EHWRESET', 'the hardware worker stopped while this thread waited for a message');
      const left = deadline === undefined ? timeoutMs : timeLeft(deadline);
      deadline ??= deadlineAfter(timeoutMs);
      if (!(left > 0)) return false;
      // Inside a drain's callback the ring stands still until the callback returns: a wait could
      // only time out (or, without a timeout, never end), spinning on the record in use.
      if (this.visiting) {
        throw new ChannelError(
          'EINVAL',
          'a blocking receive (waitReadableSync, recvIntoSync) inside a drain() or drainBytes() callback would wait in vain: nothing more is read from the ring until the callback returns',
          'return from the callback first, or poll with tryRecv()/tryRecvInto() or a timeout of 0',
        );
      }
      if (this.holdStands()) {
        // Held for a channel at its bound, which nothing can read while this thread blocks: wait
        // out the hold (a completion or a failure still ends the wait), then end that channel.
        const holdLeft = this.holdLeft();
        if (!(holdLeft > 0)) this.endHold();
        else {
          const since = now();
          sleepSync(rx.i32, this.dataWaiting, this.dataBell, () => completions.hasData() || this.owner.failure !== undefined || hardwareGone(rx.i32), 0, Math.min(left, holdLeft));
          this.heldWaitEnded(since);
        }
        this.sendQueue.drainCompletions();
        continue;
      }
      this.release.flush(); // never sleep on space the hardware may be waiting for
      const recorded = this.tracer?.sleeping(TraceWait.RECEIVE_RING, this.owner.index) ?? false;
      // The hardware-gone word is read after the bell (inside sleepSync), so a mark made before the operator rang is seen.
      sleepSync(rx.i32, this.dataWaiting, this.dataBell, this.dataOrNewsOrGone, this.wait.spins, left);
      this.tracer?.woke(recorded, TraceWait.RECEIVE_RING, this.owner.index);
      this.sendQueue.drainCompletions();
    }
  }

  /** Someone awaits a delivery or completion: make sure the pump runs. Returns a release function. */
  want(): () => void {
    this.interest++;
    if (!this.pumping) void this.run();
    let released = false;
    return () => {
      if (!released) {
        released = true;
        // The last one gone while the pump sleeps on the event loop: wake it to stop, or it would
        // stay counted as running and keep the thread's other pumps from blocking.
        if (--this.interest === 0 && this.sleepingAsync) this.nudge();
      }
    };
  }

  private async run(): Promise<void> {
    this.pumping = true;
    pumpsRunning++;
    let idleSince = 0;
    // What this thread queued before the pump started, or while it handed out messages, may be the
    // very send that the awaited answer depends on: a comlink call over a channel (its request or
    // answer goes out a few promise hops later), a stream's write. Blocking first held it back for
    // the whole block (1 ms per call). So the pump blocks only once the microtasks queued by then
    // have run: after a turn of the event loop since it started or last handed out a message.
    let sendsMayWait = true;
    try {
      while (this.interest > 0 && this.owner.failure === undefined) {
        if (this.release.spent) {
          // This turn read for its slice: the event loop turns before more is read (THREATS case 61).
          await yieldToEventLoop();
          loopTurnedAt = now();
          sendsMayWait = false;
          continue;
        }
        if (this.step() > 0) {
          idleSince = 0;
          sendsMayWait = true;
          await Promise.resolve(); // let the resolved receivers run before the next step
          continue;
        }
        if (this.holdStands()) {
          await this.waitWhileHeld();
          continue;
        }
        if (this.mayBlock()) {
          if (sendsMayWait || now() - loopTurnedAt >= this.wait.eventLoopBlockMs) {
            // Also when messages kept waking this thread from blocking waits: its timers, I/O and control calls get in first.
            await yieldToEventLoop();
            loopTurnedAt = now();
            sendsMayWait = false;
            continue;
          }
          if (this.blockForData()) continue;
        }
        if (this.wait.eventLoopPollMs > 0) {
          // Spin mode: poll between event-loop turns; on a machine with few cores, only for a moment.
          const at = now();
          if (idleSince === 0) idleSince = at;
          if (at - idleSince < this.wait.eventLoopPollMs) {
            await yieldToEventLoop();
            continue;
          }
        }
        idleSince = 0;
        this.release.flush(); // never sleep on space the hardware may be waiting for
        const recorded = this.tracer?.sleeping(TraceWait.RECEIVE_RING, this.owner.index) ?? false;
        this.sleepingAsync = true;
        await sleepAsync(
          this.ring.i32,
          this.dataWaiting,
          this.dataBell,
          () => this.ring.hasData() || this.sendQueue.completions.hasData() || this.interest === 0 || this.owner.failure !== undefined,
          this.wait.eventLoopSpins,
          Infinity,
        );
        this.sleepingAsync = false;
        this.tracer?.woke(recorded, TraceWait.RECEIVE_RING, this.owner.index);
      }
    } finally {
      this.pumping = false;
      this.sleepingAsync = false;
      pumpsRunning--;
    }
  }

  /**
   * The ring's head is a message of a channel at its unread bound: more of the ring cannot be read
   * until that channel is (its reader's take rings the bell) or the hold runs out. Sleep on the
   * event loop meanwhile (the channel's reader runs there), not on new data, which cannot be reached.
   */
  private async waitWhileHeld(): Promise<void> {
    const left = this.holdLeft();
    if (!(left > 0)) return this.endHold();
    this.release.flush();
    this.sleepingAsync = true;
    const since = now();
    try {
      await sleepAsync(
        this.ring.i32,
        this.dataWaiting,
        this.dataBell,
        () =>
          this.heldHandle === -1 ||
          this.ring.consumedPosition !== this.heldPosition ||
          this.sendQueue.completions.hasData() ||
          this.interest === 0 ||
          this.owner.failure !== undefined,
        0,
        left,
      );
    } finally {
      this.sleepingAsync = false;
      if (this.heldHandle !== -1) this.heldWaitEnded(since);
    }
  }

  /**
   * Whether the pump may wait blocking the thread (adaptive mode): only while no other process of
   * this partition is waiting to receive and no process of it waits for send-ring space, since
   * their wake-ups ring other bells, which reach this thread only through its event loop.
   */
  private mayBlock(): boolean {
    return this.wait.eventLoopBlockMs > 0 && pumpsRunning === 1 && !spaceWaitInThread();
  }

  /**
   * Block in Atomics.wait for up to eventLoopBlockMs, on the bell the async sleep waits on: a
   * wake-up from the futex, not through a task and a turn of the event loop. True when there is
   * something to read (or a failure to report); false when the time ran out and the pump should
   * sleep on the event loop instead.
   */
  private blockForData(): boolean {
    this.release.flush(); // never sleep on space the hardware may be waiting for
    const recorded = this.tracer?.sleeping(TraceWait.RECEIVE_RING, this.owner.index) ?? false;
    // A hardware that stopped is learnt as the async sleep learns it: from the event loop, after this returns false.
    const ready = sleepSync(this.ring.i32, this.dataWaiting, this.dataBell, this.dataOrNews, this.wait.eventLoopSpins, this.wait.eventLoopBlockMs);
    this.tracer?.woke(recorded, TraceWait.RECEIVE_RING, this.owner.index);
    return ready;
  }

  /** Wake the pump if it sleeps (after a failure set from outside the rings). */
  nudge(): void {
    Atomics.add(this.ring.i32, this.dataBell, 1);
    Atomics.notify(this.ring.i32, this.dataBell);
  }
}
