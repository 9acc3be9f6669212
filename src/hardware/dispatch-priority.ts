/**
 * The dispatch priority of partition threads, as a hypervisor's dispatcher weighs its partitions.
 * On 2 cores a request/response pair beside a partition that floods the engine kept a third of
 * its rate: each of its wake-ups waited for the kernel to end the flooder's slice, and the round
 * trips that did took milliseconds (docs/PERFORMANCE.md). The engine counts, per port, the serves
 * that used a queue pair's whole budget (saturated) and those that moved less (light). A port
 * that saturated through FLOOD_MS, while another port made round trips (light traffic in review
 * after review, nothing saturated), has its thread lowered to DEMOTED_NICE: the kernel then runs a
 * woken partition first, and the partitions that drain its stream go down with it (a receiver left
 * at nice 0 polled for its lowered sender on the core the round trips were to get). It goes back
 * once it has not saturated for CALM_MS, or once no other port has made round trips for as long. Backlogged streams beside each other all saturate, so none is
 * lowered and their shares stay equal; a stream beside nothing is lowered by nothing. Reviews run
 * while the hardware runs, and while a thread is lowered the hardware wakes every CALM_MS to
 * review (`holding`): a partition lowered while it streamed that then only computes would
 * otherwise stay at nice 19 as long as the machine stayed quiet (attack run 10).
 *
 * Only where a lowered thread can be set back (CAP_SYS_NICE, or an RLIMIT_NICE that reaches its
 * old value): elsewhere the kernel lets a thread's priority only fall, and a partition lowered once
 * would stay so for its run. Linux only: setpriority() names a thread by its kernel id there
 * (shared/thread-word.ts), and the same call elsewhere would lower the whole process.
 */
import { getPriority, setPriority } from 'node:os';
import type { Counters } from './counters.js';
import type { HardwareQueuePair, PartitionPort } from './partition-port.js';
import { canSetPriorityBack, isProcessThread, processThreads, WantedShare } from './thread-stats.js';
import { now } from '../shared/clock.js';
import { CounterSlot } from '../shared/layout.js';
import { ownThreadId } from '../shared/thread-word.js';

/** The nice value of a lowered partition thread: the kernel's lowest priority short of SCHED_IDLE. */
export const DEMOTED_NICE = 19;
/** At most one review per this long (the busy hardware yields to its event loop every 2 ms). */
const REVIEW_MS = 2;
/** A port floods once its serves have saturated in every review for this long. */
const FLOOD_MS = 10;
/**
 * A port is light once it moved traffic in LIGHT_REVIEWS reviews over FLOOD_MS or more, none
 * further apart than LIGHT_GAP_MS, without saturating for INTERACTIVE_MS: round trips, not a
 * stream's closing END or one reply. The machine has light traffic for INTERACTIVE_MS after.
 */
const INTERACTIVE_MS = 50;
const LIGHT_REVIEWS = 4;
const LIGHT_GAP_MS = 20;
/**
 * A port's round trips count only while its thread wants a CPU (runs, or waits in a run queue)
 * less than this share of the time over its last 100 ms (WantedShare, sampled every CPU_SAMPLE_MS):
 * a partition that waits for its replies. One that spins beside its round trips would otherwise get a backlogged stream
 * lowered and then take the core from it (a thread at nice 19 gets about 1/70 of a core beside one
 * at 0). Honest round trips on 2 cores beside a flooder wanted 0.44–0.79 (p10–p99); a partition
 * that spun 3 ms between them, 0.75–1.1, mostly over 0.86.
 */
const BUSY_SHARE = 0.8;
const CPU_SAMPLE_MS = 20;
/**
 * No thread is lowered, and a lowered one goes back, while a stranger wants a CPU (runs, or waits
 * in a run queue) more than this share of the time. A stranger is a thread that would take the
 * core a lowered thread gives up without being what it was given up for: a thread the process did
 * not have when this hardware booted and that no partition names (a partition's own Worker), or a
 * partition's thread that neither floods, nor is lowered, nor waits on its round trips, nor drains
 * a stream. A partition whose thread makes round trips while its Workers spin, or beside another
 * partition that spins, would otherwise get a backlogged stream lowered and then take its core
 * (attack run 10). A spinning thread wants a CPU all the time, however many share the cores;
 * V8's helper threads (compiling, collecting) want one in bursts.
 */
