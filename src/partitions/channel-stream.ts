/**
 * A channel as a `node:stream` Duplex, so that existing protocols (HTTP, a
 * database wire protocol, line-based RPC) run between partitions unchanged.
 *
 * A stream is bytes, a channel is messages: writes are cut into messages of
 * at most `maxMessageBytes`, and reads hand each message on as a chunk. The
 * stream holds no buffer of its own beyond its high-water marks: a full send
 * ring keeps the current `_write` waiting (so `write()` returns false once
 * the writable buffer fills, and 'drain' follows when the ring has room),
 * and the channel is read only while the consumer wants more (so a slow
 * reader leaves messages in the receive ring, which back-pressures the
 * sender through the hardware). Small messages that arrive while the consumer
 * has not taken what it holds are copied together into one chunk (THREATS
 * case 78: the high-water mark counts bytes, and each chunk costs ~150 bytes
 * of heap whatever its size). While another channel of the same process
 * is read, up to 4 MiB of this one are kept for it first, and a consumer
 * that then wants nothing for 1 s loses the stream to ENOBUFS (THREATS
 * case 44): give a stream read by a slow sink a process of its own.
 */
import { Duplex } from 'node:stream';
import { ChannelError, describeValue } from '../shared/errors.js';
import type { Channel } from './channel.js';

/** High-water marks of the Duplex from `ch.stream(options)`, as `node:stream` takes them (bytes). */
export interface ChannelStreamOptions {
  /** Both sides' high-water mark (default: Node's, 16 KiB in Node 20). */
  highWaterMark?: number;
  /** Bytes the readable side holds before it stops reading from the channel. */
  readableHighWaterMark?: number;
  /** Bytes the writable side buffers before `write()` returns false. */
  writableHighWaterMark?: number;
}

/**
 * Messages under this many bytes (or under the readable high-water mark, if lower) that arrive while
 * the readable side still holds data are gathered into one chunk of at least this size (THREATS
 * case 78): Node counts a chunk by its bytes, but each costs ~150 bytes of heap (its views and its
 * buffer list node), so a peer that sent 1-byte messages to a stream read slowly made it hold
 * ~150 times its high-water mark.
 */
const GATHER_BYTES = 4096;

const OPTION_NAMES = ['highWaterMark', 'readableHighWaterMark', 'writableHighWaterMark'] as const;

/** What the stream uses of its channel; nothing else of it is touched, so the pump's rules stay the channel's. */
export interface StreamedChannel extends Pick<Channel, 'write' | 'readable' | 'close' | 'maxMessageBytes' | 'handle'> {
  /** Channel.takeInTurn (internal to Channel, so named here): tryRecv() that leaves the ring once this turn read for its slice. */
  takeInTurn(): Uint8Array | undefined;
}

function checkOptions(options: unknown): ChannelStreamOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ChannelError('EINVAL', `stream: options must be an object such as { highWaterMark: 65536 }, got ${describeValue(options)}`);
  }
  for (const [name, value] of Object.entries(options)) {
    if (!(OPTION_NAMES as readonly string[]).includes(name)) {
      throw new ChannelError('EINVAL', `stream: '${name}' is not an option; the options are ${OPTION_NAMES.join(', ')}`);
    }
    if (value !== undefined && !(Number.isSafeInteger(value) && (value as number) >= 1)) {
      throw new ChannelError('EINVAL', `stream: ${name} must be a positive integer number of bytes, got ${describeValue(value)}`);
    }
  }
  return options as ChannelStreamOptions;
}

/**
 * The Duplex of one channel. End of stream and errors map both ways: `end()`
 * closes the channel once the data written before it is sent, and the
 * peer's clean close ends the readable side; a channel error (`EPEERDEAD`,
 * …) destroys the stream with that ChannelError, and `destroy()` closes the
 * channel. A channel has no half-close: after `end()` the peer can no longer
 * send, and after the peer's close this side ends too (`allowHalfOpen` is
 * false).
 */
