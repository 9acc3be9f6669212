/**
 * The dispatch priority of partition threads, as a hypervisor's dispatcher weighs its partitions.
 * On 2 cores a request/response pair beside a partition that floods the engine kept a third of
 * its rate: each of its wake-ups waited for the kernel to end the flooder's slice, and the round
 * trips that did took milliseconds (docs/PERFORMANCE.md). The engine counts, per port, the serves
 * that used a queue pair's whole budget (saturated) and those that moved less (light). A port
 * that saturated through FLOOD_MS, while another port made round trips (light traffic in review
 * after review, nothing saturated), has its thread lowered to DEMOTED_NICE: the kernel then runs a
 * woken partition first. It goes back once it has not saturated for CALM_MS, or once no other port
 * has made round trips for as long. Backlogged streams beside each other all saturate, so none is
 * lowered and their shares stay equal; a stream beside nothing is lowered by nothing. Reviews run
 * while the hardware runs: a thread lowered when everything went idle is set back at the first
 * review after the hardware wakes.
 *
 * Only where a lowered thread can be set back (CAP_SYS_NICE, or an RLIMIT_NICE that reaches its
 * old value): elsewhere the kernel lets a thread's priority only fall, and a partition lowered once
 * would stay so for its run. Linux only: setpriority() names a thread by its kernel id there
 * (shared/thread-word.ts), and the same call elsewhere would lower the whole process.
 */
import { existsSync, readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import type { Counters } from './counters.js';
import type { PartitionPort } from './partition-port.js';
import { now } from '../shared/clock.js';
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
/** A lowered port goes back after this long without saturating, or with no light traffic on the machine. */
const CALM_MS = 100;

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
  /** The thread's nice value before it was lowered; undefined: not lowered. */
  niceBefore: number | undefined;
  /** The thread it lowered, set back by that id even if the word has been cleared since. */
  thread: number;
}

export class DispatchPriority {
  private readonly reviews = new WeakMap<PartitionPort, PortReview>();
  private readonly words: Int32Array[];
  private readonly ownThread = ownThreadId();
  private lastReview = -Infinity;
  /** The port seen light most recently, and when; and when a port other than it was last seen light. */
  private lightPort: PartitionPort | undefined;
  private lightAt = -Infinity;
  private otherLightAt = -Infinity;

  /** `threads`: each partition's thread word, in partition order (shared/thread-word.ts). */
  constructor(
    threads: SharedArrayBuffer[],
    private readonly counters: Counters,
  ) {
    this.words = threads.map((b) => new Int32Array(b));
  }

  /**
   * Whether this process may set a lowered thread back: on Linux, with CAP_SYS_NICE in its
   * effective set, or with an RLIMIT_NICE of 20 or more (a nice of 0 reachable again).
   */
  static available(): boolean {
    if (process.platform !== 'linux') return false;
    try {
      const caps = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
      if (caps !== null && (BigInt(`0x${caps[1]}`) >> 23n) & 1n) return true; // CAP_SYS_NICE
      const limit = /^Max nice priority\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
      return limit !== null && (limit[1] === 'unlimited' || Number(limit[1]) >= 20);
    } catch {
      return false;
    }
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
        if (r.lightReviews >= LIGHT_REVIEWS && t - r.lightSince >= FLOOD_MS && t - r.lastSaturatedAt >= INTERACTIVE_MS) this.sawLight(port, t);
      }
    }
    for (const port of ports) {
      if (!port.alive) continue;
      const r = this.reviewOf(port);
      // Only another port's light traffic counts: one port that streams after it made round trips waits on nobody.
      const lightElsewhere = t - (port === this.lightPort ? this.otherLightAt : this.lightAt);
      if (r.niceBefore === undefined) {
        if (lightElsewhere < INTERACTIVE_MS && r.floodingSince !== undefined && t - r.floodingSince >= FLOOD_MS) this.lower(port, r);
      } else if (lightElsewhere >= CALM_MS || t - r.lastSaturatedAt >= CALM_MS) {
        this.setBack(port, r);
      }
    }
  }

  private sawLight(port: PartitionPort, t: number): void {
    if (port !== this.lightPort) {
      // The port seen before it is now the latest of the others.
      this.otherLightAt = this.lightAt;
      this.lightPort = port;
    }
    this.lightAt = t;
  }

  private reviewOf(port: PartitionPort): PortReview {
    let r = this.reviews.get(port);
    if (r === undefined) {
      r = { saturatedServes: port.saturatedServes, lightServes: port.lightServes, floodingSince: undefined, lastSaturatedAt: -Infinity, lightSince: -Infinity, lastLightAt: -Infinity, lightReviews: 0, niceBefore: undefined, thread: 0 };
      this.reviews.set(port, r);
    }
    return r;
  }

  private lower(port: PartitionPort, r: PortReview): void {
    const thread = Atomics.load(this.words[port.index], 0);
    // Only a thread of this process that is a partition's: never the operator's or the hardware's own.
    if (thread <= 0 || thread === process.pid || thread === this.ownThread || !existsSync(`/proc/self/task/${thread}`)) return;
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
    // The operator clears the word when the thread exits, and the kernel may give its id to another.
    if (Atomics.load(this.words[port.index], 0) !== thread) return;
    try {
      setPriority(thread, niceBefore!);
    } catch {
      // Ended meanwhile; or the capability was dropped since, and the thread stays lowered.
    }
  }
}