const STRANGER_SHARE = 0.5;
/** A port that had this many messages a millisecond delivered drains a stream: its thread runs on what a flooder feeds it. */
const DRAINS_MSGS_PER_MS = 64;
/**
 * More strangers than this that no partition names (a partition's Workers) count as a busy one, unread: each sample reads every stranger's schedstat,
 * and a partition that started 150 idle Workers made each read cost the hardware more than lowering
 * gained (attack run 11: the honest stream beside round trips sent 430k–660k messages in 1 s, against
 * 1.3–2.1M with demoteFlooders off). Nothing is lowered while they run, as with demoteFlooders off.
 */
const MAX_STRANGERS = 32;
/** Samples in a row with a busy stranger that set a lowered thread back (a burst of V8's helpers may fill one). */
const STRANGERS_BUSY_SAMPLES = 3;
/** A lowered port goes back after this long without saturating, or with no light traffic on the machine. */
export const CALM_MS = 100;

/** What the review keeps per port. */
interface PortReview {
  saturatedServes: number;
  lightServes: number;
  /** When the port's current run of saturated reviews began; undefined: the last review had none. */
  floodingSince: number | undefined;
  lastSaturatedAt: number;
  /** The current run of reviews in which the port moved light traffic: when it began, the last one, how many. */
  lightSince: number;
  lastLightAt: number;
  lightReviews: number;
  /** The share of the time the port's thread wanted a CPU lately, and when it was last sampled. */
  wanted: WantedShare;
  wantedSampledAt: number;
  /** The thread's nice value before it was lowered; undefined: not lowered. */
  niceBefore: number | undefined;
  /** The thread it lowered, set back by that id even if the word has been cleared since. */
  thread: number;
  /** When the port was last seen making round trips from a thread that waits (sawLight). */
  waitingAt: number;
  /** Messages delivered to the port when the strangers were last sampled, and when it last drained a stream by them. */
  delivered: number;
  drainsAt: number;
  /** Lowered as the drain of this lowered flooder, not as a flooder itself. */
  drainOf: PartitionPort | undefined;
}

export class DispatchPriority {
  private readonly reviews = new WeakMap<PartitionPort, PortReview>();
  /** A lowered flooder's queue pairs' saturated serves when last reviewed, and when they last grew (a queue pair seen first counts as grown). */
  private readonly queuePairSaturated = new WeakMap<HardwareQueuePair, number>();
  private readonly queuePairSaturatedAt = new WeakMap<HardwareQueuePair, number>();
  private readonly words: Int32Array[];
  private readonly ownThread = ownThreadId();
  /**
   * The threads the process had before this machine's workers started (the operator's main thread,
   * V8's and libuv's helpers, other machines' threads): not a partition's. Threads started since are
   * strangers, a partition's own Workers among them. Not read as this hardware boots: its partitions
   * boot at the same time, and a replacement OS's first lines had started Workers by then, which were
   * never strangers after (attack run 22a, THREATS case 128).
   */
  private readonly bootThreads: Set<number>;
  private lastReview = -Infinity;
  /** The port seen light most recently, and when; and when a port other than it was last seen light. */
  private lightPort: PartitionPort | undefined;
  private lightAt = -Infinity;
  private otherLightAt = -Infinity;
  /** Each stranger's share of the time it wanted a CPU lately; when they were last sampled; whether one wanted more than STRANGER_SHARE. */
  private strangerShares = new Map<number, WantedShare>();
  private strangersSampledAt = -Infinity;
  private strangerBusy = false;
  private strangersBusySamples = 0;
  /** Whether the last review left a thread lowered: the scheduler then wakes every CALM_MS to review, even with nothing to serve. */
  holding = false;

  /**
   * `threads`: each partition's thread word, in partition order (shared/thread-word.ts);
   * `bootThreads`: the process's threads before the operator started any worker of this machine.
   */
  constructor(
    threads: SharedArrayBuffer[],
    private readonly counters: Counters,
    bootThreads: readonly number[] = processThreads(),
  ) {
    this.words = threads.map((b) => new Int32Array(b));
    this.bootThreads = new Set(bootThreads);
  }

  /** Test hook: the threads taken for the process's own (never strangers), in ascending order. */
  processOwnThreads(): number[] {
    return [...this.bootThreads].sort((a, b) => a - b);
  }

  /** Whether lowering is possible here: a lowered thread can be set back (thread-stats.ts). */
  static available(): boolean {
    return canSetPriorityBack();
  }