export class ChannelStream extends Duplex {
  /** A pull loop runs: _read() calls while it runs are already served by it. */
  private pulling = false;
  /** setTimeout(): idle milliseconds before 'timeout' (0: none), and its timer, re-armed by traffic. */
  private idleMs = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Small messages gathered while the consumer holds data (case 78): made once, at the first, and reused. */
  private gathered: Buffer | undefined;
  private gatheredBytes = 0;
  /** Messages under this size are gathered: GATHER_BYTES, or the readable high-water mark if lower. */
  private readonly gatherBelow: number;

  constructor(
    private readonly channel: StreamedChannel,
    options?: ChannelStreamOptions,
  ) {
    super({ ...checkOptions(options), allowHalfOpen: false, decodeStrings: true });
    this.gatherBelow = Math.min(GATHER_BYTES, this.readableHighWaterMark);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.active();
    this.sendAll(chunk).then(() => done(), done);
  }

  /** One chunk as messages of at most maxMessageBytes, each waiting for ring space if needed. */
  private async sendAll(chunk: Uint8Array): Promise<void> {
    const max = this.channel.maxMessageBytes;
    for (let at = 0; at < chunk.byteLength; at += max) {
      await this.channel.write(chunk.subarray(at, Math.min(at + max, chunk.byteLength)));
    }
  }

  override _read(): void {
    if (!this.pulling) void this.pull();
  }

  /**
   * Push messages until push() says the consumer has enough, then stop
   * reading the channel until the next _read(). Waiting in readable() keeps
   * the pump running only while this side wants data.
   */
  private async pull(): Promise<void> {
    this.pulling = true;
    try {
      for (;;) {
        // Not tryRecv(): in flowing mode push() says true to every chunk, and a peer that keeps the
        // ring from running empty kept this loop going for as long as it sent (THREATS case 61).
        const message = this.channel.takeInTurn();
        if (message !== undefined) {
          this.active();
          if (!this.hand(message)) return;
          continue;
        }
        if (!(await this.channel.readable())) {
          this.endReadable();
          return;
        }
        if (this.destroyed) return;
      }
    } catch (e) {
      this.destroy(e as Error);
    } finally {
      this.pulling = false;
    }
  }

  /**
   * Hand one message to the readable side; false once it holds its high-water mark. A small one that
   * comes while the consumer has not taken what the side holds is gathered with the next ones
   * instead of pushed alone (case 78): the consumer gets them at its next read() (see read()), or
   * once GATHER_BYTES are gathered. Pushed alone, each took ~150 bytes of heap for its byte or two.
   */
  private hand(message: Uint8Array): boolean {
    const n = message.byteLength;
    // An empty message is pushed, never gathered (THREATS case 88): gathering it added nothing, so at
    // the mark flush() pushed nothing, and the pull loop stopped in a _read() that pushed nothing:
    // Node then never calls _read() again, and the stream stalled for good (a peer's 64 KiB message
    // and an empty one stopped an honest reader, which never saw the data after them or its end).
    // Node takes an empty push as "nothing now" and calls _read() again when the consumer reads.
    if (n >= this.gatherBelow || n === 0 || (this.gatheredBytes === 0 && this.readableLength === 0)) {
      // What was gathered goes first, in order; the message, taken from the channel, is pushed even
      // past the mark (as any message is: push() only says whether to take more).
      if (this.gatheredBytes > 0) this.flush();
      return this.push(message);
    }
    // A message under gatherBelow always fits: gathered stays under gatherBelow before it is added.
    const into = (this.gathered ??= Buffer.allocUnsafeSlow(2 * this.gatherBelow));
    into.set(message, this.gatheredBytes);
    this.gatheredBytes += n;
    // Gathered bytes count against the mark as pushed ones do, and are pushed once they reach it:
    // counted apart, the side held the mark, plus what it had gathered, plus the message that flushed
    // it (51,582 bytes at a 32 KiB mark with 16 KiB messages, past the mark and one message).
    if (this.gatheredBytes >= this.gatherBelow || this.readableLength + this.gatheredBytes >= this.readableHighWaterMark) return this.flush();
    return true;
  }

