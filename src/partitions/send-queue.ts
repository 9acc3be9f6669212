/**
 * A queue pair's send side: work requests go out on the send ring (claimed,
 * corked into batches, published), and their answers come back on the
 * completion ring, which this side reads: errors reach the channel that
 * sent, acknowledgements settle closes and the detach.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { ChannelError, Status } from '../shared/errors.js';
import { RecordType, SendBody } from '../shared/layout.js';
import {
  completionChannel,
  completionCount,
  completionOpcode,
  completionStatus,
  QUEUE_PAIR_FAULT,
  workRequestBodyBytes,
} from '../shared/records.js';
import { EMPTY, FAULT, type RingConsumer, type RingProducer } from '../shared/ring.js';
import { sleepAsync, sleepSync, type WaitPolicy } from '../shared/wait.js';
import { hardwareGone } from '../shared/port.js';
import type { ChannelRegistry } from './channel-registry.js';
import type { PartitionTrace } from './trace.js';
import { TraceWait } from '../shared/trace-layout.js';
import { now } from '../shared/clock.js';

/** What the send side reports to the queue pair it belongs to. */
export interface SendQueueOwner {
  readonly index: number;
  readonly failure: ChannelError | undefined;
  fail(error: ChannelError): void;
  detachAcknowledged(): void;
}

/**
 * Space sleepers of this thread's queue pairs (module state: one per worker isolate): their
 * wake-ups come through the event loop, so no receive pump of the thread blocks it while one waits.
 */
let spaceSleepersInThread = 0;

/** Whether a write() of any process of this thread waits for send-ring space. */
export function spaceWaitInThread(): boolean {
  return spaceSleepersInThread > 0;
}

/** waitForSpace()'s `handle` for a CLOSE or DETACH (post()): not a channel's SEND (controlFoundNoRoom). */
const CONTROL_WORK_REQUEST = -1;

export class SendQueue {
  private corked = 0;
  /** What each waitForSpace() now waiting needs to be done; the one sleeper (sleepForSpace) wakes when one is. */
  private readonly spaceWaiters = new Set<() => boolean>();
  private spaceSleeper: Promise<void> | undefined;
  /** Work requests claimed so far (modulo 2^32): sendBatch tells its own claims from others made while it ran. */
  claims = 0;
  /** post() calls waiting for ring space, and the promise the last of them settles when it is done. */
  private postsWaiting = 0;
  private postsDone: Promise<void> = Promise.resolve();

  constructor(
    readonly ring: RingProducer,
    readonly completions: RingConsumer,
    private readonly channels: ChannelRegistry,
    private readonly owner: SendQueueOwner,
    private readonly wait: WaitPolicy,
    /** This partition's trace, when the machine traces. */
    readonly tracer: PartitionTrace | undefined = undefined,
  ) {}

  /** Claim a work request; returns the payload offset, FULL, or FAULT. */
  claim(type: number, handle: number, payloadBytes: number): number {
    const ring = this.ring;
    const at = ring.tryClaim(type, SendBody.BYTES + payloadBytes);
    if (at < 0) return at;
    this.claims = (this.claims + 1) | 0; // an int32 that wraps: past 2^30 a plain count would turn the field into a boxed double
    // records.ts' writeWorkRequest(), written out from layout.ts's offsets: an imported function
    // costs a load and a check of its module cell at every call, once per message sent.
    const u32 = ring.u32;
    u32[(at + SendBody.CHANNEL_OFFSET) >> 2] = handle;
    u32[(at + SendBody.FLAGS_OFFSET) >> 2] = 0;
    return at + SendBody.BYTES;
  }

  /** Publish now, unless a batch is open. */
  publish(): void {
    if (this.corked === 0) this.publishRing();
  }

  private publishRing(): void {
    // A ring is rare (the hardware had gone to sleep), so the tracer is looked at only then.
    if (this.ring.publish() && this.tracer !== undefined) this.tracer.rang(this.owner.index);
  }

  /** Hold publishing back until the matching uncork() (batched work requests). */
  cork(): void {
    this.corked++;
  }

  /** The last uncork() publishes what was claimed since the first cork(). */
  uncork(): void {
    if (--this.corked === 0) this.publishRing();
  }

