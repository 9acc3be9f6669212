/**
 * When the engine runs. Busy: rounds back to back, yielding to the event loop
 * every couple of milliseconds so control-plane calls get in. Idle: spin a
 * little, then announce sleep on every port and wait on all port doorbells
 * with Atomics.waitAsync — never Atomics.wait, which waits on one address (a
 * doorbell per port) and stops the event loop that carries the control ports
 * (the inspector would still be answered: V8 interrupts a blocking wait for it).
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { CALM_MS, type DispatchPriority } from './dispatch-priority.js';
import { Engine } from './engine.js';
import { PartitionPort } from './partition-port.js';
import type { WaitPolicy } from '../shared/wait.js';
import { now } from '../shared/clock.js';

/** Longest stretch the engine runs before it lets the event loop in. */
const SLICE_MS = 2;
/**
 * The deadline is looked at every 64th round, and also once this many payload bytes' worth of work
 * requests (at maxMessageBytes each) were served since the last look (THREATS case 131): at 64 KiB
 * messages a round of three flooding partitions moved 72 of them, and 64 rounds held the event loop,
 * and every honest partition's control call, ~20 ms, ten slices' worth. Counted from what round()
 * returns: one add and a compare a round, nothing per message.
 */
const BYTES_PER_LOOK = 16 * 1024 * 1024;
const MAX_WORK_PER_LOOK = 4096;
/**
 * A doorbell storm (THREATS cases 17 and 29): once a port's streak of suspicious sleeps (each
 * suspicious sleep adds one, each clean active one takes one away) reaches this, the hardware listens to that port's doorbell again only after a pause that doubles up to
 * MAX_DOORBELL_PAUSE_MS. A sleep is suspicious for a port when its doorbell woke the engine and
 * nothing moved on its rings (an idle wake-up), or when the port rang far more often than the
 * protocol lets an honest partition ring for the work that moved. An honest partition rings only
 * after it saw a flag the hardware raised, and the ringer lowers it: once per sleep for the port's
 * sleep flag, and once per raised space flag, each raised when a receive ring was full and so
 * followed by deliveries. A storm that carries a trickle of real traffic still rings thousands of
 * times per message and stays throttled; an idle streak that any progress resets would not hold it.
 * The port's work is still served in every round the engine runs for anyone, so only a partition
 * that storms waits, and at most that long.
 */
const SUSPICIOUS_SLEEPS_BEFORE_PAUSE = 64;
const MAX_DOORBELL_PAUSE_MS = 64;
/** The streak stops here (the longest pause), so a partition that stops storming is listened to again after a few clean sleeps. */
const MAX_STREAK = SUSPICIOUS_SLEEPS_BEFORE_PAUSE + Math.log2(MAX_DOORBELL_PAUSE_MS);
/** Rings an honest port may make per sleep beyond one per queue pair, plus one per this many bytes moved. */
const RING_ALLOWANCE = 8;
const BYTES_PER_ALLOWED_RING = 8;

/** What the scheduler keeps per port: where it stood at the previous sleep, at this sleep, and its streak. */
interface PortWatch {
  /** Doorbell and ring positions when the previous sleep began (the stretch being judged starts there). */
  bell: number;
  positions: number;
  /** Suspicious sleeps, less the clean active ones since, between 0 and MAX_STREAK. */
  streak: number;
  /** Doorbell and ring positions when the current sleep began. */
  sleepBell: number;
  sleepPositions: number;
  /** The port's doorbell woke the engine during the current sleep. */
  wokeUs: boolean;
  /** A waitAsync (or a storm pause) is pending on the port's doorbell. */
  armed: boolean;
}

export class Scheduler {
  private wake: (() => void) | undefined;
  private stopped = false;
  private readonly idleMs: number;
  private readonly watches = new WeakMap<PartitionPort, PortWatch>();
  /** While the dispatch priority holds a thread lowered: the timer that wakes the hardware to review it. */
  private calmWake: ReturnType<typeof setInterval> | undefined;
  /** The partition index whose doorbell ended the current sleep, for the trace. */
  private wakingPort: number | undefined;

  /** Work requests served between two looks at the slice's deadline, at most (beyond the round that crosses it): case 131. */
  private readonly workPerLook: number;

