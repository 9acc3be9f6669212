/**
 * The partition's control endpoint, bound on the hardware side to that
 * partition's identity like a capability: no method takes a partition id
 * from the caller. comlink's `expose` walks any property path it is sent
 * (`constructor.constructor` reaches Function), so every message is checked
 * here first and rebuilt from validated primitives before comlink sees it
 * (docs/THREATS.md case 24). Anything else is dropped and counted.
 */
import type { MessagePort } from 'node:worker_threads';
import { expose } from '../shared/control-plane.js';
import type { Endpoint } from '../shared/control-plane.js';
import type { PartitionControlApi } from '../shared/control-contract.js';
import type { ConnectionManager } from './connection-manager.js';
import type { PartitionPort } from './partition-port.js';
import { now } from '../shared/clock.js';

/**
 * The control contract, bound to one run of one partition (its port): once that run is down, every
 * call is refused, even one already on its way when the endpoint closed (a run let go while stuck
 * may go on calling; a restart gives the partition a new port and a new endpoint).
 */
export class PartitionControl implements PartitionControlApi {
  constructor(
    private readonly manager: ConnectionManager,
    private readonly port: PartitionPort,
  ) {}
  openQueuePair(qp: number) {
    return this.ended() ?? this.manager.openQueuePair(this.port, qp);
  }
  resetQueuePair(qp: number) {
    return this.ended() ?? this.manager.resetQueuePair(this.port, qp);
  }
  listen(qp: number, service: number) {
    return this.ended() ?? this.manager.listen(this.port, qp, service);
  }
  unlisten(qp: number, service: number) {
    return this.ended() ?? this.manager.unlisten(this.port, qp, service);
  }
  accept(qp: number, service: number) {
    return this.ended() ?? this.manager.accept(this.port, qp, service);
  }
  connect(qp: number, partitionId: number, service: number) {
    return this.ended() ?? this.manager.connect(this.port, qp, partitionId, service);
  }
  connectNode(qp: number, node: number, partitionId: number, service: number) {
    return this.ended() ?? this.manager.connectNode(this.port, qp, node, partitionId, service);
  }

  private ended(): { ok: false; code: 'EPERM'; message: string } | undefined {
    if (this.port.alive) return undefined;
    return { ok: false, code: 'EPERM', message: `this run of partition ${this.port.id} is over: it no longer acts for the partition` };
  }
}

const METHODS: ReadonlyMap<string, number> = new Map([
  ['openQueuePair', 1],
  ['resetQueuePair', 1],
  ['listen', 2],
  ['unlisten', 2],
  ['accept', 2],
  ['connect', 3],
  ['connectNode', 4],
]);
const MESSAGE_KEYS = new Set(['id', 'type', 'path', 'argumentList']);
const MAX_ID_LENGTH = 64;

interface CleanCall {
  id: string;
  type: 'APPLY';
  path: [string];
  argumentList: Array<{ type: 'RAW'; value: number }>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

/** A rebuilt, primitive-only call, or a reason to drop the message. */
export function checkControlMessage(data: unknown): CleanCall | string {
  if (!isPlainObject(data)) return 'not a plain object';
  for (const key of Object.keys(data)) if (!MESSAGE_KEYS.has(key)) return `unexpected field '${key.slice(0, 32)}'`;
  const { id, type, path, argumentList } = data;
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH) return 'bad id';
  if (type !== 'APPLY') return 'only method calls are allowed';
  if (!Array.isArray(path) || path.length !== 1 || typeof path[0] !== 'string') return 'bad method path';
  const arity = METHODS.get(path[0]);
  if (arity === undefined) return `unknown method '${path[0].slice(0, 32)}'`;
  if (!Array.isArray(argumentList) || argumentList.length !== arity) return `${path[0]} takes ${arity} arguments`;
  // Nothing but their elements: structured clone carries an array's named properties too, and a
  // call whose path or argument list held thousands of them (small objects with distinct keys)
  // cost the hardware ~50 ms to take in and passed as a call, so the pause after a dropped message
  // (case 59) never came: one every 2 ms held the hardware's thread (THREATS case 84).
  if (Object.keys(path).length !== 1 || Object.keys(argumentList).length !== arity) return 'arrays must hold only their elements';
  const args: CleanCall['argumentList'] = [];
  for (const wire of argumentList) {
    if (!isPlainObject(wire) || Object.keys(wire).length !== 2 || wire.type !== 'RAW') return 'arguments must be plain values';
    if (typeof wire.value !== 'number') return 'arguments must be numbers';
    args.push({ type: 'RAW', value: wire.value });
  }
  return { id, type: 'APPLY', path: [path[0]], argumentList: args };
}

