/**
 * `for await (const m of channel)`, written out rather than as an async generator. A generator's
 * `yield await channel.recv()` settles three promises per message, and two of them look up `then`
 * on the message itself: V8's generic property lookup along a Uint8Array's prototype chain, since
 * any object a promise resolves to might be a thenable. Here a message that is ready costs one
 * promise, resolved to the iterator result, and a message waited for is taken once readable()
 * says so (it resolves to a boolean): no `then` is looked up on a message.
 *
 * It keeps the generator's contract: results in the order next() was called, even when it is
 * called again before the last one settled; `{ done: true }` from a clean end of stream, a
 * return() or a throw() on; the reason the channel died thrown once, then `{ done: true }`; a
 * return() or throw() made while a next() waits settles after it (the message it takes is its
 * own); a rejection nobody handles is reported as unhandled. It inherits %AsyncIteratorPrototype%
 * as a generator does (`Symbol.asyncDispose` where the runtime has it).
 */

/** What the iterator needs of a Channel. */
export interface IteratedChannel {
  tryRecv(): Uint8Array | undefined;
  /** True once a message is ready, false at a clean end of stream; rejects with why the channel died. */
  readable(): Promise<boolean>;
}

const done = (value?: unknown): IteratorReturnResult<unknown> => ({ value, done: true });

export class ChannelIterator implements AsyncIterableIterator<Uint8Array> {
  private finished = false;
  /** Calls (next, return, throw) that went the slow way and have not settled. */
  private pending = 0;
  /** The turns of those after the first, in the order they were called: each starts when the one before it ends. */
  private readonly queued: Array<() => void> = [];

  constructor(private readonly channel: IteratedChannel) {}

  next(): Promise<IteratorResult<Uint8Array>> {
    if (this.pending === 0) {
      if (this.finished) return Promise.resolve(done());
      try {
        const m = this.channel.tryRecv();
        if (m !== undefined) return Promise.resolve({ value: m, done: false });
      } catch (e) {
        this.finished = true;
        return Promise.reject(e);
      }
    }
    return this.receive();
  }

  async return(value?: unknown): Promise<IteratorResult<Uint8Array>> {
    if (this.pending++ > 0) await this.turn();
    this.finished = true;
    this.endTurn();
    return done(value);
  }

  async throw(error?: unknown): Promise<IteratorResult<Uint8Array>> {
    if (this.pending++ > 0) await this.turn();
    this.finished = true;
    this.endTurn();
    throw error;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    return this;
  }

  // The caller's promise is the async function's own, with nothing attached here: a rejection nobody
  // handles is reported, and a message waited for reaches the caller one promise hop after readable().
  private async receive(): Promise<IteratorResult<Uint8Array>> {
    if (this.pending++ > 0) await this.turn();
    try {
      while (!this.finished) {
        let more: boolean;
        try {
          const m = this.channel.tryRecv();
          if (m !== undefined) return { value: m, done: false };
          more = await this.channel.readable();
        } catch (e) {
          this.finished = true;
          throw e;
        }
        if (!more) this.finished = true;
      }
      return done();
    } finally {
      this.endTurn();
    }
  }

  /** Wait for the calls made before this one to settle. */
  private turn(): Promise<void> {
    return new Promise((start) => this.queued.push(start));
  }

  private endTurn(): void {
    this.pending--;
    this.queued.shift()?.();
  }
}

// As a generator object does: `Symbol.asyncIterator` returning itself, and `Symbol.asyncDispose` (Node 24+) calling return().
const asyncIteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype) as object;
Object.setPrototypeOf(ChannelIterator.prototype, asyncIteratorPrototype);