  /**
   * Wait until a work request of `payloadBytes` fits (and, with `held`, its channel is no longer
   * held: THREATS case 51), the queue pair fails, or `stop()` (checked at each wake-up; see
   * wakeSpaceWaiters). The hardware rings the space bell for both.
   */
  async waitForSpace(payloadBytes: number, stop?: () => boolean, held?: () => boolean, handle?: number): Promise<void> {
    const body = workRequestBodyBytes(payloadBytes);
    const done = (): boolean => this.roomOrEnd(body, held, handle) || (stop !== undefined && stop());
    // Looked at once now: joining a sleeper already waiting (another write of this queue pair), this
    // one's done() is not asked until that sleeper wakes, and the hint may be what wakes it.
    done();
    if (this.wait.eventLoopPollMs > 0) {
      // Spin mode: poll between event-loop turns; on a machine with few cores, only for a moment.
      const start = now();
      while (!done()) {
        if (now() - start >= this.wait.eventLoopPollMs) break;
        await yieldToEventLoop();
      }
      if (done()) return;
    }
    const recorded = this.tracer?.sleeping(TraceWait.SEND_SPACE, this.owner.index) ?? false;
    this.spaceWaiters.add(done);
    try {
      await this.sleepForSpace();
    } finally {
      this.spaceWaiters.delete(done);
    }
    this.tracer?.woke(recorded, TraceWait.SEND_SPACE, this.owner.index);
  }

  /**
   * The one sleeper on the send ring's space flag, for every waitForSpace() of this queue pair (the
   * writes of its channels, a close's CLOSE): it sleeps until one of them is done, and each then
   * checks its own. One, because a sleeper lowers the flag when it wakes: a second one, which had
   * raised it meanwhile, would sleep on a lowered flag that the hardware never rings.
   */
  private sleepForSpace(): Promise<void> {
    if (this.spaceSleeper === undefined) {
      const { i32, signals } = this.ring;
      const anyDone = (): boolean => {
        for (const done of this.spaceWaiters) if (done()) return true;
        return false;
      };
      spaceSleepersInThread++;
      this.spaceSleeper = sleepAsync(i32, signals.spaceWaiting, signals.spaceBell, anyDone, this.wait.eventLoopSpins, Number.POSITIVE_INFINITY).then(() => {
        this.spaceSleeper = undefined;
        spaceSleepersInThread--;
      });
    }
    return this.spaceSleeper;
  }

  /**
   * Wake the waitForSpace() calls of this queue pair, as the hardware does when it frees space:
   * each checks again whether it is done (a channel that closed meanwhile stops its writer's wait,
   * which space that never comes would otherwise hold for good); the others wait again.
   */
  wakeSpaceWaiters(): void {
    if (this.spaceSleeper === undefined) return;
    const { i32, signals } = this.ring;
    Atomics.add(i32, signals.spaceBell, 1);
    Atomics.notify(i32, signals.spaceBell);
  }

  /**
   * waitForSpace() blocking the thread in Atomics.wait (writeSync): false when it returns without
   * the space, because `timeoutMs` passed or a wake-up freed less than the message needs. Throws
   * EHWRESET when the operator marked the hardware gone, which a blocked thread cannot hear
   * through its control plane.
   */
  waitForSpaceSync(payloadBytes: number, timeoutMs: number, held?: () => boolean, handle?: number): boolean {
    const ring = this.ring;
    const body = workRequestBodyBytes(payloadBytes);
    const recorded = this.tracer?.sleeping(TraceWait.SEND_SPACE, this.owner.index) ?? false;
    const ok = sleepSync(
      ring.i32,
      ring.signals.spaceWaiting,
      ring.signals.spaceBell,
      () => this.roomOrEnd(body, held, handle) || hardwareGone(ring.i32),
      this.wait.spins,
      timeoutMs,
    );
    this.tracer?.woke(recorded, TraceWait.SEND_SPACE, this.owner.index);
    // sleepSync lowered the flag as it woke; a waitForSpace() of this queue pair still sleeps on it
    // (a write() awaited before this thread blocked): raise it again, so the hardware rings for it.
    if (this.spaceSleeper !== undefined) Atomics.store(ring.i32, ring.signals.spaceWaiting, 1);
    if (hardwareGone(ring.i32)) throw new ChannelError('EHWRESET', 'the hardware worker stopped while this thread waited for send ring space');
    return ok;
  }

  /**
   * A work request on channel `handle` found no room in the ring (a send() that throws EAGAIN, a
   * sendBatch() that stops short, a write() at each look while it waits): if the hardware says
   * the SEND at the ring's head waits for its full receive ring and is another channel's, raise the
   * ring's hint and ring the hardware, so that it keeps that SEND aside instead and frees the room
   * (THREATS case 51). Only when the hint is down: the hardware takes it each time it decides.
   */
  foundNoRoom(handle: number): void {
    if (!this.ring.blockedOnOther(handle) || this.ring.othersWaitingRaised()) return;
    this.ring.raiseOthersWaiting();
    this.ring.nudge();
  }

