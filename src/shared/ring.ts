/**
 * The single-producer, single-consumer record ring over a SharedArrayBuffer.
 *
 * Each side keeps its own position in a private field and only publishes it;
 * it never reads its own word back from shared memory (the other side, or an
 * attacker, may have scribbled over it). The other side's word is read once
 * per refresh into a local, and checked: a position that claims more bytes
 * than the ring holds puts the ring in the FAULT state until reset.
 *
 * Positions are free-running byte counts that wrap at 2^32. Each side keeps
 * its own as a signed 32-bit integer (`| 0`, the word's bits read through an
 * Int32Array), not as an unsigned one (`>>> 0`): past 2^31 bytes an unsigned
 * position no longer fits an int32, V8 moved every position field and every
 * sum and comparison on it to floating point, and the engine's loop ran 35–75%
 * slower for good once 2 GiB had passed through one ring of its thread.
 * Distances between positions are still taken as `(a - b) >>> 0`.
 */
import {
  alignUp,
  MAX_RING_CAPACITY,
  maxRecordBytes,
  MIN_RING_CAPACITY,
  RecordLayout,
  RecordType,
  RING_CAPACITY_OFFSET,
  RING_BLOCKED_CHANNEL_OFFSET,
  RING_BLOCKED_OFFSET,
  RING_CONSUMER_POSITION_OFFSET,
  RING_DATA_BELL_OFFSET,
  RING_DATA_WAITING_OFFSET,
  RING_HEADER_BYTES,
  RING_OTHERS_WAITING_OFFSET,
  RING_PRODUCER_POSITION_OFFSET,
  RING_SPACE_BELL_OFFSET,
  RING_SPACE_WAITING_OFFSET,
  ringRegionBytes,
} from './layout.js';
import { LayoutError } from './errors.js';
import { ringBell, sleepAsync, sleepSync } from './wait.js';

/** Where a ring's wake-up flags and bells live (Int32 word indices). */
export interface RingSignals {
  /** Raised by the consumer before it sleeps waiting for data. */
  readonly dataWaiting: number;
  /** Rung by the producer when dataWaiting is raised. */
  readonly dataBell: number;
  /** Raised by the producer before it sleeps waiting for space. */
  readonly spaceWaiting: number;
  /** Rung by the consumer when spaceWaiting is raised. */
  readonly spaceBell: number;
}

/** The ring's own signal words; a port may point some of them at its hardware doorbell instead. */
export function ownSignals(base: number): RingSignals {
  return {
    dataWaiting: (base + RING_DATA_WAITING_OFFSET) >> 2,
    dataBell: (base + RING_DATA_BELL_OFFSET) >> 2,
    spaceWaiting: (base + RING_SPACE_WAITING_OFFSET) >> 2,
    spaceBell: (base + RING_SPACE_BELL_OFFSET) >> 2,
  };
}

export interface RingLocation {
  readonly buffer: SharedArrayBuffer;
  /** Byte offset of the ring region (its header) in the buffer; a multiple of 64. */
  readonly base: number;
  /** Data bytes; a power of two. */
  readonly capacity: number;
  readonly signals?: RingSignals;
}

/**
 * What poll() and tryClaim() answer besides a record type or an offset. A const enum, so tsc
 * writes the numbers into the code that compares with them: a module-level const costs a load of
 * its module cell and a check of it wherever it is read, once per message in the engine's runs.
 */
export const enum RingAnswer {
  EMPTY = 0,
  FAULT = -1,
  FULL = -2,
}

/** RingConsumer's refreshLimit(), besides EMPTY and FAULT: the producer has published past the consumer. */
const enum Refresh {
  HAS_DATA = 1,
}

/** Result of RingConsumer.poll() when nothing is ready. */
export const EMPTY = RingAnswer.EMPTY;
/** Result of poll()/tryClaim() once the other side broke the ring's rules. */
export const FAULT = RingAnswer.FAULT;
/** Result of tryClaim() when the record does not fit yet. */
export const FULL = RingAnswer.FULL;

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

function checkCapacity(capacity: number): void {
  if (!isPowerOfTwo(capacity) || capacity < MIN_RING_CAPACITY || capacity > MAX_RING_CAPACITY) {
    throw new LayoutError(
      `ring capacity ${capacity} must be a power of two between ${MIN_RING_CAPACITY} and ${MAX_RING_CAPACITY}`,
    );
  }
}

