/**
 * A comlink Endpoint (postMessage / addEventListener / removeEventListener)
 * over one verified channel, so comlink's wrap/expose run between two
 * processes in different partitions.
 *
 * Each message is a structured clone (`node:v8` serialize), cut into
 * fragments that fit a channel message: one flag byte (more follows, or the
 * last) and a piece of the serialization. Nothing can be transferred: a
 * transfer list names memory or ports of this thread, and partitions share
 * none (invariant 3), so one is refused with EINVAL.
 *
 * Nothing hangs: when the channel ends or dies, every call still waiting for
 * its answer is answered with the ChannelError (ECLOSED, EPEERDEAD, …), and
 * so is every call made afterwards.
 */
import { types } from 'node:util';
import { DefaultDeserializer, getHeapStatistics, serialize } from 'node:v8';
import { answerWithError, thrownFromTheWire, type Endpoint } from '../shared/control-plane.js';
import { ChannelError, describeValue, MachineError } from '../shared/errors.js';
import type { Channel } from './channel.js';
import { cloneCost } from './clone-cost.js';
import { comlinkHeld } from './comlink-held.js';

const LAST = 0;
const MORE = 1;
/**
 * The largest message a peer may make this side reassemble. The peer is
 * another partition and is not trusted to keep its fragments finite.
 */
export const MAX_RPC_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Bounds on what a peer may ask of the serving side (it is another partition, and not trusted). */
const MAX_CALL_ID_LENGTH = 256;
const MAX_PATH_LENGTH = 64;
/** Calls running on the api at once; more are answered with an error. */
const MAX_CALLS_WAITING = 4096;
/** Calls answered with "serves nothing" before the calling-only side ends the channel. */
const MAX_CALLS_REFUSED_AS_CALLER = 64;
/** Messages waiting for ring space to go out (the peer is not reading); past this the channel ends. */
const MAX_MESSAGES_QUEUED = 65_536;

/** Past this many bytes waiting on every channel, a serving side looks whether they hold more than its budget (case 80). */
const QUEUED_BYTES_FLOOR = 4 * 1024 * 1024;

/** Half of this partition's free heap: what one message may take in (case 60), and what comlink's buffers outside the heap may hold together (cases 79, 80). */
function halfFreeHeap(): number {
  const heap = getHeapStatistics();
  return Math.max(0, heap.heap_size_limit - heap.used_heap_size) / 2;
}

/**
 * node:v8's deserializer, but each typed array and Buffer it makes has memory of its own (THREATS case
 * 87). Node's makes them views of the message's own bytes: an api that kept a 1-byte Uint8Array a
 * caller passed kept the whole buffer the message was gathered in (up to 64 MiB, outside the heap,
 * no longer counted by case 79 once whole), and a caller that sent each 1-byte value beside an
 * argument of 4 MiB the api ignores made a key-value store that keeps values of at most 1 KiB pin
 * 8 MiB per value (20 values: 160 MiB, in a partition of a 64 MiB heap).
 */
class OwnDeserializer extends DefaultDeserializer {
  _readHostObject(): unknown {
    const view = (DefaultDeserializer.prototype as unknown as { _readHostObject(this: DefaultDeserializer): ArrayBufferView })._readHostObject.call(this);
    if (view.buffer.byteLength === view.byteLength) return view;
    const own = new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice().buffer;
    // Not `new Buffer(…)` for a Buffer (its constructor property): deprecated, and it warns on stderr.
    if (Buffer.isBuffer(view)) return Buffer.from(own);
    return new (view.constructor as new (buffer: ArrayBuffer) => ArrayBufferView)(own);
  }
}

function deserialize(bytes: Uint8Array): unknown {
  const deserializer = new OwnDeserializer(bytes);
  deserializer.readHeader();
  return deserializer.readValue();
}

/** The message types comlink's wrap side sends; each waits for an answer with its id. */
const REQUEST_TYPES = new Set(['GET', 'SET', 'APPLY', 'CONSTRUCT', 'ENDPOINT', 'RELEASE']);

type Listener = ((event: { data: unknown }) => void) | { handleEvent(event: { data: unknown }): void };

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