  /**
   * foundNoRoom() for a CLOSE or DETACH: it is no SEND of the stream at the head, whichever channel
   * that is (its own included), so any head that waits for its full receive ring is told to step
   * aside. Without it, a lone stream whose reader reads nothing filled the ring and waited at its
   * head (case 18) with nothing behind it but more of itself, and the hardware never learnt that a
   * CLOSE waited: close() never settled, and the process's DETACH waited the same way, its queue
   * pair never handed back (attack run 12: two such uploads took both process slots of a partition).
   */
  private controlFoundNoRoom(): void {
    if (!this.ring.blockedAtHead() || this.ring.othersWaitingRaised()) return;
    this.ring.raiseOthersWaiting();
    this.ring.nudge();
  }

  /**
   * What ends a wait for room: room for `body` (and the channel not held), or the ring or queue
   * pair failed. At each look that finds no room, the hint is raised if another channel's SEND
   * blocks the head (foundNoRoom): what the hardware freed for the last one may not be enough.
   */
  private roomOrEnd(body: number, held: (() => boolean) | undefined, handle: number | undefined): boolean {
    const ring = this.ring;
    if (ring.faulted || this.owner.failure !== undefined) return true;
    if (held !== undefined && held()) return false;
    if (ring.canClaim(body)) return true;
    if (handle === CONTROL_WORK_REQUEST) this.controlFoundNoRoom();
    else if (handle !== undefined) this.foundNoRoom(handle);
    return false;
  }

  /**
   * Write a control work request (CLOSE, DETACH), waiting for ring space if needed. In the order
   * they were posted: one that finds others waiting goes behind them. Room freed while a post
   * waited for its wake-up was taken by the next post at once, so a process's DETACH could overtake
   * its channel's CLOSE, and the peer heard EPEERDEAD for a channel closed cleanly (more often once
   * a waiting post raised the ring's hint, which frees room at once: attack run 12).
   */
  async post(type: number, handle: number): Promise<void> {
    if (this.postsWaiting === 0 && this.tryPost(type, handle)) return;
    this.postsWaiting++;
    const before = this.postsDone;
    let done!: () => void;
    this.postsDone = new Promise<void>((resolve) => (done = resolve));
    try {
      await before;
      // Raising the hint at each look, as a waiting write() does: the hardware takes it at each decision.
      while (!this.tryPost(type, handle)) await this.waitForSpace(0, undefined, undefined, CONTROL_WORK_REQUEST);
    } finally {
      this.postsWaiting--;
      done();
    }
  }

  /** Claim and publish a control work request now: false when the ring has no room. */
  private tryPost(type: number, handle: number): boolean {
    if (this.owner.failure) throw this.owner.failure;
    const at = this.claim(type, handle, 0);
    if (at >= 0) {
      this.publish();
      return true;
    }
    if (at === FAULT) throw new ChannelError('EFAULT', `send ring of queue pair ${this.owner.index}: ${this.ring.faultReason}`);
    return false;
  }

  /**
   * Senders call this on every send: one plain load when nothing is pending (readyHint(): an
   * Atomics.load only once the word moved), and a process that only sends still learns promptly
   * that its peer went away.
   */
  checkCompletions(): void {
    if (this.completions.readyHint()) this.drainCompletions();
  }

  /** Read every completion the hardware posted; returns how many. */
  drainCompletions(): number {
    let read = 0;
    const cq = this.completions;
    for (let type = cq.poll(); type !== EMPTY; type = cq.poll()) {
      if (type === FAULT) {
        this.owner.fail(new ChannelError('EFAULT', `completion ring: ${cq.faultReason}`));
        return read;
      }
      const u32 = cq.u32;
      const at = cq.bodyOffset;
      this.complete(completionStatus(u32, at), completionChannel(u32, at), completionOpcode(u32, at), completionCount(u32, at));
      cq.consume();
      read++;
    }
    cq.release();
    return read;
  }

  private complete(status: number, handle: number, opcode: number, count: number): void {
    if (opcode === RecordType.DETACH) {
      this.owner.detachAcknowledged();
      return;
    }
    if (opcode === QUEUE_PAIR_FAULT && status === Status.EFAULT && handle === 0) {
      this.owner.fail(new ChannelError('EFAULT', `the hardware stopped serving queue pair ${this.owner.index} after a ring fault`));
      return;
    }
    if (status !== Status.OK) this.channels.sender(handle, opcode)?.sendFailed(status, count);
    if (opcode === RecordType.CLOSE) this.channels.closeAcknowledged(handle);
  }
}