/**
 * How many control messages of one partition the hardware takes in per window, at most. Node hands
 * a port's listener every message queued on it in one go, before the event loop turns again, and
 * the engine runs only between turns: a partition that posted calls (or anything at all) as fast
 * as it could kept the hardware's event loop in its messages, and every other partition's traffic
 * all but stopped (a review: an honest pair's round trips fell from ~4,800 to 16 in 2 s, while a
 * partition that spun as hard without posting took nothing from it). Past the budget the
 * partition's endpoint stops taking messages until the window ends (they wait in its port, in
 * order, and are all answered later), and the pause is counted (`controlRefusals`). 256 per 10 ms
 * is 25,600 a second: far more than an honest OS makes (a connect and close loop makes ~7,000).
 */
export const CONTROL_MESSAGES_PER_WINDOW = 256;
export const CONTROL_WINDOW_MS = 10;
/**
 * After each message the guard drops (no honest OS sends one), the partition's endpoint pauses:
 * BAD_MESSAGE_PAUSE_MS, doubling with each more, up to BAD_MESSAGE_PAUSE_MAX_MS; once that long
 * passed without one, it starts again (THREATS case 59). Node deserializes a message before any
 * listener sees it, so a count cannot bound what messages cost: one of a few thousand small
 * objects with distinct keys costs its poster ~1.4 ms and the hardware ~12 ms, and a partition
 * that posted few but such messages held the hardware's thread under the count of case 55. A
 * call the guard takes is a plain call with number arguments, cheap to deserialize; one that is
 * dear is dropped, and the pause after it bounds how often the hardware pays for one (the
 * messages queued behind wait undeserialized in the port).
 */
export const BAD_MESSAGE_PAUSE_MS = 10;
export const BAD_MESSAGE_PAUSE_MAX_MS = 1000;
/**
 * What one partition's control messages may take of the hardware's thread in one turn of its event
 * loop: at most CONTROL_MESSAGES_PER_TURN messages, or CONTROL_TURN_MS of the clock, after which its
 * endpoint rests CONTROL_REST_FACTOR times as long as they took (at least until the next turn), so
 * they take at most about a fifth of the thread while they come without end (THREATS case 85). The
 * window's budget alone counts messages per 10 ms of the clock, not of the hardware's CPU: a
 * hardware thread that gets little of a core (a loaded host, or a partition's own threads that only
 * spin, which any partition may start) takes fewer than 256 in a window, never pauses, and Node
 * hands over a port's whole queue before the event loop turns: with four such threads beside its
 * flood of calls, one partition held the hardware in its messages and the honest pair moved 8
 * messages in 1.5 s (3,056 with the threads alone). An honest OS's calls, a few at a time, take
 * microseconds and never rest; a rest refuses nothing and is not counted.
 */
export const CONTROL_MESSAGES_PER_TURN = 64;
export const CONTROL_TURN_MS = 1;
export const CONTROL_REST_FACTOR = 4;

/**
 * One partition's control budget: counts each message taken in, and pauses its endpoint once the
 * window's budget is spent, once its messages took their share of a turn, or after a message the
 * guard dropped.
 */
class ControlThrottle {
  private windowStart = -Infinity;
  private taken = 0;
  /** Messages taken since the event loop last turned (case 85), and whether a turn's end is watched for. */
  private takenThisTurn = 0;
  private turnStart = 0;
  private turnWatched = false;
  private paused = false;
  /** When the current pause ends (0: at the next turn), and what ends it. */
  private pausedUntil = 0;
  private resumeTimer: ReturnType<typeof setTimeout> | undefined;
  private resumeNextTurn: ReturnType<typeof setImmediate> | undefined;
  private closed = false;
  /** The pause after the last dropped message, and when that one came. */
  private badPause = 0;
  private lastBad = -Infinity;
  /** The endpoint's listeners, taken off while paused and put back after. */
  readonly listeners = new Map<unknown, (data: unknown) => void>();

  constructor(
    private readonly endpoint: MessagePort,
    private readonly onThrottled: () => void,
  ) {
    endpoint.once('close', () => {
      this.closed = true;
    });
  }

