/**
 * One end of a verified channel, as a process sees it.
 *
 * Sending is synchronous and never blocks the partition's event loop:
 * `send()` copies into the send ring and throws EAGAIN when the ring is full
 * or the channel is held (its reader's ring is full and the hardware keeps
 * its last messages aside: THREATS case 51); `write()` is the awaitable form
 * that waits for either. Receiving is
 * awaitable (`recv()`, `recvInto()`, `for await`), with `tryRecv()` and
 * `tryRecvInto()` for polling loops and `drain()`/`drainBytes()` for
 * in-place batches.
 */
import type { Duplex } from 'node:stream';
import { ChannelError, channelErrorFromStatus, describeValue, Status, statusName } from '../shared/errors.js';
import { RecordType } from '../shared/layout.js';
import { FAULT, FULL } from '../shared/ring.js';
import { copyShared, ScratchCopy, setBytes } from '../shared/shared-copy.js';
import { keptCharge, UNREAD_HOLD_MS, type ChannelSink } from './channel-registry.js';
import { BufferCopier, MessageSlab } from './message-slab.js';
import { ChannelIterator, type IteratedChannel } from './channel-iterator.js';
import { ChannelStream, type ChannelStreamOptions } from './channel-stream.js';
import type { ProcessQueuePair } from './queue-pair.js';
import { Walk, type MessageVisitor, type ReceivePump } from './receive-pump.js';
import type { SendQueue } from './send-queue.js';
import { deadlineAfter, timeLeft } from '../shared/clock.js';

/**
 * Taken entries at the front of a channel's queue before it is compacted (when they are at least as
 * many as the untaken ones too): THREATS case 134.
 */
const QUEUE_COMPACT_AT = 1024;

/** What every write() that found room returns: already settled, made once. */
const WRITTEN: Promise<void> = Promise.resolve();

/** The other end of a channel, as the hardware attests it (never as the peer claims). */
export interface Peer {
  /** Node id: this node's own for a local peer (0 when the machine is not a node), as the hardware attests it. */
  readonly node: number;
  /** Partition id, as the hardware attests it. */
  readonly partition: number;
  /** Process id within that partition, as the hardware attests it. */
  readonly process: number;
}

interface Waiter {
  resolve(m: Uint8Array): void;
  reject(e: Error): void;
}

/** Options of a receive that may wait (`recv`, `readable`, `recvInto`). */
export interface ReceiveOptions {
  /**
   * Gives the wait up: the call rejects with the signal's reason, and a message that arrives later
   * goes to the next receive. (A receive raced against a timer and dropped still takes the next
   * message, and stays queued until then.)
   */
  signal?: AbortSignal;
}

/** What sendBatch's error says of a message that is no bytes (after "sendBatch: messages[i]: "). */
const EACH_MESSAGE = 'each message must be';

/** `data` as the bytes a send takes; `lead` names the call for the error ("write takes"). */
function toBytes(data: unknown, lead = 'send takes'): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new ChannelError('EINVAL', `${lead} a Uint8Array (or another ArrayBufferView, or an ArrayBuffer), got ${describeValue(data)}`);
}

/**
 * One end of a verified channel, from `proc.connect()` or `listener.accept()`. Messages arrive
 * exactly once and in order. `send`/`sendBatch` throw {@link ChannelError} and `write` rejects
 * with one; `recv` rejects with `ECLOSED` at a clean end of stream, or with why the channel died
 * (`EPEERDEAD`, …).
 */
// ChannelSink's methods are internal, so it is met by shape (qp.adopt checks it), not declared in the published types.
export class Channel implements AsyncIterable<Uint8Array> {
  private readonly tx: SendQueue;
  private readonly rx: ReceivePump;
  /** What `for await` reads through: takeInTurn(), not tryRecv() (THREATS case 61); made at the first loop. */
  private iterated: IteratedChannel | undefined;
  /** Messages the pump copied out for this channel while it read past them; taken before the ring. */
  private readonly queue: Uint8Array[] = [];
  private head = 0;
  /** What the messages in `queue` count against the unread bound (keptCharge each; THREATS case 44). */
  private keptBytes = 0;
  /** Copies of the messages kept while the process read other channels: this channel's own, so they pin no other channel's memory. */
  private keptSlab: MessageSlab | undefined;
  /** recvInto's copier: this channel's, so it keeps the word view of the buffer this channel's reader reuses. */
  private readonly copier = new BufferCopier();
  /** The port's words, and the one where the hardware marks this end held (its messages kept aside: THREATS case 51). */
  private readonly portWords: Int32Array;
  private readonly heldWord: number;
  /** This end's CLOSE is posted already (it overflowed): close() posts none. */
  private closePosted = false;
  private readonly waiters: Waiter[] = [];
  /** Callers of readable(), with the pump's release function. */
  private readers: Array<{ resolve(ready: boolean): void; reject(e: Error): void }> = [];
  /** Why sends fail from now on (closed locally, peer closed or dead, hardware gone). */
  private sendError: ChannelError | undefined;
  /** Why receives end once the queue is empty; `undefined` status OK means a clean end of stream. */
  private endError: ChannelError | undefined;
  /** Why this end was closed here (close(), or its process ended), for receives after it. */
  private closeReason: ChannelError | undefined;
  private ended = false;
  private closed = false;
  /** What took the channel's data over (stream(), the comlink adapter); one at most. */
  private takenBy: string | undefined;
  /** write() calls waiting for send-ring space. */
  private writersWaiting = 0;
  /**
   * Messages the hardware refused after send() returned, by error code; still counted after
   * close(). Those the channel's end refused are counted by the time a read sees that end.
   */
  readonly failedSends: Partial<Record<string, number>> = {};

