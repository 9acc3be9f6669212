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
import { deserialize, serialize } from 'node:v8';
import type { Endpoint } from '../shared/control-plane.js';
import { BUILT_IN_ERRORS } from '../shared/error-record.js';
import { ChannelError } from '../shared/errors.js';
import type { Channel } from './channel.js';

const LAST = 0;
const MORE = 1;
/**
 * The largest message a peer may make this side reassemble. The peer is
 * another partition and is not trusted to keep its fragments finite.
 */
export const MAX_RPC_MESSAGE_BYTES = 64 * 1024 * 1024;

/** The message types comlink's wrap side sends; each waits for an answer with its id. */
const REQUEST_TYPES = new Set(['GET', 'SET', 'APPLY', 'CONSTRUCT', 'ENDPOINT', 'RELEASE']);

type Listener = ((event: { data: unknown }) => void) | { handleEvent(event: { data: unknown }): void };

function requestId(message: unknown): string | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const { id, type } = message as { id?: unknown; type?: unknown };
  return typeof id === 'string' && typeof type === 'string' && REQUEST_TYPES.has(type) ? id : undefined;
}

/** The answer comlink's wrap side turns into a rejection with exactly `error` (a non-Error throw passes unchanged). */
function failedAnswer(id: string, error: Error): { data: unknown } {
  return { data: { id, type: 'HANDLER', name: 'throw', value: { isError: false, value: error } } };
}

/**
 * An answer carrying a thrown error, rebuilt as an instance of its built-in class (a RangeError
 * thrown there is `instanceof RangeError` here); comlink alone would make every one a plain Error.
 */
function withErrorClass(data: unknown): unknown {
  const thrown = (data as { type?: unknown; name?: unknown; value?: { isError?: unknown; value?: unknown } } | null) ?? {};
  if (thrown.type !== 'HANDLER' || thrown.name !== 'throw' || thrown.value?.isError !== true) return data;
  const { name, message, stack } = (thrown.value.value ?? {}) as { name?: unknown; message?: unknown; stack?: unknown };
  const Class = typeof name === 'string' && Object.hasOwn(BUILT_IN_ERRORS, name) ? BUILT_IN_ERRORS[name] : Error;
  const error = new Class(typeof message === 'string' ? message : '');
  if (typeof name === 'string' && error.name !== name) error.name = name;
  if (typeof stack === 'string') error.stack = stack;
  return { ...(data as object), value: { isError: false, value: error } };
}

export class ChannelEndpoint implements Endpoint {
  private readonly listeners = new Set<Listener>();
  /** Requests this side sent that have no answer yet. */
  private readonly unanswered = new Set<string>();
  /** Sends go out in order, one after another; each waits for ring space. */
  private sending: Promise<void> = Promise.resolve();
  private receiving = false;
  /** Why the channel can carry nothing more; set once. */
  private failure: ChannelError | undefined;
  private readonly endWaiters: Array<(error: ChannelError | undefined) => void> = [];

  constructor(private readonly channel: Channel) {}

  postMessage(message: unknown, transfer?: readonly unknown[]): void {
    if (transfer !== undefined && transfer.length > 0) {
      throw new ChannelError(
        'EINVAL',
        `comlink over channel ${this.channel.handle}: transfer lists cannot cross partitions (nothing is shared between them); ` +
          'pass the data itself (it is copied), and no MessagePort or comlink.proxy() callback',
      );
    }
    const bytes = this.serialize(message);
    const id = requestId(message);
    if (this.failure !== undefined) {
      // An answer for a peer that is gone is dropped; a request is answered with why.
      if (id !== undefined) queueMicrotask(() => this.dispatch(failedAnswer(id, this.failure!)));
      return;
    }
    if (id !== undefined) this.unanswered.add(id);
    this.sending = this.sending.then(() => this.sendFragments(bytes)).catch((e: unknown) => this.fail(e));
  }

  /** The caller learns at once, with EINVAL, of what structured clone cannot copy (functions, …). */
  private serialize(message: unknown): Uint8Array {
    try {
      return serialize(message);
    } catch (e) {
      throw new ChannelError(
        'EINVAL',
        `comlink over channel ${this.channel.handle}: ${(e as Error).message} (arguments and results are copied by structured clone: ` +
          'plain data, typed arrays, Map, Set, Date, errors; no functions or class instances with methods)',
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
    const fragments: Uint8Array[] = [];
    let size = 0;
    try {
      for await (const m of this.channel) {
        if (m.byteLength === 0 || (m[0] !== LAST && m[0] !== MORE)) {
          throw this.protocolError(`a message without a fragment flag (first byte ${m[0]})`);
        }
        size += m.byteLength - 1;
        if (size > MAX_RPC_MESSAGE_BYTES) {
          throw new ChannelError('EMSGSIZE', `comlink over channel ${this.channel.handle}: the peer sent a message over ${MAX_RPC_MESSAGE_BYTES} bytes`);
        }
        fragments.push(m.subarray(1));
        if (m[0] === MORE) continue;
        const whole = fragments.length === 1 ? fragments[0] : Buffer.concat(fragments);
        fragments.length = size = 0;
        let data: unknown;
        try {
          data = deserialize(whole);
        } catch (e) {
          throw this.protocolError(`a message that is not a structured clone (${(e as Error).message})`);
        }
        this.dispatch({ data: withErrorClass(data) });
      }
      this.fail(new ChannelError('ECLOSED', `channel ${this.channel.handle} was closed before the answer came`));
    } catch (e) {
      this.fail(e);
      await this.channel.close().catch(() => {});
    }
  }

  private protocolError(what: string): ChannelError {
    return new ChannelError('EINVAL', `comlink over channel ${this.channel.handle}: partition ${this.channel.peer.partition} sent ${what}`);
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
    for (const id of [...this.unanswered]) this.dispatch(failedAnswer(id, this.failure));
    for (const resolve of this.endWaiters.splice(0)) resolve(this.endError());
  }
}