function requestId(message: unknown): string | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const { id, type } = message as { id?: unknown; type?: unknown };
  return typeof id === 'string' && typeof type === 'string' && REQUEST_TYPES.has(type) ? id : undefined;
}

/** What a message the serving side refused was, for the error: its type and the kind of its id. */
function requestShape(message: unknown): string {
  if (typeof message !== 'object' || message === null) return describeValue(message);
  const { id, type } = message as { id?: unknown; type?: unknown };
  return `type ${typeof type === 'string' ? JSON.stringify(type.slice(0, 32)) : describeValue(type)}, id ${typeof id === 'string' ? 'a string' : describeValue(id)}`;
}

/** An answer, as comlink's expose side writes one for a call that threw `error`, for this side to send. */
function thrownAnswer(id: string, error: Error): object {
  return { id, type: 'HANDLER', name: 'throw', value: { isError: true, value: { name: error.name, message: error.message, stack: error.stack } } };
}

/** What ownOrInherited found: nothing, a getter or setter, a name from the prototypes every object shares, or a value. */
const MISSING = 0;
const ACCESSOR = 1;
const SHARED = 2;

/**
 * Property `name` of `holder`, looked up along its prototype chain by descriptors (no getter runs).
 * A name reached on Object.prototype or Function.prototype, and `__proto__`, `constructor` and
 * `prototype` anywhere, are SHARED: no api offers those to a caller in another partition.
 */
function ownOrInherited(holder: unknown, name: string): typeof MISSING | typeof ACCESSOR | typeof SHARED | { value: unknown } {
  if (name === '__proto__' || name === 'constructor' || name === 'prototype') return SHARED;
  if (holder === null || (typeof holder !== 'object' && typeof holder !== 'function')) return MISSING;
  for (let o: object | null = holder; o !== null; o = Object.getPrototypeOf(o)) {
    if (o === Object.prototype || o === Function.prototype) return name in o ? SHARED : MISSING;
    const d = Object.getOwnPropertyDescriptor(o, name);
    if (d !== undefined) return 'value' in d ? { value: d.value } : ACCESSOR;
  }
  return MISSING;
}

/**
 * Whether `path` leads from `api` through plain values (no getter) to a setter the api defines: the
 * only place a caller's SET may write. Not one its values inherit from a class of the platform
 * (URL's `href`, a MessagePort's `onmessage`, …): a URL the api holds is data it serves, and its
 * setter is no choice of the api to take a caller's value (THREATS case 75).
 */
function setterAt(api: object, path: readonly string[]): boolean {
  let target: unknown = api;
  for (let i = 0; i < path.length - 1; i++) {
    const found = ownOrInherited(target, path[i]);
    if (typeof found !== 'object') return false;
    target = found.value;
  }
  const name = path[path.length - 1];
  if (name === undefined || ownOrInherited(target, name) !== ACCESSOR) return false;
  const holder = holderOf(target as object, name);
  return Object.getOwnPropertyDescriptor(holder, name)?.set !== undefined && !isPlatformPrototype(holder);
}

/** The object along `o`'s prototype chain that holds its own property `name` (by descriptors: no getter runs). */
function holderOf(o: object, name: string): object {
  for (let at: object | null = o; at !== null; at = Object.getPrototypeOf(at)) if (Object.getOwnPropertyDescriptor(at, name) !== undefined) return at;
  return o;
}

/**
 * Whether `o` is the prototype of one of the platform's classes: one on globalThis (URL,
 * MessagePort, Map, EventTarget, …) or one built into V8 or Node (%TypedArray%, whose methods every
 * typed array inherits).
 */
function isPlatformPrototype(o: object): boolean {
  let known = platformPrototypes.get(o);
  if (known === undefined) {
    known = lookUpPlatformPrototype(o);
    platformPrototypes.set(o, known);
  }
  return known;
}

/**
 * isPlatformPrototype's answers, by prototype: the look prints the class's source (all of it, for
 * an api's own class), once per prototype rather than once per call.
 */
const platformPrototypes = new WeakMap<object, boolean>();