function checkLocation(loc: RingLocation): void {
  const { buffer, base, capacity } = loc;
  if (!(buffer instanceof SharedArrayBuffer)) {
    throw new LayoutError('ring buffer must be a SharedArrayBuffer');
  }
  checkCapacity(capacity);
  if (!Number.isInteger(base) || base < 0 || base % 64 !== 0) {
    throw new LayoutError(`ring base ${base} must be a non-negative multiple of 64`);
  }
  const end = base + ringRegionBytes(capacity);
  if (end > buffer.byteLength) {
    throw new LayoutError(
      `ring at ${base} with capacity ${capacity} needs ${ringRegionBytes(capacity)} bytes (up to ${end}) ` +
        `but the buffer has ${buffer.byteLength}`,
    );
  }
}

/** Allocate a standalone ring (the owner's side). */
export function allocateRing(capacity: number, initialPosition = 0): RingLocation {
  checkCapacity(capacity);
  const buffer = new SharedArrayBuffer(ringRegionBytes(capacity));
  initRing(buffer, 0, capacity, initialPosition);
  return { buffer, base: 0, capacity };
}

/** Write a fresh ring header into an owned buffer. */
/** A start position must sit on a record boundary, or every header lands off its alignment. */
function checkPosition(position: number): void {
  if (!Number.isInteger(position) || position % RecordLayout.ALIGN_BYTES !== 0) {
    throw new LayoutError(`ring position ${position} must be an integer multiple of ${RecordLayout.ALIGN_BYTES}`);
  }
}

export function initRing(buffer: SharedArrayBuffer, base: number, capacity: number, initialPosition = 0): void {
  checkLocation({ buffer, base, capacity });
  checkPosition(initialPosition);
  const u32 = new Uint32Array(buffer);
  u32[(base + RING_CAPACITY_OFFSET) >> 2] = capacity;
  Atomics.store(u32, (base + RING_PRODUCER_POSITION_OFFSET) >> 2, initialPosition >>> 0);
  Atomics.store(u32, (base + RING_CONSUMER_POSITION_OFFSET) >> 2, initialPosition >>> 0);
}

/**
 * A peer's view of a ring it was given: checks that the buffer is large enough
 * and that the capacity written by the owner matches what the peer expects.
 */
export function attachRing(buffer: SharedArrayBuffer, base: number, expectedCapacity?: number): RingLocation {
  if (!(buffer instanceof SharedArrayBuffer)) throw new LayoutError('ring buffer must be a SharedArrayBuffer');
  if (!Number.isInteger(base) || base < 0 || base + RING_HEADER_BYTES > buffer.byteLength) {
    throw new LayoutError(`ring base ${base} is outside the buffer of ${buffer.byteLength} bytes`);
  }
  const capacity = new Uint32Array(buffer)[(base + RING_CAPACITY_OFFSET) >> 2];
  if (expectedCapacity !== undefined && capacity !== expectedCapacity) {
    throw new LayoutError(`ring at ${base} has capacity ${capacity}, expected ${expectedCapacity}`);
  }
  const loc = { buffer, base, capacity };
  checkLocation(loc);
  return loc;
}

abstract class RingSide {
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly capacity: number;
  readonly maxRecordBytes: number;
  /** Byte offset of the data area in the buffer. */
  readonly dataStart: number;
  protected readonly mask: number;
  protected readonly producerWord: number;
  protected readonly consumerWord: number;
  /** The hint word of a send ring (RING_OTHERS_WAITING_OFFSET), and the words naming its blocked head (RING_BLOCKED_OFFSET). */
  protected readonly othersWaitingWord: number;
  protected readonly blockedWord: number;
  protected readonly blockedChannelWord: number;
  /** Where this ring's wake-up flags and bells live. */
  readonly signals: RingSignals;
  /** Why the ring faulted; empty while healthy. */
  faultReason = '';
  /** 'position': the other side's position word is impossible; 'record': a record header is malformed. */
  faultKind: '' | 'position' | 'record' = '';