  /** Look at what each port's serves did since the last review, and lower or set back threads by it. */
  review(ports: readonly PartitionPort[]): void {
    const t = now();
    if (t - this.lastReview < REVIEW_MS) return;
    this.lastReview = t;
    for (const port of ports) {
      if (!port.alive) continue;
      const r = this.reviewOf(port);
      const saturated = port.saturatedServes !== r.saturatedServes;
      const light = port.lightServes !== r.lightServes;
      r.saturatedServes = port.saturatedServes;
      r.lightServes = port.lightServes;
      if (saturated) {
        r.lastSaturatedAt = t;
        r.floodingSince ??= t;
      } else {
        r.floodingSince = undefined;
      }
      if (light) {
        if (t - r.lastLightAt > LIGHT_GAP_MS) {
          r.lightSince = t;
          r.lightReviews = 0;
        }
        r.lastLightAt = t;
        r.lightReviews++;
        if (r.lightReviews >= LIGHT_REVIEWS && t - r.lightSince >= FLOOD_MS && t - r.lastSaturatedAt >= INTERACTIVE_MS && this.waits(port, r, t)) this.sawLight(port, t);
      }
    }
    let strangersQuiet: boolean | undefined;
    this.holding = false;
    let flooderLowered = false;
    for (const port of ports) {
      if (!port.alive) continue;
      const r = this.reviewOf(port);
      if (r.drainOf !== undefined) continue;
      // Only another port's light traffic counts: one port that streams after it made round trips waits on nobody.
      const lightElsewhere = t - (port === this.lightPort ? this.otherLightAt : this.lightAt);
      const lowering = r.niceBefore === undefined && lightElsewhere < INTERACTIVE_MS && r.floodingSince !== undefined && t - r.floodingSince >= FLOOD_MS;
      if (!lowering && r.niceBefore === undefined) continue;
      strangersQuiet ??= this.strangersQuiet(ports, t);
      if (lowering) {
        if (strangersQuiet) this.lower(port, r);
      } else if (lightElsewhere >= CALM_MS || t - r.lastSaturatedAt >= CALM_MS || this.strangersBusySamples >= STRANGERS_BUSY_SAMPLES) {
        this.setBack(port, r);
      }
      if (r.niceBefore !== undefined) this.holding = flooderLowered = true;
    }
    // A lowered flood's drains go down with it: a stream's receiver left at nice 0 beside its lowered
    // sender polled for what the sender no longer sent, on the core the round trips were to get
    // (lparlink demo: the pair made fewer round trips with the stream's sender lowered than without).
    // Only the flood's own drains: the ends that the lowered sender's queue pairs that saturated lately
    // send to (where each delivered at least half of a saturated serve: floodDestination). A port that drains other traffic (a partition's light
    // feed, attack run 11) was lowered whenever any flood elsewhere was; and one that a flooding
    // partition's other queue pair only fed, whenever that partition was lowered.
    // Only the lowered flooders' queue pairs are looked at: a serve's count is all the engine pays.
    const floodDrains = new Map<PartitionPort, PartitionPort>();
    if (flooderLowered) {
      for (const port of ports) {
        const r = this.reviewOf(port);
        if (!port.alive || r.drainOf !== undefined || r.niceBefore === undefined) continue;
        for (const qp of port.queuePairs) {
          if (qp.saturatedServes !== this.queuePairSaturated.get(qp)) {
            this.queuePairSaturated.set(qp, qp.saturatedServes);
            this.queuePairSaturatedAt.set(qp, t);
          }
          const to = qp.floodDestination?.port;
          if (to !== undefined && to !== port && t - (this.queuePairSaturatedAt.get(qp) ?? -Infinity) <= 2 * CPU_SAMPLE_MS) floodDrains.set(to, port);
        }
      }
    }
    for (const port of ports) {
      if (!port.alive) continue;
      const r = this.reviewOf(port);
      if (r.niceBefore === undefined) {
        const of = floodDrains.get(port);
        if (of !== undefined && r.floodingSince === undefined && t - r.drainsAt <= 2 * CPU_SAMPLE_MS && t - r.waitingAt >= INTERACTIVE_MS) {
          this.lower(port, r);
          if (r.niceBefore !== undefined) r.drainOf = of;
        }
      } else if (r.drainOf !== undefined && (!r.drainOf.alive || this.reviewOf(r.drainOf).niceBefore === undefined || t - r.drainsAt >= CALM_MS)) {
        this.setBack(port, r);
      }
      if (r.niceBefore !== undefined) this.holding = true;
    }
  }