function lookUpPlatformPrototype(o: object): boolean {
  const ctor = Object.getOwnPropertyDescriptor(o, 'constructor')?.value as unknown;
  if (typeof ctor !== 'function' || ctor.prototype !== o) return false;
  if (Function.prototype.toString.call(ctor).endsWith('{ [native code] }')) return true;
  // Node defines some globals (MessagePort, AbortSignal, Blob, …) by getters that load them once.
  return Object.getOwnPropertyDescriptor(globalThis, ctor.name) !== undefined && Reflect.get(globalThis, ctor.name) === ctor;
}

/** The methods an api offers (own and inherited, not Object's), for the error about a call of one it lacks. */
function methodNames(api: object): string[] {
  const names = new Set<string>();
  for (let o: object | null = api; o !== null && o !== Object.prototype && o !== Function.prototype; o = Object.getPrototypeOf(o)) {
    // Descriptors, not reads: a getter is not run to list the methods.
    for (const [name, d] of Object.entries(Object.getOwnPropertyDescriptors(o))) if (name !== 'constructor' && typeof d.value === 'function') names.add(name);
  }
  return [...names].sort((a, b) => a.localeCompare(b));
}

export class ChannelEndpoint implements Endpoint {
  private readonly listeners = new Set<Listener>();
  /** Requests this side sent that have no answer yet, by call id. */
  private readonly unanswered = new Map<string, unknown>();
  /** Sends go out in order, one after another; each waits for ring space. */
  private sending: Promise<void> = Promise.resolve();
  private receiving = false;
  /** Why the channel can carry nothing more; set once. */
  private failure: ChannelError | undefined;
  private readonly endWaiters: Array<(error: ChannelError | undefined) => void> = [];

  /** On the serving side: what each call still being answered asked for (`add()`, `version`), for the errors about its answer. */
  private readonly calls = new Map<string, string>();
  /** A RELEASE reached comlink's expose, which serves nothing after it. */
  private released = false;
  private refusedAsCaller = 0;
  /** Messages posted and not yet written to the channel (waiting for ring space), and their bytes. */
  private queued = 0;
  private queuedHere = 0;

  /**
   * `served`: the object this side serves (exposeOverChannel), whose calls are checked here first;
   * undefined on the calling side (wrapChannel), which answers any call with why it cannot.
   */
  constructor(
    private readonly channel: Channel,
    private readonly served?: object,
  ) {}

  postMessage(message: unknown, transfer?: readonly unknown[]): void {
    if (transfer !== undefined && transfer.length > 0) {
      throw new ChannelError(
        'EINVAL',
        `comlink over channel ${this.channel.handle}: transfer lists cannot cross partitions (nothing is shared between them); ` +
          'pass the data itself (it is copied), and no MessagePort or comlink.proxy() callback',
      );
    }
    const answering = this.answerTo(message);
    let bytes: Uint8Array;
    try {
      bytes = this.serialize(message);
    } catch (e) {
      // comlink would answer "Unserializable return value", naming neither the call nor the value.
      if (answering === undefined) throw e;
      const value = (message as { value?: unknown }).value;
      bytes = this.serialize(
        thrownAnswer(
          answering.id,
          new TypeError(
            `comlink: ${answering.call} of the api served gave ${describeValue(value)}, which cannot cross partitions ` +
              '(results are copied by structured clone: plain data, typed arrays, Map, Set, Date, errors; no functions or symbols)',
          ),
        ),
      );
    }
    const id = requestId(message);
    if (this.failure !== undefined) {
      // An answer for a peer that is gone is dropped; a request is answered with why.
      if (id !== undefined) queueMicrotask(() => this.dispatch({ data: answerWithError(message, id, this.failure!) }));
      return;
    }
    if (id !== undefined) this.unanswered.set(id, message);
    const size = bytes.byteLength;
    if (++this.queued > MAX_MESSAGES_QUEUED) {
      // The peer has read none of these: holding more would only grow this partition's memory.
      this.fail(this.protocolError(`nothing while ${MAX_MESSAGES_QUEUED} messages waited to be sent to it`, 'read'));
      void this.channel.close().catch(() => {});
      return;
    }
    this.queuedHere += size;
    comlinkHeld.queued += size;
    const sent = (): void => {
      this.queued--;
      this.queuedHere -= size;
      comlinkHeld.queued -= size;
    };
    this.sending = this.sending
      .then(() => this.sendFragments(bytes))
      // Counted out whether it went or not: comlinkHeld.queued is every channel's, and must not drift.
      .then(sent, (e: unknown) => {
        sent();
        this.fail(e);
      });
  }