  constructor(loc: RingLocation) {
    checkLocation(loc);
    this.u8 = new Uint8Array(loc.buffer);
    this.u32 = new Uint32Array(loc.buffer);
    this.i32 = new Int32Array(loc.buffer);
    this.capacity = loc.capacity;
    this.maxRecordBytes = maxRecordBytes(loc.capacity);
    this.mask = loc.capacity - 1;
    this.dataStart = loc.base + RING_HEADER_BYTES;
    this.producerWord = (loc.base + RING_PRODUCER_POSITION_OFFSET) >> 2;
    this.consumerWord = (loc.base + RING_CONSUMER_POSITION_OFFSET) >> 2;
    this.othersWaitingWord = (loc.base + RING_OTHERS_WAITING_OFFSET) >> 2;
    this.blockedWord = (loc.base + RING_BLOCKED_OFFSET) >> 2;
    this.blockedChannelWord = (loc.base + RING_BLOCKED_CHANNEL_OFFSET) >> 2;
    this.signals = loc.signals ?? ownSignals(loc.base);
  }

  protected fault(reason: string, kind: 'position' | 'record' = 'position'): -1 {
    if (this.faultReason === '') {
      this.faultReason = reason;
      this.faultKind = kind;
    }
    return RingAnswer.FAULT;
  }

  get faulted(): boolean {
    return this.faultReason !== '';
  }
}

export class RingProducer extends RingSide {
  /** Position after the last published record. */
  private published: number;
  /** Position after the last claimed record (claimed records are published by publish()). */
  private claimed: number;
  /** Last consumer position seen; refreshed only when the cached space runs out. */
  private consumerCache: number;
  private waitingForSpace = false;

  /** `position`: where the producer starts (default: the ring's producer word, read once the location is checked). */
  constructor(loc: RingLocation, position?: number) {
    super(loc);
    position ??= Atomics.load(this.i32, this.producerWord);
    this.published = position | 0;
    this.claimed = this.published;
    // The ring may still hold records: assume it is full, so the first claim reads the consumer's position.
    this.consumerCache = (this.published - this.capacity) | 0;
  }

  /** Position after the last claimed record, as a signed 32-bit integer (`>>> 0` gives the word's unsigned value). */
  get position(): number {
    return this.claimed;
  }

  /**
   * Claim space for one record and write its header. Returns the byte offset
   * of the body in the buffer, FULL when it does not fit yet, or FAULT when
   * the consumer's position is impossible. Nothing is visible until publish().
   */
  tryClaim(type: number, bodyBytes: number): number {
    // The common case in few bytecodes, so that V8 inlines it into every claiming loop (the
    // engine's deliveries, the link's, the sender's): no fault, a sane size, room before the
    // ring's end and by the cached consumer position. Anything else: claimOther().
    const length = RecordLayout.HEADER_BYTES + bodyBytes;
    const aligned = (length + RecordLayout.ALIGN_BYTES - 1) & ~(RecordLayout.ALIGN_BYTES - 1);
    const index = this.claimed & this.mask;
    if (
      this.faultReason === '' &&
      bodyBytes >= 0 &&
      // The length, not the aligned span: the bitwise rounding wraps a body near 2^31 to a
      // negative span, which every bound below would pass (maxRecordBytes is a multiple of 8).
      length <= this.maxRecordBytes &&
      aligned <= this.capacity - index &&
      aligned <= this.capacity - ((this.claimed - this.consumerCache) >>> 0)
    ) {
      const at = this.dataStart + index;
      this.u32[(at + RecordLayout.LENGTH_OFFSET) >> 2] = length;
      this.u32[(at + RecordLayout.TYPE_OFFSET) >> 2] = type;
      this.claimed = (this.claimed + aligned) | 0;
      return at + RecordLayout.HEADER_BYTES;
    }
    return this.claimOther(type, bodyBytes);
  }

  /** tryClaim() when the common case does not hold: a fault, a bad size, a wrap, or a stale consumer position. */
  private claimOther(type: number, bodyBytes: number): number {
    if (this.faultReason !== '') return RingAnswer.FAULT;
    const length = RecordLayout.HEADER_BYTES + bodyBytes;
    const aligned = alignUp(length, RecordLayout.ALIGN_BYTES);
    if (!(bodyBytes >= 0) || length > this.maxRecordBytes) this.tooLarge(bodyBytes);
    let index = this.claimed & this.mask;
    const toEnd = this.capacity - index;
    const needed = aligned <= toEnd ? aligned : toEnd + aligned;
    if (this.capacity - ((this.claimed - this.consumerCache) >>> 0) < needed) {
      const consumer = Atomics.load(this.i32, this.consumerWord);
      const used = (this.claimed - consumer) >>> 0;
      if (used > this.capacity) return this.consumerAhead(consumer);
      this.consumerCache = consumer;
      if (this.capacity - used < needed) return RingAnswer.FULL;
    }
    if (aligned > toEnd) {
      const pad = this.dataStart + index;
      this.u32[(pad + RecordLayout.LENGTH_OFFSET) >> 2] = toEnd;
      this.u32[(pad + RecordLayout.TYPE_OFFSET) >> 2] = RecordType.PAD;
      this.claimed = (this.claimed + toEnd) | 0;
      index = 0;
    }
    const at = this.dataStart + index;
    this.u32[(at + RecordLayout.LENGTH_OFFSET) >> 2] = length;
    this.u32[(at + RecordLayout.TYPE_OFFSET) >> 2] = type;
    this.claimed = (this.claimed + aligned) | 0;
    return at + RecordLayout.HEADER_BYTES;
  }