  /** @internal a process makes its channels (connect, accept); programs never construct one */
  constructor(
    private readonly qp: ProcessQueuePair,
    /** The channel handle: slot and generation, never a key. */
    readonly handle: number,
    /** The other end, as the hardware attests it. */
    readonly peer: Peer,
    private readonly onClosed: (ch: Channel) => void,
    /**
     * The largest message the channel carries either way (the hardware's grant): the machine's
     * maxMessageBytes, or with an end on another node the smaller of both nodes'. A receive
     * buffer of this size always fits.
     */
    readonly maxMessageBytes = qp.maxMessageBytes,
  ) {
    this.tx = qp.sendQueue;
    this.rx = qp.pump;
    this.portWords = qp.sendQueue.ring.i32;
    this.heldWord = qp.heldWord(handle);
    qp.adopt(handle, this);
  }

  /**
   * Send one message; throws ChannelError (EAGAIN when the send ring is full, or while the channel
   * is held: its receiver's ring is full and the hardware keeps its last messages aside).
   */
  send(data: Uint8Array | ArrayBufferView): void {
    // An offset, or FULL (a fault throws): a sign test, not a load of an imported const per message.
    if (this.claim(toBytes(data), true) >= 0) return;
    if (!this.isHeld()) {
      this.tx.foundNoRoom(this.handle);
      throw new ChannelError('EAGAIN', `send ring of channel ${this.handle} is full`);
    }
    throw new ChannelError(
      'EAGAIN',
      `channel ${this.handle} is held: its receiver's ring is full, and the hardware keeps what it sent since aside until the receiver reads`,
      'await channel.write() to wait until the receiver reads, or retry later; the process\'s other channels are not held back',
    );
  }

  /**
   * The hardware keeps this end's messages aside, its receiver's ring being full (THREATS case
   * 51): nothing more goes on it until they are in that ring, so they never stop the process's
   * other channels. Read with Atomics where a wait depends on it.
   */
  private readonly isHeld = (): boolean => Atomics.load(this.portWords, this.heldWord) !== 0;

  /**
   * isHeld() with a plain read, once a send or a batch (an Atomics call is ~10–15 ns): a hold seen
   * a send or a batch late costs the hardware that much more kept, within its bound of twice the
   * send ring (kept-deliveries.ts).
   */
  private heldNow(): boolean {
    return this.portWords[this.heldWord] !== 0;
  }