  /** An answer of the serving side to a call it was asked (forgotten as it goes out), or undefined. */
  private answerTo(message: unknown): { id: string; call: string } | undefined {
    const id = (message as { id?: unknown } | null)?.id;
    if (typeof id !== 'string' || requestId(message) !== undefined) return undefined;
    const call = this.calls.get(id);
    if (call === undefined) return undefined;
    this.calls.delete(id);
    return { id, call };
  }

  /**
   * A call that cannot be served here, answered at once with why: on the calling side any call (the
   * peer called wrapChannel too, so nobody serves, and its call would wait for good); on the serving
   * side a call of something the api does not have, of a property that is not a method, of a name
   * that would reach past the api into the prototypes every object shares (`__proto__`,
   * `constructor`, `toString`, …: a peer could otherwise set `Object.prototype` properties here), or
   * past the bounds below. Else undefined, and the call is recorded for the errors about its answer.
   * The api is looked up by property descriptors: no getter of it runs here (comlink runs it, once).
   */
  private refusal(data: unknown): object | undefined {
    const id = requestId(data);
    if (id === undefined) {
      // The calling side takes answers, which carry no request type. The serving side takes only
      // requests as comlink's wrap makes them, each with a string id: comlink's expose acts on a
      // request whatever its id is, and one without a string id would pass every check below (a
      // caller set Object.prototype properties here and replaced the api's methods: THREATS case 73).
      if (this.served !== undefined) throw this.protocolError(`a message that is not a comlink request with a string call id (${requestShape(data)})`);
      return undefined;
    }
    if (id.length > MAX_CALL_ID_LENGTH) throw this.protocolError(`a call id of ${id.length} characters (comlink makes short ones)`);
    const { type, path } = data as { type: string; path?: unknown };
    // These errors reach the caller, in the other partition: they name nothing only this side knows (its channel handle).
    if (this.served === undefined) {
      if (++this.refusedAsCaller > MAX_CALLS_REFUSED_AS_CALLER) throw this.protocolError(`${MAX_CALLS_REFUSED_AS_CALLER} calls to a side that serves nothing`);
      return thrownAnswer(id, new Error('comlink: the process called serves nothing; it calls with wrapChannel() too. One side must serve with exposeOverChannel(api, channel)'));
    }
    // The calls running are counted by the ids waiting for their answer: one id reused while its
    // call runs counted every call after the first as that one, and ran them past the bound below
    // (case 117). comlink's wrap gives every call a fresh random id, so only a hostile peer repeats one.
    if (this.calls.has(id)) throw this.protocolError(`a second call with id ${JSON.stringify(id)} while the first still runs (comlink gives every call its own id)`);
    if (this.released) return thrownAnswer(id, new Error('comlink: the api was released by a proxy of it (releaseProxy); call through a new wrapChannel on a new channel'));
    if (this.calls.size >= MAX_CALLS_WAITING) return thrownAnswer(id, new Error(`comlink: ${MAX_CALLS_WAITING} calls are still running on the api served; await some before making more`));
    if (type === 'ENDPOINT') return thrownAnswer(id, new TypeError('comlink: createEndpoint makes a MessagePort, which cannot cross partitions; open another channel instead'));
    if (type === 'CONSTRUCT') return thrownAnswer(id, new TypeError('comlink: `new` on the api served answers with a proxy of the new object, which cannot cross partitions; call a method that returns plain data'));
    if (!Array.isArray(path) || path.length > MAX_PATH_LENGTH || !path.every((p) => typeof p === 'string')) {
      throw this.protocolError('a call whose path is not a short list of property names');
    }
    const names = path as string[];
    let target: unknown = this.served;
    for (let i = 0; i < names.length; i++) {
      const found = ownOrInherited(target, names[i]);
      const name = names.slice(0, i + 1).join('.');
      if (found === SHARED) return thrownAnswer(id, new TypeError(`comlink: ${name} is not part of the api served (names every object has, like __proto__ or toString, are refused)`));
      // A getter: comlink runs it (and answers with what it throws); nothing past it is checked here,
      // which runs no getter. So no call past one: what it returns is not looked at, and a caller
      // called `items.__proto__.push` past `get items()` (Array.prototype grew an element in the
      // serving partition) or `items.push` on the array it hands out (THREATS case 77). A SET past one
      // is refused by setterAt; a GET only reads.
      if (found === ACCESSOR) {
        if (type === 'APPLY' && i < names.length - 1) {
          return thrownAnswer(
            id,
            new TypeError(
              `comlink: ${names.join('.')} is reached through ${name}, a getter of the api served: a caller in another partition calls only methods reached through the api's plain properties (read the getter's value with \`await remote.${name}\`)`,
            ),
          );
        }
        break;
      }
      if (found === MISSING && (type === 'APPLY' || i < names.length - 1)) {
        const has = i === 0 ? methodNames(this.served) : [];
        return thrownAnswer(id, new TypeError(`comlink: the api served has no ${name}${has.length > 0 ? ` (its methods: ${has.join(', ')})` : ''}`));
      }
      const parent = target;
      target = found === MISSING ? undefined : found.value;
      if (i === names.length - 1 && type === 'APPLY' && typeof target !== 'function') {
        return thrownAnswer(id, new TypeError(`comlink: ${name} of the api served is ${describeValue(target)}, not a method: read it with \`await remote.${name}\`, without calling it`));
      }
      // A method the api's values inherit from the platform (an array's push, a Map's clear, a
      // Date's setTime) is no method of the api: a caller changed what every other caller is
      // served through one, and hoarded data on the api until the server ran out of heap (case 76).
      if (i === names.length - 1 && type === 'APPLY' && isPlatformPrototype(holderOf(parent as object, names[i]))) {
        return thrownAnswer(
          id,
          new TypeError(`comlink: ${name} is a method of a platform class a value of the api served inherits, not of the api: a caller in another partition calls only the api's own methods`),
        );
      }
    }
    if (names.length === 0 && type === 'APPLY' && typeof this.served !== 'function') {
      return thrownAnswer(id, new TypeError(`comlink: the api served is ${describeValue(this.served)}, not a function: call one of its methods`));
    }
    // comlink's expose assigns whatever a SET names: a caller replaced a method the server's other
    // callers use (one api served to many channels), and hoarded data on the api until the serving
    // partition ran out of heap (THREATS case 69). A setter is the api's own choice to take a value.
    if (type === 'SET' && !setterAt(this.served, names)) {
      const what = names.length === 0 ? 'the api served' : `${names.join('.')} of the api served`;
      return thrownAnswer(
        id,
        new TypeError(`comlink: ${what} cannot be set by its caller (a caller in another partition changes the api only through its methods, or a setter the api defines)`),
      );
    }
    if (type === 'RELEASE') this.released = true;
    const call = names.join('.');
    this.calls.set(id, type === 'APPLY' ? `${call}()` : call === '' ? 'the api' : call);
    return undefined;
  }