  // The reports of tryClaim()'s failures, apart: a template string costs much bytecode, and V8 does
  // not inline a function past 460 bytes of it into its callers (the engine, every sender).
  private tooLarge(bodyBytes: number): never {
    throw new RangeError(`record body of ${bodyBytes} bytes exceeds the ring's limit of ${this.maxRecordBytes - RecordLayout.HEADER_BYTES}`);
  }

  private consumerAhead(consumer: number): -1 {
    return this.fault(`consumer position ${consumer >>> 0} is ahead of producer ${this.claimed >>> 0}`);
  }

  /**
   * Forget the records claimed since `position` (a `position` read earlier), none of which is
   * published yet: the next claim starts there again. For a batch refused part-way through, so
   * that none of it is sent.
   */
  unclaim(position: number): void {
    if (((this.claimed - position) >>> 0) > ((this.claimed - this.published) >>> 0)) {
      throw new LayoutError(`unclaim: position ${position >>> 0} is not between the published ${this.published >>> 0} and the claimed ${this.claimed >>> 0}`);
    }
    this.claimed = position | 0;
  }

  /** Make every claimed record visible at once; wakes the consumer only if it sleeps (then returns true). */
  publish(): boolean {
    if (this.claimed === this.published) return false;
    this.published = this.claimed;
    Atomics.store(this.i32, this.producerWord, this.published);
    return ringBell(this.i32, this.signals.dataWaiting, this.signals.dataBell);
  }

  /**
   * Whether the consumer says the record at the ring's head waits there, and names another channel
   * than `word` (RING_BLOCKED_OFFSET): a send ring's SEND of another channel, held back by its full
   * receive ring. The hardware's word, read for a hint only.
   */
  blockedOnOther(word: number): boolean {
    return this.blockedAtHead() && Atomics.load(this.i32, this.blockedChannelWord) >>> 0 !== word >>> 0;
  }

  /**
   * Whether the consumer says the record at the ring's head waits there (RING_BLOCKED_OFFSET), on any
   * channel: a CLOSE or DETACH waiting for room is never a SEND of that channel's stream, even of the
   * same channel. The hardware's word, read for a hint only.
   */
  blockedAtHead(): boolean {
    return Atomics.load(this.i32, this.blockedWord) !== 0;
  }

  /** Whether the send ring's hint is up (its consumer takes it back to 0). */
  othersWaitingRaised(): boolean {
    return Atomics.load(this.i32, this.othersWaitingWord) !== 0;
  }

  /** Raise the send ring's hint that another channel's work request found no room (RING_OTHERS_WAITING_OFFSET); its consumer takes it. */
  raiseOthersWaiting(): void {
    Atomics.store(this.i32, this.othersWaitingWord, 1);
  }

  /** Ring the consumer's bell if it sleeps, with nothing new published (it should look again). */
  nudge(): void {
    ringBell(this.i32, this.signals.dataWaiting, this.signals.dataBell);
  }

  /** Free bytes as of the last look at the consumer (refreshes it). */
  freeBytes(): number {
    const consumer = Atomics.load(this.i32, this.consumerWord);
    const used = (this.claimed - consumer) >>> 0;
    return used > this.capacity ? 0 : this.capacity - used;
  }

  /** True when a record with this body size would fit now. */
  canClaim(bodyBytes: number): boolean {
    const aligned = alignUp(RecordLayout.HEADER_BYTES + bodyBytes, RecordLayout.ALIGN_BYTES);
    const toEnd = this.capacity - (this.claimed & this.mask);
    return this.freeBytes() >= (aligned <= toEnd ? aligned : toEnd + aligned);
  }