  /**
   * Whether no stranger (see STRANGER_SHARE) wanted a CPU more than STRANGER_SHARE of the time
   * lately (WantedShare), sampled at most every CPU_SAMPLE_MS.
   */
  private strangersQuiet(ports: readonly PartitionPort[], t: number): boolean {
    if (t - this.strangersSampledAt < CPU_SAMPLE_MS) return !this.strangerBusy;
    const interval = (t - this.strangersSampledAt) * 1e6;
    // Each port's thread, read once: a partition's thread is judged by what its port does, even if
    // it started before this hardware.
    const partitionThreads = new Set<number>();
    const named = new Set(this.bootThreads);
    named.add(this.ownThread);
    // A thread not yet sampled over MIN_SPAN_MS (its share NaN) counts as busy: it may be a spinner
    // that just started. Not a partition's thread that moved light traffic lately: that is one of a
    // pair whose round trips are still being recognised, and it is judged once its share is known.
    const lightThreads = new Set<number>();
    const values = this.counters.values;
    for (const port of ports) {
      const thread = Atomics.load(this.words[port.index], 0);
      partitionThreads.add(thread);
      named.delete(thread);
      const r = this.reviewOf(port);
      const delivered = values[port.index * CounterSlot.PER_PARTITION + CounterSlot.DELIVERED];
      const drains = delivered - r.delivered >= (DRAINS_MSGS_PER_MS * interval) / 1e6;
      r.delivered = delivered;
      if (drains) r.drainsAt = t;
      if (port.alive && (r.floodingSince !== undefined || r.niceBefore !== undefined || t - r.waitingAt < INTERACTIVE_MS || drains)) named.add(thread);
      if (t - r.lastLightAt < INTERACTIVE_MS) lightThreads.add(thread);
    }
    const seen = new Map<number, WantedShare>();
    let busy = false;
    const strangers = processThreads().filter((thread) => !named.has(thread));
    // Partitions' own threads are as many as the operator configured: the bound is on the others.
    if (strangers.filter((thread) => !partitionThreads.has(thread)).length > MAX_STRANGERS) {
      busy = true;
      strangers.length = 0;
    }
    for (const thread of strangers) {
      const share = this.strangerShares.get(thread) ?? new WantedShare();
      if (!share.sample(thread, t)) continue;
      seen.set(thread, share);
      const wanted = share.share();
      if (wanted > STRANGER_SHARE || (Number.isNaN(wanted) && !lightThreads.has(thread))) busy = true;
    }
    this.strangerBusy = busy;
    this.strangerShares = seen;
    this.strangersSampledAt = t;
    this.strangersBusySamples = busy ? this.strangersBusySamples + 1 : 0;
    return !busy;
  }

  private sawLight(port: PartitionPort, t: number): void {
    this.reviewOf(port).waitingAt = t;
    if (port !== this.lightPort) {
      // The port seen before it is now the latest of the others.
      this.otherLightAt = this.lightAt;
      this.lightPort = port;
    }
    this.lightAt = t;
  }

  /** Whether the port's thread wanted a CPU less than BUSY_SHARE of the time lately (it waits for its replies). */
  private waits(port: PartitionPort, r: PortReview, t: number): boolean {
    if (t - r.wantedSampledAt >= CPU_SAMPLE_MS) {
      r.wanted.sample(Atomics.load(this.words[port.index], 0), t);
      r.wantedSampledAt = t;
    }
    return r.wanted.share() < BUSY_SHARE;
  }

  private reviewOf(port: PartitionPort): PortReview {
    let r = this.reviews.get(port);
    if (r === undefined) {
      r = { saturatedServes: port.saturatedServes, lightServes: port.lightServes, floodingSince: undefined, lastSaturatedAt: -Infinity, lightSince: -Infinity, lastLightAt: -Infinity, lightReviews: 0, wanted: new WantedShare(), wantedSampledAt: -Infinity, niceBefore: undefined, thread: 0, waitingAt: -Infinity, delivered: 0, drainsAt: -Infinity, drainOf: undefined };
      this.reviews.set(port, r);
    }
    return r;
  }

  private lower(port: PartitionPort, r: PortReview): void {
    const thread = Atomics.load(this.words[port.index], 0);
    // Only a thread of this process that is a partition's: never the operator's or the hardware's own.
    if (thread === process.pid || thread === this.ownThread || !isProcessThread(thread)) return;
    try {
      const before = getPriority(thread);
      if (before >= DEMOTED_NICE) return;
      setPriority(thread, DEMOTED_NICE);
      r.niceBefore = before;
      r.thread = thread;
      this.counters.demotion(port.index);
    } catch {
      // The thread ended meanwhile (ESRCH): nothing to lower.
    }
  }

  private setBack(port: PartitionPort, r: PortReview): void {
    const { thread, niceBefore } = r;
    r.niceBefore = undefined;
    r.drainOf = undefined;
    // The operator clears the word when the thread exits, and the kernel may give its id to another.
    if (Atomics.load(this.words[port.index], 0) !== thread) return;
    try {
      setPriority(thread, niceBefore!);
    } catch {
      // Ended meanwhile; or the capability was dropped since, and the thread stays lowered.
    }
  }
}