  /** The caller learns at once, with EINVAL, of what structured clone cannot copy (functions, …). */
  private serialize(message: unknown): Uint8Array {
    try {
      return serialize(message);
    } catch (e) {
      throw new ChannelError(
        'EINVAL',
        `comlink over channel ${this.channel.handle}: ${(e as Error).message} (arguments and results are copied by structured clone: ` +
          'plain data, typed arrays, Map, Set, Date, errors; no functions or symbols, and a class instance arrives as a plain object without its methods)',
      );
    }
  }

  private async sendFragments(bytes: Uint8Array): Promise<void> {
    if (this.failure !== undefined) return;
    const piece = this.channel.maxMessageBytes - 1;
    for (let at = 0; at === 0 || at < bytes.byteLength; at += piece) {
      const end = Math.min(at + piece, bytes.byteLength);
      const fragment = new Uint8Array(1 + end - at);
      fragment[0] = end === bytes.byteLength ? LAST : MORE;
      fragment.set(bytes.subarray(at, end), 1);
      await this.channel.write(fragment);
    }
  }

  addEventListener(type: string, listener: Listener): void {
    if (type !== 'message') return;
    this.listeners.add(listener);
    if (!this.receiving) {
      this.receiving = true;
      void this.receive();
    }
  }

  removeEventListener(type: string, listener: Listener): void {
    if (type === 'message') this.listeners.delete(listener);
  }