  /** Block until a record of bodyBytes fits (threads without event-loop duties only). */
  waitForSpace(bodyBytes: number, spins: number, timeoutMs = Infinity): boolean {
    const s = this.signals;
    return sleepSync(this.i32, s.spaceWaiting, s.spaceBell, () => this.faulted || this.canClaim(bodyBytes), spins, timeoutMs);
  }

  waitForSpaceAsync(bodyBytes: number, spins: number, timeoutMs = Infinity): Promise<boolean> {
    const s = this.signals;
    return sleepAsync(this.i32, s.spaceWaiting, s.spaceBell, () => this.faulted || this.canClaim(bodyBytes), spins, timeoutMs);
  }

  /** Owner-side recovery: both positions restart at `position` (an empty ring: nobody waits for space). */
  reset(position: number): void {
    checkPosition(position);
    this.clearWaitingForSpace();
    this.published = this.claimed = this.consumerCache = position | 0;
    Atomics.store(this.i32, this.producerWord, this.published);
    Atomics.store(this.i32, this.consumerWord, this.published);
    this.faultReason = '';
    this.faultKind = '';
  }

  /**
   * For a producer that sleeps on some other bell (the hardware sleeps on its
   * port doorbell): ask the consumer to ring after it frees space.
   */
  announceWaitingForSpace(): void {
    this.waitingForSpace = true;
    Atomics.store(this.i32, this.signals.spaceWaiting, 1);
  }

  /** announceWaitingForSpace() raised the flag and clearWaitingForSpace() has not lowered it yet. */
  get isWaitingForSpace(): boolean {
    return this.waitingForSpace;
  }

  /**
   * announceWaitingForSpace() raised the flag and the consumer has not rung since (it lowers the
   * shared flag when it does): a claim now would as a rule find no more room than the last one.
   */
  get stillWaitingForSpace(): boolean {
    return this.waitingForSpace && Atomics.load(this.i32, this.signals.spaceWaiting) !== 0;
  }

  /** Lower the flag raised by announceWaitingForSpace (a no-op when it was not raised). */
  clearWaitingForSpace(): void {
    if (!this.waitingForSpace) return;
    this.waitingForSpace = false;
    Atomics.store(this.i32, this.signals.spaceWaiting, 0);
  }
}

export class RingConsumer extends RingSide {
  /** Position of the next unread record (private; published by release()). */
  private position: number;
  /** Last producer position seen and checked. */
  private limit: number;
  private releasedAt: number;
  /** A release held back its wake-up (below wakeAtFree); the next plain release rings. */
  private wakeHeld = false;
  /** Type of the record found by the last poll(). */
  recordType = 0;
  /** Byte offset in the buffer of that record's body. */
  bodyOffset = 0;
  /** Body bytes of that record. */
  bodyBytes = 0;
  private recordSpan = 0;

  /** `position`: where the consumer starts (default: the ring's consumer word, read once the location is checked). */
  constructor(loc: RingLocation, position?: number) {
    super(loc);
    position ??= Atomics.load(this.i32, this.consumerWord);
    this.position = position | 0;
    this.limit = this.position;
    this.releasedAt = this.position;
  }

  /** Position of the next unread record, as a signed 32-bit integer (`>>> 0` gives the word's unsigned value). */
  get consumedPosition(): number {
    return this.position;
  }

  /** Bytes consumed here that release() has not handed back yet. */
  get unreleasedBytes(): number {
    return (this.position - this.releasedAt) >>> 0;
  }

  /**
   * Find the next record without consuming it. Returns its type (and fills
   * recordType, bodyOffset, bodyBytes), EMPTY, or FAULT. Every header word is
   * read exactly once into a local and checked before use.
   */
  poll(): number {
    // The common case in few bytecodes, so that V8 inlines it into every consuming loop (the
    // engine's runs of SENDs, the receivers): a healthy ring, a record already published, not a
    // padding record, its length sane. Anything else: pollOther(), which reads the header afresh
    // and decides on its own reads only.
    const position = this.position;
    if (this.faultReason === '' && position !== this.limit) {
      const index = position & this.mask;
      const at = this.dataStart + index;
      const length = this.u32[(at + RecordLayout.LENGTH_OFFSET) >> 2];
      const type = this.u32[(at + RecordLayout.TYPE_OFFSET) >> 2];
      const span = (length + RecordLayout.ALIGN_BYTES - 1) & ~(RecordLayout.ALIGN_BYTES - 1);
      if (
        // Neither padding nor zero (never a record).
        type > RecordType.PAD &&
        length >= RecordLayout.HEADER_BYTES &&
        length <= this.maxRecordBytes &&
        span <= this.capacity - index &&
        span <= ((this.limit - position) >>> 0)
      ) {
        this.recordType = type;
        this.bodyOffset = at + RecordLayout.HEADER_BYTES;
        this.bodyBytes = length - RecordLayout.HEADER_BYTES;
        this.recordSpan = span;
        return type;
      }
    }
    return this.pollOther();
  }

