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

/** How a next() that waited ended, kept in a promise that never rejects (so only the caller's promise can go unhandled). */
type Outcome = { result: IteratorResult<Uint8Array> } | { error: unknown };

const unwrap = (o: Outcome): IteratorResult<Uint8Array> => {
  if ('error' in o) throw o.error;
  return o.result;
};

const done = (value?: unknown): IteratorReturnResult<unknown> => ({ value, done: true });

export class ChannelIterator implements AsyncIterableIterator<Uint8Array> {
  private finished = false;
  /** How the latest call that had to wait ends: later calls settle after it. */
  private waiting: Promise<Outcome> | undefined;

  constructor(private readonly channel: IteratedChannel) {}

  next(): Promise<IteratorResult<Uint8Array>> {
    if (this.waiting === undefined) {
      if (this.finished) return Promise.resolve(done());
      try {
        const m = this.channel.tryRecv();
        if (m !== undefined) return Promise.resolve({ value: m, done: false });
      } catch (e) {
        this.finished = true;
        return Promise.reject(e);
      }
    }
    return this.after(this.receive);
  }

  return(value?: unknown): Promise<IteratorResult<Uint8Array>> {
    return this.after(() => {
      this.finished = true;
      return Promise.resolve(done(value));
    });
  }

  throw(error?: unknown): Promise<IteratorResult<Uint8Array>> {
    return this.after(() => {
      this.finished = true;
      return Promise.reject(error);
    });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    return this;
  }

  /** Run `step` once every call made before it has settled; the caller's promise of its result. */
  private after(step: () => Promise<IteratorResult<Uint8Array>>): Promise<IteratorResult<Uint8Array>> {
    const run = (): Promise<Outcome> =>
      step().then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      );
    const outcome = this.waiting === undefined ? run() : this.waiting.then(run);
    this.waiting = outcome;
    void outcome.then(() => {
      if (this.waiting === outcome) this.waiting = undefined;
    });
    return outcome.then(unwrap);
  }

  private readonly receive = async (): Promise<IteratorResult<Uint8Array>> => {
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
  };
}

// As a generator object does: `Symbol.asyncIterator` returning itself, and `Symbol.asyncDispose` (Node 24+) calling return().
const asyncIteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype) as object;
Object.setPrototypeOf(ChannelIterator.prototype, asyncIteratorPrototype);