  constructor(
    private readonly engine: Engine,
    private readonly ports: () => PartitionPort[],
    wait: WaitPolicy,
    /** Lowers flooding partitions' threads (undefined: off, or not possible here). */
    private readonly dispatch?: DispatchPriority,
  ) {
    this.idleMs = wait.engineIdleMs;
    this.workPerLook = Math.max(1, Math.min(MAX_WORK_PER_LOOK, Math.floor(BYTES_PER_LOOK / engine.maxMessageBytes)));
  }

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    if (this.calmWake !== undefined) clearInterval(this.calmWake);
    this.calmWake = undefined;
    this.kick();
  }

  /** Something changed outside the rings (a new channel, a reset): run now if asleep. */
  kick(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const busy = this.runSlice();
      if (this.dispatch !== undefined) this.review(this.dispatch);
      // On a node: what the slice sent to other nodes leaves now, one socket write per link.
      this.engine.remote?.flush();
      if (busy) await yieldToEventLoop();
      else await this.sleep();
    }
  }

  /**
   * Review the dispatch priority; while a thread stays lowered, wake every CALM_MS to review again:
   * a machine gone quiet must not keep a partition lowered (it may compute without sending).
   */
  private review(dispatch: DispatchPriority): void {
    dispatch.review(this.ports());
    if (dispatch.holding && !this.stopped) {
      this.calmWake ??= setInterval(() => this.kick(), CALM_MS);
    } else if (this.calmWake !== undefined) {
      clearInterval(this.calmWake);
      this.calmWake = undefined;
    }
  }

  /** Returns true when the slice ended busy (deadline), false when the engine went idle. */
  private runSlice(): boolean {
    const deadline = now() + SLICE_MS;
    let idle = 0;
    let idleSince = 0;
    let sinceLook = 0;
    for (let i = 1; ; i++) {
      // Every 64th round looks with Atomics.load only (round(true)): a busy hardware, or one that
      // never sleeps (spin mode with 4 or more cores), then still sees every publish within 64
      // rounds by the memory model's own rules, not only because plain loads are fresh in practice.
      const work = this.engine.round((i & 63) === 0);
      if (work > 0) idle = 0;
      else if (idle++ === 0) {
        if (this.idleMs <= 0) return false;
        idleSince = now();
      } else if ((idle & 7) === 0 && now() - idleSince >= this.idleMs) return false;
      // By rounds, and by work done (case 131): 64 rounds of large messages ran ten slices long.
      sinceLook += work;
      if ((i & 63) === 0 || sinceLook >= this.workPerLook) {
        if (now() > deadline) return true;
        sinceLook = 0;
      }
    }
  }

  private watchOf(port: PartitionPort): PortWatch {
    let w = this.watches.get(port);
    if (w === undefined) {
      const bell = port.doorbell();
      const positions = ringPositions(port);
      w = { bell, positions, streak: 0, sleepBell: bell, sleepPositions: positions, wokeUs: false, armed: false };
      this.watches.set(port, w);
    }
    return w;
  }

  /** One sleep; it allocates nothing per port (the hardware may sleep and wake tens of thousands of times a second). */
  private async sleep(): Promise<void> {
    const ports = this.ports();
    this.engine.releaseAll();
    for (const p of ports) if (p.alive) this.judge(p, this.watchOf(p));
    // Each bell is read before its flag goes up, so every ring that lowers the flag moves the bell
    // past the value the sleep waits on. Read after, a late ring (a partition whose publish the
    // engine had already served, seeing the flag only now) could land in between: the sleep would
    // wait past it, and the next publish, finding the flag down, would not ring. The engine slept
    // through it for good (once in 12 to 90 one-second streams of single sends). A late ring now
    // wakes the engine at once, for nothing, and is judged as any idle wake-up is; a partition
    // that lowers its flag without ringing only keeps its own publishes from ringing.
    for (const p of ports) {
      if (!p.alive) continue;
      const w = this.watchOf(p);
      w.sleepBell = p.doorbell();
      // judge() just took them, and only the engine moves them: it has not run since.
      w.sleepPositions = w.positions;
    }
    for (const p of ports) if (p.alive) p.announceSleep();
    // Re-check after announcing: a producer that published before it saw the flag is caught here,
    // by an exact look (Atomics.load, ordered after the flags' stores), not a plain read's hint.
    if (this.engine.round(true) > 0 || this.stopped) {
      for (const p of ports) if (p.alive) p.announceAwake();
      return;
    }
    this.wakingPort = undefined;
    this.engine.tracer?.sleeping();
    const woken = new Promise<void>((resolve) => (this.wake = resolve));
    for (const p of ports) if (p.alive) this.arm(p, this.watchOf(p));
    await woken;
    this.engine.tracer?.woke(this.wakingPort);
    for (const p of ports) if (p.alive) p.announceAwake();
  }

  /** Keep one waiter per port: it resolves on the next ring of that port's doorbell. */
  private arm(port: PartitionPort, w: PortWatch): void {
    if (w.armed) return;
    if (w.streak < SUSPICIOUS_SLEEPS_BEFORE_PAUSE) {
      this.listen(port, w, w.sleepBell);
      return;
    }
    // A storm: listen again after a pause; each further suspicious sleep doubles it, clean ones wind it back.
    // Listen from the bell as it was when the engine went to sleep, so a ring during the pause
    // (the partition rings once per sleep, and may then wait for us) wakes the engine at once.
    w.armed = true;
    const bell = w.sleepBell;
    const pause = Math.min(2 ** (w.streak - SUSPICIOUS_SLEEPS_BEFORE_PAUSE + 1), MAX_DOORBELL_PAUSE_MS);
    setTimeout(() => {
      w.armed = false;
      if (port.alive && !this.stopped) this.listen(port, w, bell);
    }, pause);
  }

  private listen(port: PartitionPort, w: PortWatch, bell: number): void {
    const r = Atomics.waitAsync(port.i32, port.doorbellWord, bell);
    if (!r.async) {
      this.wokenBy(port, w);
      return;
    }
    w.armed = true;
    void r.value.then(() => {
      w.armed = false;
      this.wokenBy(port, w);
    });
  }

  private wokenBy(port: PartitionPort, w: PortWatch): void {
    // Judge only a ring made during this sleep (a waiter left from an earlier sleep may report a
    // ring whose work was done before it), against the rings as they stood when the sleep began.
    if (this.wake !== undefined && !w.wokeUs && port.doorbell() !== w.sleepBell) {
      w.wokeUs = true;
      this.wakingPort ??= port.index;
      this.engine.counters.doorbellWakeup(port.index);
    }
    this.kick();
  }

  /**
   * Once the engine is idle again, judge a port over the stretch since the previous sleep: an idle
   * wake-up, or more rings than the work that moved explains, extends its suspicious streak; rings
   * or a wake-up that the work explains wind it back.
   */
  private judge(port: PartitionPort, w: PortWatch): void {
    const bell = port.doorbell();
    const positions = ringPositions(port);
    const rings = (bell - w.bell) >>> 0;
    const moved = Math.abs(positions - w.positions);
    const idleWakeup = w.wokeUs && positions === w.sleepPositions;
    if (idleWakeup) this.engine.counters.idleWakeup(port.index);
    const allowed = RING_ALLOWANCE + port.queuePairs.length + moved / BYTES_PER_ALLOWED_RING;
    // A port that neither rang nor woke the engine since the last sleep says nothing either way. One that
    // did, within what its work explains, steps its streak back by one rather than to zero: a storm whose
    // thread loses its core now and then, or that carries a trickle of work, mixes such sleeps with
    // suspicious ones, and must still climb.
    if (idleWakeup || rings > allowed) w.streak = Math.min(w.streak + 1, MAX_STREAK);
    else if ((rings > 0 || w.wokeUs) && w.streak > 0) w.streak--;
    w.bell = bell;
    w.positions = positions;
    w.wokeUs = false;
  }
}

/** The hardware's own positions in a port's rings (never the shared words): they move when its work is served. */
function ringPositions(port: PartitionPort): number {
  // A sum, not a list: it is taken at every sleep and must not allocate. Served work moves a
  // position forward and so the sum; a coincidence (moves that cancel across a 2^32 wrap) would
  // only misjudge one wake-up.
  let sum = 0;
  for (const qp of port.queuePairs) sum += qp.send.consumedPosition + qp.receive.position;
  return sum;
}