  /** poll() when its common case does not hold: a fault, no record seen yet, a padding record, a bad header. */
  private pollOther(): number {
    if (this.faultReason !== '') return RingAnswer.FAULT;
    for (;;) {
      if (this.position === this.limit) {
        const found = this.refreshLimit();
        if (found !== Refresh.HAS_DATA) return found;
      }
      const available = (this.limit - this.position) >>> 0;
      const index = this.position & this.mask;
      const at = this.dataStart + index;
      const length = this.u32[(at + RecordLayout.LENGTH_OFFSET) >> 2];
      const type = this.u32[(at + RecordLayout.TYPE_OFFSET) >> 2];
      const toEnd = this.capacity - index;
      if (type === RecordType.PAD) {
        if (length !== toEnd || toEnd > available) return this.recordFault('padding', length, index);
        this.position = (this.position + toEnd) | 0;
        continue;
      }
      if (length < RecordLayout.HEADER_BYTES || length > this.maxRecordBytes) return this.recordFault('length', length, index);
      const span = (length + RecordLayout.ALIGN_BYTES - 1) & ~(RecordLayout.ALIGN_BYTES - 1);
      if (span > toEnd || span > available) return this.recordFault('span', length, index);
      this.recordType = type;
      this.bodyOffset = at + RecordLayout.HEADER_BYTES;
      this.bodyBytes = length - RecordLayout.HEADER_BYTES;
      this.recordSpan = span;
      return type === RingAnswer.EMPTY ? this.fault('record type 0', 'record') : type;
    }
  }

  /** Read the producer's position once, check it and keep it as the limit: HAS_DATA, EMPTY or FAULT. */
  private refreshLimit(): number {
    const producer = Atomics.load(this.i32, this.producerWord);
    if (((producer - this.position) >>> 0) > this.capacity || ((producer - this.position) & (RecordLayout.ALIGN_BYTES - 1)) !== 0) {
      return this.producerFault(producer);
    }
    this.limit = producer;
    return producer === this.position ? RingAnswer.EMPTY : Refresh.HAS_DATA;
  }

  // The reports of poll()'s faults, apart from it so it stays small enough to inline (see tryClaim).
  private producerFault(producer: number): -1 {
    if (((producer - this.position) >>> 0) > this.capacity) {
      return this.fault(`producer position ${producer >>> 0} is more than ${this.capacity} bytes past consumer ${this.position >>> 0}`);
    }
    return this.fault(`producer position ${producer >>> 0} is not ${RecordLayout.ALIGN_BYTES}-byte aligned`);
  }

  private recordFault(what: 'padding' | 'length' | 'span', length: number, index: number): -1 {
    if (what === 'padding') return this.fault(`padding record of ${length} bytes at ${index} does not reach the end of the ring`, 'record');
    if (what === 'length') return this.fault(`record length ${length} at ${index} is outside ${RecordLayout.HEADER_BYTES}..${this.maxRecordBytes}`, 'record');
    return this.fault(`record of ${length} bytes at ${index} runs past the published data or the wrap`, 'record');
  }

  /** Step past the record found by the last poll() (locally; release() publishes). */
  consume(): void {
    this.position = (this.position + this.recordSpan) | 0;
    this.recordSpan = 0;
  }