  /** Resolves once the channel is closed, by either side (undefined), or with the error it died of. */
  ended(): Promise<ChannelError | undefined> {
    if (this.failure !== undefined) return Promise.resolve(this.endError());
    return new Promise((resolve) => this.endWaiters.push(resolve));
  }

  /** A close by either side (ECLOSED) is how a conversation ends; anything else is what killed it. */
  private endError(): ChannelError | undefined {
    return this.failure?.code === 'ECLOSED' ? undefined : this.failure;
  }

  private async receive(): Promise<void> {
    // A message of several fragments is copied together as they come: keeping each fragment's view
    // until the last cost ~200 bytes of heap a fragment, whatever it held (THREATS case 60).
    let gathered = new Uint8Array(0);
    let size = 0;
    const full = this.channel.maxMessageBytes;
    try {
      for await (const m of this.channel) {
        if (m.byteLength === 0 || (m[0] !== LAST && m[0] !== MORE)) {
          throw this.protocolError(`a message without a fragment flag (first byte ${m[0]})`);
        }
        // sendFragments() fills every fragment but the last: a short one flagged MORE is no sender's of ours.
        if (m[0] === MORE && m.byteLength !== full) throw this.protocolError(`a fragment of ${m.byteLength} bytes flagged "more follows" (all but the last are ${full} bytes)`);
        if (size + m.byteLength - 1 > MAX_RPC_MESSAGE_BYTES) {
          throw new ChannelError('EMSGSIZE', `comlink over channel ${this.channel.handle}: the peer sent a message over ${MAX_RPC_MESSAGE_BYTES} bytes`);
        }
        let whole: Uint8Array;
        if (size === 0 && m[0] === LAST) whole = m.subarray(1);
        else {
          if (size + m.byteLength - 1 > gathered.byteLength) {
            const needed = size + m.byteLength - 1;
            // Only when the buffer grows (it doubles), not per fragment: case 79's bound over every channel.
            const grownBytes = this.gatheringRoom(needed, gathered.byteLength, Math.min(MAX_RPC_MESSAGE_BYTES, Math.max(2 * gathered.byteLength, needed, 64 * 1024)));
            const grown = new Uint8Array(grownBytes);
            grown.set(gathered.subarray(0, size));
            comlinkHeld.gathering += grownBytes - gathered.byteLength;
            gathered = grown;
          }
          gathered.set(m.subarray(1), size);
          size += m.byteLength - 1;
          if (m[0] === MORE) continue;
          whole = gathered.subarray(0, size);
          comlinkHeld.gathering -= gathered.byteLength;
          gathered = new Uint8Array(0);
          size = 0;
        }
        this.checkCost(whole);
        let data: unknown;
        try {
          data = deserialize(whole);
        } catch (e) {
          throw this.protocolError(`a message that is not a structured clone (${(e as Error).message})`);
        }
        const refused = this.refusal(data);
        if (refused !== undefined) this.postMessage(refused);
        else this.dispatchRequest(data); // a thrown error is rebuilt by control-plane.ts's `throw` handler, with its class and code
        // Case 80: answers pile up only when the caller reads them slower than it asks; then read
        // no more of its requests until this channel's answers went. Not on the calling side: what
        // waits there is its own program's calls. The heap is looked at only past the floor.
        if (this.served !== undefined && this.queuedHere > 0 && comlinkHeld.queued > QUEUED_BYTES_FLOOR && comlinkHeld.queued > halfFreeHeap()) {
          await this.sending;
        }
      }
      this.fail(new ChannelError('ECLOSED', `channel ${this.channel.handle} was closed`));
    } catch (e) {
      this.fail(e);
      await this.channel.close().catch(() => {});
    } finally {
      // A message cut off by the channel's end (or refused) holds nothing more.
      comlinkHeld.gathering -= gathered.byteLength;
    }
  }

