/**
 * `for await (const m of channel)`, written out rather than as an async generator. A generator's
 * `yield await channel.recv()` settles three promises per message, and two of them look up `then`
 * on the message itself: V8's generic property lookup along a Uint8Array's prototype chain, since
 * any object a promise resolves to might be a thenable. Here a message that is ready costs one
 * promise, resolved to the iterator result, and a message waited for is taken once readable()
 * says so (it resolves to a boolean): no `then` is looked up on a message.
 *
 * It keeps the generator's contract: messages in order even when next() is called again before
 * the last one settled, `{ done: true }` from a clean end of stream (or after return()) on, and the
 * reason the channel died thrown once, then `{ done: true }`.
 */

/** What the iterator needs of a Channel. */
export interface IteratedChannel {
  tryRecv(): Uint8Array | undefined;
  /** True once a message is ready, false at a clean end of stream; rejects with why the channel died. */
  readable(): Promise<boolean>;
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

export class ChannelIterator implements AsyncIterableIterator<Uint8Array> {
  private finished = false;
  /** The latest next() that had to wait and has not settled: a later next() settles after it. */
  private waiting: Promise<IteratorResult<Uint8Array>> | undefined;

  constructor(private readonly channel: IteratedChannel) {}

  next(): Promise<IteratorResult<Uint8Array>> {
    if (this.waiting === undefined) {
      if (this.finished) return Promise.resolve(DONE);
      const m = this.channel.tryRecv();
      if (m !== undefined) return Promise.resolve({ value: m, done: false });
    }
    const before = this.waiting;
    const result = before === undefined ? this.receive() : before.then(this.receiveNext, this.receiveNext);
    this.waiting = result;
    const settled = (): void => {
      if (this.waiting === result) this.waiting = undefined;
    };
    result.then(settled, settled);
    return result;
  }

  return(): Promise<IteratorResult<Uint8Array>> {
    this.finished = true;
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    return this;
  }

  private readonly receiveNext = (): Promise<IteratorResult<Uint8Array>> => this.receive();

  private async receive(): Promise<IteratorResult<Uint8Array>> {
    while (!this.finished) {
      const m = this.channel.tryRecv();
      if (m !== undefined) return { value: m, done: false };
      let more: boolean;
      try {
        more = await this.channel.readable();
      } catch (e) {
        this.finished = true;
        throw e;
      }
      if (!more) this.finished = true;
    }
    return DONE;
  }
}