  /**
   * Hand consumed space back to the producer; wakes it only if it sleeps.
   * With `wakeAtFree`, a sleeping producer is woken only once that many
   * bytes are free (or the ring is empty), so a producer that waits on a full
   * ring wakes once per quarter ring instead of once per release; the next
   * release without it (or one that reaches the threshold) rings the wake-up
   * that was held back. A consumer passes it only while it keeps consuming
   * (the hardware, which consumes until the ring is empty or its destination
   * is full; a drain loop, which releases without it when it stops);
   * otherwise a producer that needs less could sleep on space already there.
   */
  release(wakeAtFree = 0): void {
    if (this.position !== this.releasedAt) {
      this.releasedAt = this.position;
      Atomics.store(this.i32, this.consumerWord, this.position);
    } else if (!this.wakeHeld) return;
    if (wakeAtFree > 0) {
      // By this side's last look at the producer, which is old by up to a budget of records, the
      // free space can only be smaller: hold without touching shared memory.
      if (this.capacity - ((this.limit - this.position) >>> 0) < wakeAtFree) {
        this.wakeHeld = true;
        return;
      }
      // Otherwise count it from where the producer is now, and only if it said it sleeps: counted
      // from the old look, space refilled since passed for free, and a link sender was woken with
      // ~27 KB of a 4 MiB ring free, once per ~400 messages instead of once per quarter ring.
      if (Atomics.load(this.i32, this.signals.spaceWaiting) === 0) {
        this.wakeHeld = false;
        return;
      }
      if (this.capacity - ((Atomics.load(this.i32, this.producerWord) - this.position) >>> 0) < wakeAtFree) {
        this.wakeHeld = true;
        return;
      }
    }
    this.wakeHeld = false;
    ringBell(this.i32, this.signals.spaceWaiting, this.signals.spaceBell);
  }

  /**
   * A send ring's hint, as its producer wrote it (RING_OTHERS_WAITING_OFFSET), taken: the word
   * goes back to 0, and the producer raises it again if another of its work requests still finds
   * no room (a hint lost to a race costs it one more try, never a wait: the space freed by acting
   * on the first one wakes it).
   */
  takeOthersWaiting(): boolean {
    return Atomics.exchange(this.i32, this.othersWaitingWord, 0) !== 0;
  }

  /**
   * What sameBehind() learned, kept across its calls so that it reads each record once, however
   * often it is asked and however far the head moves: every record in [sameFrom, sameTo) is a
   * `sameWord` record; the record at otherAt is not an `otherWord` one.
   */
  private sameWord = -1;
  private sameFrom = 0;
  private sameTo = 0;
  private otherWord = -1;
  private otherAt = 0;

  /**
   * Whether every record the producer has published behind the one the last poll() found is a
   * `type` record whose first body word is `word` (a stream of one channel's SENDs, with nothing
   * else waiting behind it). It reads ahead without consuming, and only to answer this: a record
   * it cannot make out, a length past the ring's records, and a producer position that moved back
   * all count as another. What it learned stays for the next call (the same head retried, or the
   * records behind it at the head in turn), so no record is read twice.
   */
  sameBehind(type: number, word: number): boolean {
    const producer = Atomics.load(this.i32, this.producerWord);
    const published = (producer - this.position) >>> 0;
    if (published > this.capacity) return false;
    const next = (this.position + this.recordSpan) | 0;
    // Between the head and the producer (ring order): `at` is.
    const behind = (at: number): boolean => ((at - this.position) >>> 0) <= published;
    if (this.otherWord === word && behind(this.otherAt) && this.otherAt !== this.position) return false;
    let at = next;
    if (this.sameWord === word && ((next - this.sameFrom) >>> 0) <= ((this.sameTo - this.sameFrom) >>> 0)) {
      // Checked up to sameTo already; a producer that moved back behind it is not believed.
      if (!behind(this.sameTo)) return false;
      at = this.sameTo;
    } else this.sameFrom = next;
    this.sameWord = word;
    while (at !== producer) {
      const index = at & this.mask;
      const left = (producer - at) >>> 0;
      const toEnd = this.capacity - index;
      const length = this.u32[(this.dataStart + index + RecordLayout.LENGTH_OFFSET) >> 2];
      const found = this.u32[(this.dataStart + index + RecordLayout.TYPE_OFFSET) >> 2];
      if (found === RecordType.PAD && length === toEnd && toEnd <= left) {
        at = (at + toEnd) | 0;
        continue;
      }
      // Bounded first, so the span is positive (an unbounded length rounds to 0 or less as an int32).
      const span = length <= this.maxRecordBytes ? (length + RecordLayout.ALIGN_BYTES - 1) & ~(RecordLayout.ALIGN_BYTES - 1) : 0;
      if (
        found !== type ||
        length < RecordLayout.HEADER_BYTES + 4 ||
        span === 0 ||
        span > toEnd ||
        span > left ||
        this.u32[(this.dataStart + index + RecordLayout.HEADER_BYTES) >> 2] !== word
      ) {
        this.sameTo = at;
        this.otherWord = word;
        this.otherAt = at;
        return false;
      }
      at = (at + span) | 0;
    }
    this.sameTo = at;
    return true;
  }