  /**
   * Send one message, waiting for ring space if needed (back-pressure). A close of this end, the
   * peer's end or the process's end while it waits rejects it with that reason.
   */
  write(data: Uint8Array | ArrayBufferView): Promise<void> {
    // Not an async function: a write that finds room (most do) returns one promise made once, not
    // a new one per message. What it throws is still a rejection, never a synchronous throw.
    try {
      const bytes = toBytes(data, 'write takes');
      return this.claim(bytes, true) < 0 ? this.writeWaiting(bytes) : WRITTEN; // negative: FULL
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** write() once the ring was full: wait for space, then claim again until the message goes. */
  private async writeWaiting(bytes: Uint8Array): Promise<void> {
    do {
      this.writersWaiting++;
      try {
        await this.tx.waitForSpace(bytes.byteLength, this.unsendable, this.isHeld, this.handle);
      } finally {
        this.writersWaiting--;
      }
    } while (this.claim(bytes, true) === FULL);
  }

  /** For write()'s wait: stop waiting for space once this channel cannot send any more (claim() then throws why). */
  private readonly unsendable = (): boolean => this.sendError !== undefined;

  /** A write() waiting for space learns that the channel can no longer send (it would otherwise wait for space that may never come). */
  private wakeWriters(): void {
    if (this.writersWaiting > 0) this.tx.wakeSpaceWaiters();
  }

  /**
   * write() that blocks this thread (Atomics.wait) while the send ring is full, for a program that
   * owns its partition's thread (see waitReadableSync for what blocking costs): true once sent,
   * false when `timeoutMs` passed first (nothing was sent).
   */
  writeSync(data: Uint8Array | ArrayBufferView, timeoutMs = Number.POSITIVE_INFINITY): boolean {
    const bytes = toBytes(data, 'writeSync takes');
    checkTimeout(timeoutMs, 'writeSync');
    // The clock is read only once a wait is needed (most writes find room), and the first wait starts from the whole timeout.
    let deadline: number | undefined;
    // claim(): an offset, or FULL (negative).
    while (this.claim(bytes, true) < 0) {
      const left = deadline === undefined ? timeoutMs : timeLeft(deadline);
      deadline ??= deadlineAfter(timeoutMs);
      if (!(left > 0)) {
        // Giving up without a wait (a timeout of 0, or spent): say so as send() does, so that another
        // channel's SEND blocking the ring's head is kept aside for the next try (THREATS case 51).
        if (!this.isHeld()) this.tx.foundNoRoom(this.handle);
        return false;
      }
      // A wake-up can come with less space than this message needs (the hardware hands back all it
      // consumed before it sleeps): only the deadline ends the wait, and the loop claims once more after it.
      this.tx.waitForSpaceSync(bytes.byteLength, left, this.isHeld, this.handle);
    }
    return true;
  }

  /**
   * Send many messages and publish them once (one doorbell check for the
   * batch). Returns how many were sent; stops early when the ring is full.
   */
  sendBatch(messages: ReadonlyArray<Uint8Array | ArrayBufferView>): number {
    if (!Array.isArray(messages)) throw new ChannelError('EINVAL', 'sendBatch takes an array of Uint8Array');
    const tx = this.tx;
    tx.checkCompletions(); // once per batch, not per message
    // Once per batch too: only reading completions fails a channel or its queue pair, and the batch
    // reads none. An empty batch throws nothing: it only reads the completions (their errors land
    // in failedSends), as a channel that failed may still want to.
    if (messages.length > 0) this.checkSendable();
    // Traced, a message is recorded as it is claimed: check them all first, so a refused batch records nothing.
    if (tx.tracer !== undefined) for (let i = 0; i < messages.length; i++) this.checkMessage(messages[i], i);
    // Publishing is held back until the batch is claimed, then done once. Corked here, not by a
    // helper that runs a closure: a closure per call, which V8 did not inline (0.93 of the sender's
    // time per 64 B message without it).
    const start = tx.ring.position;
    const claimsBefore = tx.claims;
    let n = 0;
    tx.cork();
    try {
      // An offset, or FULL (a fault throws): a sign test, not a module-variable load per message.
      // Held: nothing of the batch (looked at once a batch: the hardware's bound leaves room for one).
      if (tx.tracer === undefined) {
        while (n < messages.length && !(n === 0 && this.heldNow())) {
          const bytes = toBytes(messages[n], EACH_MESSAGE);
          // Reading the message may have run code of the caller's (an accessor, a Proxy) that closed
          // this channel or failed its queue pair: nothing more of the batch is claimed then. Checked
          // once a batch only, the SENDs after such a CLOSE went out on the closed handle, refused
          // by the hardware, and the batch counted them sent (THREATS case 99).
          if (this.sendError !== undefined || this.qp.failure !== undefined) this.checkSendable();
          if (this.claimChecked(bytes) < 0) break;
          n++;
        }
      } else {
        // Traced: the same loop, each message numbered (a sampled one timed) as claim() numbers it.
        const tracer = tx.tracer;
        while (n < messages.length && !(n === 0 && this.heldNow())) {
          const bytes = toBytes(messages[n], EACH_MESSAGE);
          if (this.sendError !== undefined || this.qp.failure !== undefined) this.checkSendable();
          const started = tracer.sendStarting(this.handle);
          if (this.claimChecked(bytes) < 0) break;
          tracer.sent(this.handle, started);
          n++;
        }
      }
      // Stopped short by a full ring (not by a hold): another channel's blocked SEND may be why.
      if (n < messages.length && !this.heldNow()) tx.foundNoRoom(this.handle);
    } catch (e) {
      // Nothing of the batch is published yet (uncork() runs after this): none of it goes, unless
      // something else claimed meanwhile (a send or close made by code that reading a message ran:
      // an accessor, a Proxy), whose work requests must stay: then what was claimed goes. So too
      // when reading a message threw something of the caller's own (an accessor's error).
      const onlyOurs = ((tx.claims - claimsBefore) | 0) === n;
      if (onlyOurs) tx.ring.unclaim(start);
      if (!(e instanceof ChannelError)) throw e;
      const sent =
        onlyOurs || n === 0
          ? 'nothing of the batch was sent'
          : `the ${n} before it were sent (a send made while the batch read its messages keeps them from being taken back)`;
      throw new ChannelError(e.code, `sendBatch: messages[${n}]: ${e.detail}; ${sent}`);
    } finally {
      tx.uncork();
    }
    return n;
  }

  /** What claiming messages[i] would throw for it (not a byte view, too large), thrown before anything is claimed. */
  private checkMessage(message: unknown, i: number): void {
    try {
      const n = toBytes(message, EACH_MESSAGE).length;
      if (n > this.maxMessageBytes) throw this.tooLarge(n);
    } catch (e) {
      throw new ChannelError((e as ChannelError).code, `sendBatch: messages[${i}]: ${(e as ChannelError).detail}; nothing of the batch was sent`);
    }
  }

  private claim(bytes: Uint8Array, publish: boolean, checkCompletions = true): number {
    const tracer = this.tx.tracer;
    // Tracing off: this one predictable branch is all it costs.
    if (tracer === undefined) return this.claimRing(bytes, publish, checkCompletions);
    const started = tracer.sendStarting(this.handle);
    const at = this.claimRing(bytes, publish, checkCompletions);
    if (at >= 0) tracer.sent(this.handle, started);
    return at;
  }

  private claimRing(bytes: Uint8Array, publish: boolean, checkCompletions: boolean): number {
    if (checkCompletions) this.tx.checkCompletions();
    this.checkSendable();
    if (this.heldNow()) return FULL;
    const at = this.claimChecked(bytes);
    if (at >= 0 && publish) this.tx.publish();
    return at;
  }

  /** Throw why this channel cannot send, if it cannot: its own error, or its queue pair's failure. */
  private checkSendable(): void {
    if (this.sendError !== undefined) throw this.sendError;
    if (this.qp.failure !== undefined) throw this.qp.failure;
  }

  /** Claim one work request for `bytes` and copy them in, once checkSendable() passed: its offset, or FULL. */
  private claimChecked(bytes: Uint8Array): number {
    // `.length`, not `.byteLength` (the same for a Uint8Array): Node 20 inlines neither getter, and
    // byteLength cost ~10 ns a read here against ~5 ns, once per message sent.
    const n = bytes.length;
    if (n > this.maxMessageBytes) throw this.tooLarge(n);
    const tx = this.tx;
    const at = tx.claim(RecordType.SEND, this.handle, n);
    if (at < 0) {
      if (at === FAULT) throw this.ringFault();
      return FULL;
    }
    // The caller's bytes may start at any offset (`at` is 8-aligned in a view from the ring's
    // start): a large payload at another alignment goes through copyShared, not V8's
    // byte-at-a-time copy into shared memory.
    if (n > ScratchCopy.ABOVE && ((bytes.byteOffset - at) & 7) !== 0) copyShared(bytes, 0, tx.ring.u8, at, n);
    else setBytes(tx.ring.u8, bytes, at);
    return at;
  }

  // Apart from claimChecked(): a template string costs much bytecode, and V8 inlines by a bytecode budget.
  private tooLarge(n: number): ChannelError {
    const own = this.qp.maxMessageBytes;
    const limit = this.maxMessageBytes;
    const why = limit < own ? ` (the channel's: node ${this.peer.node} takes messages of at most ${limit} bytes, this node's maxMessageBytes is ${own})` : '';
    return new ChannelError('EMSGSIZE', `message of ${n} bytes exceeds maxMessageBytes ${limit}${why}`);
  }

  private ringFault(): ChannelError {
    return new ChannelError('EFAULT', `send ring: ${this.tx.ring.faultReason}`);
  }

  /**
   * The next message; rejects with ECLOSED at a clean end of stream, or with the reason the channel died.
   * The message is the caller's to keep: a view of a slab this process's received messages share (its
   * `.buffer` is larger than the message and holds others; copy with `slice()` before transferring it).
   */
  recv(options?: ReceiveOptions): Promise<Uint8Array> {
    // Without options (the common call) not even a call to look at them.
    const refused = options === undefined ? undefined : refusedBy(options, 'recv');
    if (refused !== undefined) return refused;
    const signal = options?.signal;
    const m = this.takeInTurn();
    if (m !== undefined) return Promise.resolve(m);
    if (this.ended || this.closed) return Promise.reject(this.endReason());
    return new Promise((resolve, reject) => this.waitIn(this.waiters, signal, resolve, reject));
  }

  /**
   * Queue a waiter in `list` (recv's or readable's) and keep the pump running until it settles; an
   * abort of `signal` takes it out again, so nothing stays queued for a receive given up.
   */
  private waitIn<T>(list: Array<{ resolve(v: T): void; reject(e: Error): void }>, signal: AbortSignal | undefined, resolve: (v: T) => void, reject: (e: unknown) => void): void {
    this.pumpFor((release) => {
      const done = (): void => {
        release();
        signal?.removeEventListener('abort', abort);
      };
      const waiter = { resolve: (v: T) => (done(), resolve(v)), reject: (e: Error) => (done(), reject(e)) };
      const abort = (): void => {
        const i = list.indexOf(waiter);
        if (i < 0) return;
        list.splice(i, 1);
        done();
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', abort, { once: true });
      list.push(waiter);
    });
  }

  /**
   * Keep the pump running for a waiter until it settles. The waiter is queued before the pump is
   * woken, because the pump drains synchronously on its first step: it may settle the waiter before
   * want() returns, and then the interest is handed back at once (kept, the pump would run for good
   * and drain every record past back-pressure, for this process and every later one on the queue pair).
   */
  private pumpFor(queue: (release: () => void) => void): void {
    let settled = false;
    let release = (): void => {
      settled = true;
    };
    queue(() => release());
    const stop = this.rx.want();
    if (settled) stop();
    else release = stop;
  }

  /**
   * Zero-copy receive: calls fn with each message that is ready now, up to
   * `max`, and returns how many. A message still in the receive ring is
   * passed as a view of the ring, valid only until fn returns (copy what you
   * keep); its ring space is handed back after fn returns. At most a ring's worth a call, so a
   * peer that refills the ring as fast as fn reads cannot keep one call going (THREATS case 61;
   * once a turn of the event loop has read for 5 ms, `readable()` waits for the next). Never waits:
   * pair it with `await ch.readable()`. Receives from inside fn find nothing
   * more in the ring (only what was already queued for a channel), a blocking
   * one throws `EINVAL`, and an fn that closes the channel is handed nothing
   * more.
   *
   *     while (await ch.readable()) ch.drain((m) => sum += m[0]);
   */
  drain(fn: (message: Uint8Array) => void, max = Number.POSITIVE_INFINITY): number {
    if (typeof fn !== 'function') throw new ChannelError('EINVAL', 'drain takes a function (message: Uint8Array) => void');
    checkMax(max, 'drain');
    let n = 0;
    while (n < max && this.head < this.queue.length) {
      n++;
      fn(this.takeQueued());
    }
    return this.canReadRing(n, max) ? n + this.rx.visitFor(this.handle, fn, max - n, true) : n;
  }

  /**
   * drain() without a view per message: calls fn(bytes, offset, length) for
   * each message ready now, up to `max`; the message is `bytes[offset,
   * offset + length)`. `bytes` may be much larger than the message (the
   * receive ring itself): read only that range, and only until fn returns,
   * after which the ring reuses it. Returns how many messages fn was given.
   *
   *     while (await ch.readable()) ch.drainBytes((b, at, n) => sum += b[at]);
   */
  drainBytes(fn: MessageVisitor, max = Number.POSITIVE_INFINITY): number {
    if (typeof fn !== 'function') {
      throw new ChannelError('EINVAL', 'drainBytes takes a function (bytes: Uint8Array, offset: number, length: number) => void');
    }
    checkMax(max, 'drainBytes');
    let n = 0;
    while (n < max && this.head < this.queue.length) {
      const m = this.takeQueued();
      n++;
      fn(m, 0, m.byteLength);
    }
    return this.canReadRing(n, max) ? n + this.rx.visitFor(this.handle, fn, max - n, false) : n;
  }

  /** After `given` queued messages of at most `max`: may the drain go on into the ring? */
  private canReadRing(given: number, max: number): boolean {
    return given < max && !this.ended && !this.closed;
  }

  private takeQueued(): Uint8Array {
    const m = this.queue[this.head];
    const charge = keptCharge(m.byteLength);
    this.keptBytes -= charge;
    this.qp.channels.keptCharged -= charge;
    // The pump may be holding the ring for this channel at its bound, or at the process's: one taken, it moves again.
    if (this.rx.heldHandle !== -1) this.rx.freed(this.handle);
    this.queue[this.head++] = undefined as never;
    if (this.head === this.queue.length) this.queue.length = this.head = 0;
    else if (this.head >= QUEUE_COMPACT_AT && this.head >= this.queue.length - this.head) {
      // Taken entries go once they are as many as the untaken ones: a peer that keeps the queue from
      // ever running empty (at its unread bound while the reader waits on the event loop per message)
      // grew the array by a slot per message it sent, for as long as it sent (THREATS case 134).
      // Amortized: each untaken entry is moved at most once per as many taken ones.
      this.queue.copyWithin(0, this.head);
      this.queue.length -= this.head;
      this.head = 0;
    }
    return m;
  }

  /**
   * Resolves true once a message is ready (for drain, tryRecv or recvBatch),
   * false at a clean end of stream; rejects with the reason the channel died.
   */
  readable(options?: ReceiveOptions): Promise<boolean> {
    // Without options (the common call) not even a call to look at them.
    const refused = options === undefined ? undefined : refusedBy(options, 'readable');
    if (refused !== undefined) return refused;
    return this.readableFor(options?.signal);
  }

  /** readable() once its options are checked (recvInto() checks them once, not per wait). */
  private readableFor(signal: AbortSignal | undefined): Promise<boolean> {
    if (this.head < this.queue.length) return Promise.resolve(true);
    // Once this turn of the event loop read for its slice, the pump answers after the next turn (THREATS case 61).
    if (!this.ended && !this.closed && !this.rx.turnSpent && this.rx.nextIsFor(this.handle)) return Promise.resolve(true);
    if (this.ended || this.closed) return this.endError === undefined ? Promise.resolve(false) : Promise.reject(this.endError);
    return new Promise((resolve, reject) => this.waitIn(this.readers, signal, resolve, reject));
  }

  /**
   * Every message ready now, up to `max` (an integer >= 1), copied out; waits for at least one.
   * Resolves [] at a clean end of stream; rejects with the reason the channel died.
   */
  async recvBatch(max = 256): Promise<Uint8Array[]> {
    checkMax(max, 'recvBatch', 1);
    const out: Uint8Array[] = [];
    for (;;) {
      for (let m = this.takeInTurn(); m !== undefined; m = out.length < max ? this.takeInTurn() : undefined) out.push(m);
      if (out.length > 0 || !(await this.readable())) return out;
    }
  }

  /**
   * @internal tryRecv() for the receives that await (recv, recvBatch, `for await`, stream()):
   * what is queued for the channel, but nothing more from the ring once this turn of the event loop
   * read for its slice (5 ms). A peer that keeps the ring from running empty would otherwise keep
   * such a reader in microtasks (or, for a stream in flowing mode, in one synchronous loop) for as
   * long as it sends, and the partition's timers, I/O and control calls would never run (THREATS
   * case 61). Polls (tryRecv) and blocking receives are not held back: they chose their loop.
   */
  takeInTurn(): Uint8Array | undefined {
    if (this.head < this.queue.length) return this.takeQueued();
    return this.rx.turnSpent ? undefined : this.tryRecv();
  }

  /** A message if one is ready now, else undefined; the caller keeps it, as from recv(). */
  tryRecv(): Uint8Array | undefined {
    if (this.head < this.queue.length) return this.takeQueued();
    if (this.ended || this.closed || this.rx.peekFor(this.handle) === Walk.NO_MESSAGE) return undefined;
    return this.rx.takeCopy();
  }

  /**
   * Receive into memory the caller owns, with no allocation: copies the next
   * message into `buffer` (from offset 0) and resolves its length; waits for
   * one if none is ready. Rejects as recv() does at the end of the stream,
   * and with EMSGSIZE when the message does not fit; the message then stays
   * for the next call (a buffer of `maxMessageBytes` always fits).
   */
  async recvInto(buffer: Uint8Array, options?: ReceiveOptions): Promise<number> {
    checkBuffer(buffer, 'recvInto');
    const signal = options === undefined ? undefined : signalOf(options, 'recvInto');
    for (;;) {
      signal?.throwIfAborted();
      // Nothing more from the ring once this turn of the event loop read for its slice (THREATS case 61).
      const n = this.head === this.queue.length && this.rx.turnSpent ? undefined : this.tryRecvInto(buffer);
      if (n !== undefined) return n;
      if (!(await this.readableFor(signal))) throw this.endReason();
    }
  }

  /**
   * readable() that blocks this thread (Atomics.wait) instead of awaiting: true once a message is
   * ready, false at a clean end of stream or when `timeoutMs` passes first; throws the reason
   * the channel died. For a program that owns its partition's thread, where one wake-up less per
   * message matters (round trips): while it blocks, the partition's event loop stands still, so
   * its other processes, timers and control calls (connect, accept, close) wait too.
   */
  waitReadableSync(timeoutMs = Number.POSITIVE_INFINITY): boolean {
    checkTimeout(timeoutMs, 'waitReadableSync');
    if (!this.rx.waitSync(this.readyForSync, timeoutMs)) return false;
    if (this.head < this.queue.length) return true;
    if (this.ended || this.closed) {
      if (this.endError !== undefined) throw this.endError;
      return false;
    }
    return true;
  }

  /**
   * recvInto() that blocks this thread instead of awaiting (see waitReadableSync for what that
   * costs): the message's length, or undefined when `timeoutMs` passes first (as tryRecvInto()
   * when none is ready); throws as recvInto() does at the end of the stream.
   */
  recvIntoSync(buffer: Uint8Array, timeoutMs = Number.POSITIVE_INFINITY): number | undefined {
    checkBuffer(buffer, 'recvIntoSync');
    checkTimeout(timeoutMs, 'recvIntoSync');
    // The clock is read only once a wait is needed (a message may be there already), and the first wait starts from the whole timeout.
    let deadline: number | undefined;
    for (;;) {
      const n = this.tryRecvInto(buffer);
      if (n !== undefined) return n;
      if (this.ended || this.closed) throw this.endReason();
      const left = deadline === undefined ? timeoutMs : timeLeft(deadline);
      deadline ??= deadlineAfter(timeoutMs);
      if (!(left > 0) || !this.waitReadableSync(left)) {
        if (this.ended || this.closed) throw this.endReason();
        return undefined;
      }
    }
  }

  /** What ends waitReadableSync()'s wait: made once, not per wait (a blocking receive waits once a message). */
  private readonly readyForSync = (): boolean => {
    if (this.head < this.queue.length || this.ended || this.closed) return true;
    if (this.rx.peekFor(this.handle) !== Walk.NO_MESSAGE) return true;
    return this.ended; // the walk met this channel's END
  };

  /** recvInto() that never waits: the message's length, or undefined when none is ready now. */
  tryRecvInto(buffer: Uint8Array): number | undefined {
    checkBuffer(buffer, 'tryRecvInto');
    if (this.head < this.queue.length) {
      const m = this.queue[this.head];
      this.checkFits(m.length, buffer);
      setBytes(buffer, m);
      this.takeQueued();
      return m.length;
    }
    if (this.ended || this.closed) return undefined;
    const n = this.rx.peekFor(this.handle);
    if (n === Walk.NO_MESSAGE) return undefined;
    this.checkFits(n, buffer);
    this.rx.takeInto(buffer, this.copier);
    return n;
  }

  private checkFits(length: number, buffer: Uint8Array): void {
    if (length > buffer.length) {
      throw new ChannelError(
        'EMSGSIZE',
        `the next message on channel ${this.handle} has ${length} bytes and the buffer only ${buffer.length}; it stays for the next call`,
        // This case's own advice, not the code's (which speaks of sending too).
        `pass a buffer of at least ${length} bytes; maxMessageBytes, ${this.maxMessageBytes}, always fits`,
      );
    }
  }

  /** `for await (const m of channel)`: every message until the end of the stream (a clean end just stops the loop). */
  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    return new ChannelIterator((this.iterated ??= { tryRecv: () => this.takeInTurn(), readable: () => this.readable() }));
  }

  /**
   * This channel as a `node:stream` Duplex: writes
   * wait for ring space (`write()` returns false, then 'drain'), and chunks
   * larger than `maxMessageBytes` are split; `end()` and `destroy()` close
   * the channel, the peer's close ends the readable side, and a channel
   * error destroys the stream with that ChannelError. The stream then owns
   * the channel: do not send or receive on it directly. The channel serves one
   * taker: a second `stream()`, or one after `wrapChannel`/`exposeOverChannel`,
   * throws EINVAL; on a channel closed here it throws ECLOSED. On one its peer ended already (a
   * client that sent its request and closed before the accept), the stream reads what arrived, then
   * ends, or errors with why the channel died, as a socket accepted after its peer's FIN does: it
   * used to throw, and an accept loop that made a stream of every channel ended (THREATS case 62).
   *
   *     http.createServer(handler).emit('connection', ch.stream());
   */
  stream(options?: ChannelStreamOptions): Duplex {
    this.checkOpen('stream()', true);
    const duplex = new ChannelStream(this, options);
    this.takeOver('stream()');
    return duplex;
  }

  /**
   * @internal For calls that take the channel over (stream(), the comlink adapter): a channel that is
   * no longer open is refused at once, with why it ended (ECLOSED, EPEERDEAD, …), not on first use.
   * With `peerEndedOk`, only one closed here is: one its peer ended still has what arrived to read,
   * and a server's accept loop must not throw for a client that closed first (THREATS case 62).
   */
  checkOpen(what: string, peerEndedOk = false): void {
    if (this.open || (peerEndedOk && !this.closed)) return;
    const why = this.endReason();
    throw new ChannelError(why.code, `${what}: ${why.detail}`);
  }

  /**
   * @internal Hand the channel's data to one reader and writer for good (a stream, an RPC endpoint):
   * a second would steal its messages, so it is refused.
   */
  takeOver(by: string): void {
    if (this.takenBy !== undefined) {
      throw new ChannelError('EINVAL', `${by}: channel ${this.handle} already belongs to ${this.takenBy}; a channel serves one of them (open another channel)`);
    }
    this.takenBy = by;
  }

  /**
   * Close this end. The CLOSE travels behind every message already sent, so
   * the peer receives them all before its end of stream; the hardware then
   * zeroes the channel key. Resolves once the close is posted. If the peer dies before receiving
   * them, the hardware refuses the rest and they still count in {@link Channel.failedSends}.
   * Messages received and not read yet are let go: nothing reads a closed channel.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closing = new ChannelError('ECLOSED', `channel ${this.handle} was closed by this process`);
    this.closeReason = closing;
    this.sendError ??= closing;
    this.dropKept();
    // The acknowledgements of earlier closes: a process that only accepts and closes reads its
    // completions nowhere else, and kept every closed channel until they came, up to 4096 (~6 MB;
    // memory hunt, wave 19).
    this.tx.checkCompletions();
    this.qp.forget(this.handle);
    this.onClosed(this);
    for (const w of this.waiters.splice(0)) w.reject(closing);
    for (const r of this.readers.splice(0)) r.resolve(false);
    this.wakeWriters();
    if (this.qp.failure === undefined && !this.closePosted) await this.tx.post(RecordType.CLOSE, this.handle);
  }

  /**
   * @internal The process that opened this channel ended (its main returned or threw): its OS
   * closes the channel behind its data. From now on every call fails with `ended` (nothing is
   * sent: the queue pair goes to the partition's next process), pending receives reject with it,
   * and readable() resolves false, as after close().
   */
  processEnded(ended: ChannelError): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = ended;
    this.sendError = ended;
    this.dropKept();
    this.qp.forget(this.handle);
    this.onClosed(this);
    for (const w of this.waiters.splice(0)) w.reject(ended);
    for (const r of this.readers.splice(0)) r.resolve(false);
    this.wakeWriters();
  }

  /**
   * Let go of what the pump kept for this channel: it is closed here, or ended at its bound. A
   * closed channel waits in the registry for its CLOSE's acknowledgement (for its refused sends),
   * and what it kept must not wait with it (THREATS case 44: memory past a freed slot).
   */
  private dropKept(): void {
    this.queue.length = this.head = 0;
    this.qp.channels.keptCharged -= this.keptBytes;
    this.keptBytes = 0;
    this.keptSlab = undefined;
    // Room under the process's bound (THREATS case 135): a hold there ends.
    if (this.rx.heldHandle !== -1) this.rx.freed(this.handle);
  }

  /** @internal This end's CLOSE was posted when it overflowed (THREATS case 44): the process's end posts none. */
  get closeIsPosted(): boolean {
    return this.closePosted;
  }

  /** True until close() or the end of the stream. */
  get open(): boolean {
    return !this.closed && !this.ended;
  }

  // ── ChannelSink: called by the queue pair's pump ─────────────────────────

  /** @internal */
  deliver(message: Uint8Array): void {
    const w = this.waiters.shift();
    if (w !== undefined) w.resolve(message);
    else this.enqueue(message);
  }

  /** @internal */
  takesNow(): boolean {
    return this.waiters.length > 0;
  }

  /** @internal */
  canKeep(bytes: number): boolean {
    const charge = keptCharge(bytes);
    const channels = this.qp.channels;
    return this.keptBytes + charge <= channels.unreadLimit && channels.keptCharged + charge <= channels.keptLimit;
  }

  /** @internal */
  keptCharges(): number {
    return this.keptBytes;
  }

  /** @internal */
  keep(u8: Uint8Array, u32: Uint32Array, from: number, bytes: number): void {
    this.enqueue((this.keptSlab ??= new MessageSlab()).copy(u8, u32, from, bytes));
  }

  private enqueue(message: Uint8Array): void {
    const charge = keptCharge(message.byteLength);
    this.keptBytes += charge;
    this.qp.channels.keptCharged += charge;
    this.queue.push(message);
    if (this.readers.length > 0) this.notifyReadable();
  }

  /**
   * @internal This channel reached its unread bound while its process waited on another channel,
   * held the receive ring's head for UNREAD_HOLD_MS, and nothing of it was read meanwhile (or it
   * did so before it was accepted). Receives fail ENOBUFS at once: what it kept is dropped, since
   * its slot is freed now (its CLOSE goes to the hardware at once, so its sender stops with
   * ECLOSED), and memory kept past a freed slot would let a peer that reconnects pass the bound
   * per slot (THREATS case 44).
   */
  overflowed(limit: number, byProcess = false): void {
    // Ended by its peer, it still keeps what it was sent until read, and a process's bound (THREATS
    // case 135) is freed only by dropping it: a peer that filled channels and closed them cleanly
    // would hold that bound, and the ring, for good.
    if (this.closed || (this.ended && this.head === this.queue.length)) return;
    const held = byProcess
      ? `${this.keptBytes} bytes of unread messages, the most of its process's channels, which may keep ${limit} together,`
      : `${limit} bytes of unread messages`;
    const why = new ChannelError(
      'ENOBUFS',
      `channel ${this.handle} from partition ${this.peer.partition} held ${held} and nothing read it for ${UNREAD_HOLD_MS} ms while this process waited on other channels (or had not accepted it); it was closed here and what it held was dropped`,
    );
    this.dropKept();
    if (this.ended) this.endError = why; // what it held is gone: its reader hears why, not of a clean end
    else this.end(Status.ENOBUFS, why);
    this.closePosted = true;
    this.qp.forget(this.handle);
    this.onClosed(this);
    if (this.qp.failure === undefined) void this.tx.post(RecordType.CLOSE, this.handle).catch(() => {});
  }

  /** @internal */
  wantsReadable(): boolean {
    return this.readers.length > 0 && this.waiters.length === 0 && this.head === this.queue.length;
  }

  /** @internal */
  notifyReadable(): void {
    for (const r of this.readers.splice(0)) r.resolve(true);
  }

  /** @internal */
  end(status: number, error?: ChannelError): void {
    if (this.ended) return;
    this.ended = true;
    if (status !== Status.OK) this.endError = error ?? channelErrorFromStatus(status, `channel ${this.handle} to partition ${this.peer.partition} ended`);
    this.sendError ??= this.endError ?? new ChannelError('ECLOSED', `the peer closed channel ${this.handle}`);
    this.wakeWriters();
    if (this.head === this.queue.length) {
      const reason = this.endReason();
      for (const w of this.waiters.splice(0)) w.reject(reason);
    }
    this.settleReaders();
  }

  /** At the end of the stream: readers learn true (messages still queued), false (clean end) or the error. */
  private settleReaders(): void {
    const readers = this.readers.splice(0);
    const queued = this.head < this.queue.length;
    for (const r of readers) {
      if (queued) r.resolve(true);
      else if (this.endError !== undefined) r.reject(this.endError);
      else r.resolve(false);
    }
  }

  /** @internal */
  sendFailed(status: number, count: number): void {
    const code = statusName(status) ?? 'EINVAL';
    this.failedSends[code] = (this.failedSends[code] ?? 0) + count;
    if (status === Status.EPEERDEAD || status === Status.ELINKDOWN || status === Status.ECLOSED || status === Status.EFAULT || status === Status.EPERM) {
      // No count here: this error is made at the first refusal, and later ones add to failedSends only.
      this.sendError ??= channelErrorFromStatus(status, `the hardware refused messages sent on channel ${this.handle}; channel.failedSends counts every refused message by code`);
    }
  }

  private endReason(): ChannelError {
    return this.endError ?? this.closeReason ?? new ChannelError('ECLOSED', `channel ${this.handle} is closed`);
  }
}

function checkBuffer(buffer: unknown, what: string): void {
  if (!(buffer instanceof Uint8Array)) {
    throw new ChannelError('EINVAL', `${what} takes a Uint8Array to receive into, got ${describeValue(buffer)}`);
  }
}

/** What a receive rejects with before it looks: bad options, or a signal aborted already. */
function refusedBy(options: ReceiveOptions | undefined, what: string): Promise<never> | undefined {
  try {
    const signal = signalOf(options, what);
    return signal?.aborted ? Promise.reject(signal.reason) : undefined;
  } catch (e) {
    return Promise.reject(e);
  }
}

/** The signal of a wait's options (a receive's, an accept's), checked. */
export function signalOf(options: ReceiveOptions | undefined, what: string): AbortSignal | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) throw new ChannelError('EINVAL', `${what}: options must be an object ({ signal }), got ${describeValue(options)}`);
  // A misspelt key would leave the receive without the bound its caller meant it to have.
  for (const name of Object.keys(options)) {
    if (name !== 'signal') throw new ChannelError('EINVAL', `${what}: '${name}' is not an option; the only option is signal (an AbortSignal, e.g. AbortSignal.timeout(ms))`);
  }
  const { signal } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new ChannelError('EINVAL', `${what}: options.signal must be an AbortSignal, got ${describeValue(signal)}`);
  return signal;
}

function checkTimeout(timeoutMs: number, what: string): void {
  if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) {
    throw new ChannelError('EINVAL', `${what}: timeoutMs must be a number of milliseconds >= 0 (Infinity: no limit), got ${describeValue(timeoutMs)}`);
  }
}

/** `least`: recvBatch waits for a message, so it takes at least 1. */
function checkMax(max: number, what: string, least = 0): void {
  if (!(typeof max === 'number' && max >= least && (Number.isInteger(max) || max === Number.POSITIVE_INFINITY))) {
    throw new ChannelError('EINVAL', `${what}: max must be an integer >= ${least} (Infinity: no limit), got ${describeValue(max)}`);
  }
}