  /**
   * The size the buffer of a partial message that already holds `held` bytes may grow to: `wanted`
   * (doubling), less where that would take what every partial message of this thread holds together
   * past half the heap's free room (case 79), checkCost's budget for one whole message; at least
   * `needed`, the bytes that arrived, or the message is refused: one that large would be refused
   * when whole anyway, so an honest message is never refused here for its own size alone.
   */
  private gatheringRoom(needed: number, held: number, wanted: number): number {
    const budget = halfFreeHeap();
    const room = budget - (comlinkHeld.gathering - held);
    if (needed > room) {
      throw this.protocolError(
        `${needed} bytes of a message whose last fragment has not come, while this partition's other unfinished messages, on every channel, ` +
          `hold ${mib(comlinkHeld.gathering - held)}: together they may hold at most ${mib(budget)} (half of this partition's free heap, the most one whole message may take); ` +
          "send large values in several calls, or raise the receiving partition's resourceLimits.maxOldGenerationSizeMb",
      );
    }
    return Math.max(needed, Math.min(wanted, Math.floor(room)));
  }

  /**
   * Refuse a message whose deserialization would take more than half of this partition's free
   * heap (THREATS case 60): the wire format is far denser than what it builds (an empty Map, 3
   * bytes, costs ~200 bytes of heap), and the peer is another partition.
   */
  private checkCost(whole: Uint8Array): void {
    const budget = halfFreeHeap();
    const cost = cloneCost(whole, budget);
    if ('refused' in cost) throw this.protocolError(`a message that is not a structured clone this side takes (${cost.refused})`);
    if (cost.bytes > budget) {
      throw this.protocolError(
        `a message that would take more than ${mib(budget)} of heap to take in (${whole.byteLength} bytes on the wire; ${mib(2 * budget)} of this partition's heap is free, and half of that is the most one message may take)`,
      );
    }
  }

  private protocolError(what: string, did = 'sent'): ChannelError {
    return new ChannelError('EINVAL', `comlink over channel ${this.channel.handle}: partition ${this.channel.peer.partition} ${did} ${what}`);
  }

  /**
   * Hand a message to comlink. On the serving side its expose listener reads a request's argument list
   * before its own try, so an argument the caller marked with comlink's `throw` handler throws, out of
   * here, whatever value the caller wrote: that is the caller's protocol error, EINVAL. Passed on as it
   * came, a ChannelError the caller wrote (EHWRESET, "the hardware worker stopped") ended
   * exposeOverChannel as the serving partition's own machine's failure, and a thrown object no string
   * conversion takes threw out of fail(), unhandled, and crashed the serving partition (THREATS case
   * 120). The same holds for an Error of any class the caller's record names (a TypeError with a
   * `code` of its choosing): whatever the `throw` handler made (thrownFromTheWire). comlink's own
   * TypeErrors (an argument list it cannot take) end the channel as before.
   */
  private dispatchRequest(data: unknown): void {
    try {
      this.dispatch({ data });
    } catch (e) {
      if (this.served === undefined || (types.isNativeError(e) && !thrownFromTheWire(e))) throw e;
      const code = (e as { code?: unknown } | null)?.code;
      const what = e instanceof Error && typeof code === 'string' ? `a ${e.name} ${code}` : describeValue(e);
      throw this.protocolError(`a request whose argument list threw ${what} as comlink's expose side took it in (an argument marked with comlink's throw handler)`);
    }
  }

  private dispatch(event: { data: unknown }): void {
    const id = (event.data as { id?: unknown } | null)?.id;
    if (typeof id === 'string') this.unanswered.delete(id);
    for (const listener of [...this.listeners]) {
      if (typeof listener === 'function') listener(event);
      else listener.handleEvent(event);
    }
  }

  /** The channel ended or died: every unanswered request learns why, now and for every later one. */
  private fail(e: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = e instanceof ChannelError ? e : new ChannelError('EINVAL', `comlink over channel ${this.channel.handle}: ${String(e)}`);
    // Calls made after a close get the failure itself (postMessage); these were waiting when it came.
    const waiting = this.failure.code === 'ECLOSED' ? new ChannelError('ECLOSED', `${this.failure.detail} before the answer came`) : this.failure;
    for (const [id, request] of [...this.unanswered]) this.dispatch({ data: answerWithError(request, id, waiting) });
    for (const resolve of this.endWaiters.splice(0)) resolve(this.endError());
  }
}