  /** What showBlocked() last wrote (-1: nothing blocked); read by the engine to skip it when nothing is. */
  blockedShown = -1;

  /**
   * Say (RING_BLOCKED_OFFSET) that the SEND at the head waits for its full receive ring, on
   * channel `word`, or (-1) that nothing does; written only when it changes.
   */
  showBlocked(word: number): void {
    if (word === this.blockedShown) return;
    this.blockedShown = word;
    if (word >= 0) Atomics.store(this.i32, this.blockedChannelWord, word);
    Atomics.store(this.i32, this.blockedWord, word >= 0 ? 1 : 0);
  }

  /** Wake the producer if it sleeps on the space bell, for a wait on more than space (a channel's hold, THREATS case 51). */
  wakeProducer(): void {
    ringBell(this.i32, this.signals.spaceWaiting, this.signals.spaceBell);
  }

  /**
   * True when a record waits, or the ring broke its rules (poll() then says FAULT). Unlike
   * hasData(), it keeps the producer's position it read (checked), so the poll() that follows
   * finds the record without reading it again: the engine's look at each queue pair per round.
   */
  ready(): boolean {
    return this.position !== this.limit || this.refreshLimit() !== RingAnswer.EMPTY;
  }

  /**
   * ready() for a look that may be wrong for a moment: the producer's word is read first with a
   * plain load, and only a word that moved is read again with Atomics.load (then checked and kept,
   * as ready() does). On Node 20 each Atomics call is a builtin call of ~15 ns, a plain load ~1;
   * the engine's busy rounds look at every queue pair, most of them idle. A plain load is not
   * ordered and may see a publish late, which only delays the look: nothing is read from a record
   * until Atomics.load has acquired the producer's position, and the rounds the scheduler runs
   * after raising the sleep flags, and every 64th of a busy slice, look with ready() instead.
   */
  readyHint(): boolean {
    return this.position !== this.limit || (this.i32[this.producerWord] !== this.position && this.refreshLimit() !== RingAnswer.EMPTY);
  }

  /**
   * poll() over the records the last look at the producer (ready(), poll()) found, without looking
   * again: EMPTY once they are consumed. The engine serves what its round's ready() saw; records
   * published since then wait for the next round's look. Per message sent one at a time, that is
   * two reads of the producer's word fewer (each an Atomics.load, a call into V8's runtime, not an
   * inlined load) than polling until the ring reads empty.
   */
  pollSeen(): number {
    return this.position !== this.limit || this.faultReason !== '' ? this.poll() : RingAnswer.EMPTY;
  }

  /** Whether records the last look found are still unread (no load: the engine's shares, THREATS case 129). */
  seenLeft(): boolean {
    return this.position !== this.limit;
  }

  /** True when the producer has published past what this side has read. */
  hasData(): boolean {
    return this.position !== this.limit || Atomics.load(this.i32, this.producerWord) !== this.position;
  }

  /** Block until data arrives (threads without event-loop duties only). */
  waitForData(spins: number, timeoutMs = Infinity): boolean {
    const s = this.signals;
    return sleepSync(this.i32, s.dataWaiting, s.dataBell, () => this.hasData(), spins, timeoutMs);
  }

  waitForDataAsync(spins: number, timeoutMs = Infinity): Promise<boolean> {
    const s = this.signals;
    return sleepAsync(this.i32, s.dataWaiting, s.dataBell, () => this.hasData(), spins, timeoutMs);
  }

  /** Owner-side recovery: both positions restart at `position`. */
  reset(position: number): void {
    checkPosition(position);
    this.position = this.limit = this.releasedAt = position | 0;
    this.wakeHeld = false;
    this.recordSpan = 0;
    // What sameBehind() learned was about the old records.
    this.sameWord = this.otherWord = -1;
    this.showBlocked(-1);
    Atomics.store(this.i32, this.producerWord, this.position);
    Atomics.store(this.i32, this.consumerWord, this.position);
    this.faultReason = '';
    this.faultKind = '';
  }
}