  /** Push what was gathered, as one chunk of its own memory (the gathering buffer is reused); push()'s answer. */
  private flush(): boolean {
    const n = this.gatheredBytes;
    if (n === 0) return this.readableLength < this.readableHighWaterMark;
    this.gatheredBytes = 0;
    return this.push(Buffer.from(this.gathered!.subarray(0, n)));
  }

  /** End of the readable side: what was gathered goes first. */
  private endReadable(): void {
    if (this.readableEnded || this.destroyed) return;
    this.flush();
    this.push(null);
  }

  /**
   * As Readable's, but a read that asks for data (not read(0), Node's own poll) first gets what was
   * gathered (case 78): every way a consumer takes data (flowing mode, pipe, 'readable' and read(),
   * async iteration) goes through read(), so gathered bytes never wait for a later message.
   */
  override read(size?: number): any {
    if (this.gatheredBytes > 0 && size !== 0 && !this.readableEnded && !this.destroyed) this.flush();
    return super.read(size);
  }

  override _final(done: (error?: Error | null) => void): void {
    this.channel.close().then(() => {
      done();
      // No half-close: nothing more can arrive, so the readable side ends too (after what it
      // buffered and gathered), whether or not anyone reads it; read(0), as net.Socket does at EOF,
      // lets 'end' (and so 'close' and finished()) come without a consumer.
      this.endReadable();
      this.read(0);
    }, done);
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    clearTimeout(this.idleTimer);
    this.gathered = undefined;
    this.gatheredBytes = 0;
    this.channel.close().then(
      () => done(error),
      (closeError: Error) => done(error ?? closeError),
    );
  }

  // ── The parts of net.Socket that HTTP clients and agents call ─────────────

  /**
   * As net.Socket's: emit 'timeout' after `ms` without bytes read or written
   * (0 turns it off); the stream stays open, the listener decides. `http`
   * calls it for request and keep-alive timeouts.
   */
  setTimeout(ms: number, onTimeout?: () => void): this {
    if (typeof ms !== 'number' || !(ms >= 0) || !Number.isFinite(ms)) {
      throw new ChannelError('EINVAL', `stream.setTimeout: ms must be a number of milliseconds >= 0 (0 turns the timeout off), got ${describeValue(ms)}`);
    }
    if (onTimeout !== undefined && typeof onTimeout !== 'function') {
      throw new ChannelError('EINVAL', `stream.setTimeout: onTimeout must be a function, got ${describeValue(onTimeout)}`);
    }
    if (onTimeout !== undefined) {
      if (ms === 0) this.removeListener('timeout', onTimeout);
      else this.once('timeout', onTimeout);
    }
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.idleMs = ms;
    this.active();
    return this;
  }

  /** Traffic: the idle timeout starts again. */
  private active(): void {
    if (this.idleMs === 0 || this.destroyed) return;
    if (this.idleTimer !== undefined) this.idleTimer.refresh();
    // Unreferenced, as a socket's: an idle timeout alone never keeps the partition's event loop running.
    else this.idleTimer = setTimeout(() => this.emit('timeout'), this.idleMs).unref();
  }

  /** No-op (a channel has no Nagle delay: every message is published at once); for code written for sockets. */
  setNoDelay(_noDelay?: boolean): this {
    return this;
  }

  /** No-op (the hardware reports a dead peer as EPEERDEAD; nothing to probe); HTTP agents call it on pooled sockets. */
  setKeepAlive(_enable?: boolean, _initialDelay?: number): this {
    return this;
  }

  /** No-op: a partition's event loop is kept running by its OS, not by its channels; HTTP agents unref idle pooled sockets. */
  ref(): this {
    return this;
  }

  /** No-op, as ref(). */
  unref(): this {
    return this;
  }
}