  /**
   * A message was taken in (before it is handled): past the window's budget, pause until the
   * window ends; past the turn's (case 85), rest.
   */
  take(): void {
    const t = now();
    if (t - this.windowStart >= CONTROL_WINDOW_MS) {
      this.windowStart = t;
      this.taken = 0;
    }
    if (!this.turnWatched) {
      // An immediate runs once the messages Node is handing over now are done: the turn ended.
      this.turnWatched = true;
      this.turnStart = t;
      setImmediate(() => {
        this.turnWatched = false;
        this.takenThisTurn = 0;
      }).unref();
    }
    if (this.paused) return;
    /** What this partition's messages took of the thread in this turn so far: from the first one's handling to this one's (its deserializing included). */
    const spent = t - this.turnStart;
    if (++this.taken >= CONTROL_MESSAGES_PER_WINDOW) {
      this.onThrottled();
      this.pause(this.windowStart + CONTROL_WINDOW_MS - t);
    } else if (++this.takenThisTurn >= CONTROL_MESSAGES_PER_TURN || spent >= CONTROL_TURN_MS) {
      const rest = spent * CONTROL_REST_FACTOR;
      if (rest >= 1) this.pause(rest);
      else this.pauseForTurn();
    }
  }

  /** The guard dropped the message just taken in (counted as a violation already): pause, longer for each more (BAD_MESSAGE_PAUSE_MS). */
  refused(): void {
    const t = now();
    this.badPause = t - this.lastBad > BAD_MESSAGE_PAUSE_MAX_MS ? BAD_MESSAGE_PAUSE_MS : Math.min(2 * this.badPause, BAD_MESSAGE_PAUSE_MAX_MS);
    this.lastBad = t;
    this.pause(this.badPause);
  }

  /** Pause for `ms`; a pause already running that ends sooner (a turn's) is made this long. */
  private pause(ms: number): void {
    const until = now() + Math.max(1, ms);
    if (this.paused && this.pausedUntil >= until) return;
    this.stopTaking();
    this.pausedUntil = until;
    this.resumeTimer = setTimeout(() => this.resume(), Math.max(1, ms));
    this.resumeTimer.unref();
  }

  /** Pause until the event loop has turned (the engine's slice runs meanwhile). */
  private pauseForTurn(): void {
    this.stopTaking();
    this.pausedUntil = 0;
    this.resumeNextTurn = setImmediate(() => this.resume());
    this.resumeNextTurn.unref();
  }

  private stopTaking(): void {
    clearTimeout(this.resumeTimer);
    clearImmediate(this.resumeNextTurn);
    this.resumeTimer = this.resumeNextTurn = undefined;
    if (this.paused) return;
    // Off the port: Node stops handing over the messages queued behind this one at once (they stay queued).
    this.paused = true;
    for (const listener of this.listeners.values()) this.endpoint.off('message', listener);
  }

  private resume(): void {
    this.resumeTimer = this.resumeNextTurn = undefined;
    this.paused = false;
    if (this.closed) return;
    for (const listener of this.listeners.values()) this.endpoint.on('message', listener);
  }

  add(handler: unknown, listener: (data: unknown) => void): void {
    this.listeners.set(handler, listener);
    if (!this.paused) this.endpoint.on('message', listener);
  }

  remove(handler: unknown): void {
    const listener = this.listeners.get(handler);
    if (listener !== undefined) this.endpoint.off('message', listener);
    this.listeners.delete(handler);
  }
}

/** Wrap a MessagePort so that only checked calls reach comlink, at most the throttle's budget of them per window. */
type Handler = Parameters<Endpoint['addEventListener']>[1];

function guardedEndpoint(endpoint: MessagePort, throttle: ControlThrottle, onBadMessage: (why: string) => void): Endpoint {
  return {
    postMessage: (message: unknown, transfer?: unknown[]) => endpoint.postMessage(message, transfer as never),
    addEventListener: (_type: string, handler: Handler) => {
      const listener = (data: unknown) => {
        throttle.take();
        const call = checkControlMessage(data);
        if (typeof call === 'string') {
          onBadMessage(call);
          throttle.refused();
          return;
        }
        const event = { data: call } as unknown as Parameters<Extract<Handler, (...a: never[]) => unknown>>[0];
        if (typeof handler === 'function') handler(event);
        else handler.handleEvent(event);
      };
      throttle.add(handler, listener);
    },
    removeEventListener: (_type: string, handler: Handler) => throttle.remove(handler),
  };
}

export function bindPartitionControl(
  control: PartitionControl,
  controlEndpoint: MessagePort,
  onBadMessage: (why: string) => void,
  /** The partition spent its control budget for a window: its endpoint pauses (counted). */
  onThrottled: () => void = () => {},
): void {
  const throttle = new ControlThrottle(controlEndpoint, onThrottled);
  // A message this thread cannot even deserialize (nesting too deep for it, …) never reaches 'message'; it spends the budget too.
  controlEndpoint.on('messageerror', () => {
    throttle.take();
    onBadMessage('message could not be deserialized');
    throttle.refused();
  });
  expose(control, guardedEndpoint(controlEndpoint, throttle, onBadMessage));
}
