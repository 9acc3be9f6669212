/**
 * comlink between two processes over one verified channel, one call on each
 * side:
 *
 *     // server program                          // client program
 *     const ch = await proc.listen(7).accept();  const ch = await proc.connect({ partition: 1, port: 7 });
 *     await exposeOverChannel(api, ch);          const api = wrapChannel<Api>(ch);
 *                                                await api.add(1, 2); await ch.close();
 */
import { expose, wrap } from '../shared/control-plane.js';
import { ChannelError, describeValue } from '../shared/errors.js';
import { Channel } from './channel.js';
import { ChannelEndpoint } from './channel-endpoint.js';

/**
 * What `wrapChannel<T>()` returns: every method of `T` returns a promise of
 * its result, and every other property reads as a promise of its value.
 * Arguments and results are copied by structured clone; functions and
 * callbacks (`comlink.proxy`) cannot cross partitions.
 */
export type ChannelRemote<T> = {
  readonly [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : Promise<Awaited<T[K]>>;
};

function checkChannel(channel: unknown, what: string, peerEndedOk = false): Channel {
  if (!(channel instanceof Channel)) {
    throw new ChannelError('EINVAL', `${what}: channel must be a Channel from proc.connect() or listener.accept(), got ${describeValue(channel)}`);
  }
  channel.checkOpen(what, peerEndedOk);
  if (channel.maxMessageBytes < 2) {
    // Each message is one flag byte and at least one byte of the clone: one byte carries nothing.
    throw new ChannelError('EINVAL', `${what}: comlink needs messages of at least 2 bytes; this channel's maxMessageBytes is ${channel.maxMessageBytes}`);
  }
  channel.takeOver(what);
  return channel;
}

/**
 * Serve `api` with comlink to the process at the other end of `channel`,
 * which calls it through {@link wrapChannel}. Resolves once the channel is
 * closed (by the caller when it is done, or by this side); rejects with the
 * ChannelError the channel died of (`EPEERDEAD`, …). The rejection is
 * handled: serving without awaiting never becomes an unhandled rejection.
 *
 *     await exposeOverChannel({ add: (a, b) => a + b }, await proc.listen(7).accept());
 *
 * A method that throws rejects the caller's call with an error of the same
 * built-in class (`TypeError`, `RangeError`, …, and ChannelError; any other
 * class arrives as an `Error` with its `name`), with its `message`, `stack`,
 * `code`, `cause` and plain properties (control-plane.ts's `throw` handler).
 * The caller may set a property of `api` only where `api` (or a class of its own) defines a setter
 * (THREATS cases 69, 75), and call only methods `api` and its own classes define, not those its values
 * inherit from the platform (an array's `push`, a Map's `clear`: case 76), and none reached past a
 * getter of `api` (case 77: a getter's value is read, not called into): one api is often served to
 * many callers, and none may change what the others are served.
 * A channel its peer ended before it was served (a caller that closed before the accept) is served
 * what arrived, and the promise settles as for any end: an accept loop never throws for it (THREATS case 62).
 * @throws ChannelError EINVAL when `api` is not an object, `channel` is not a Channel, the channel already
 *   belongs to `stream()` or another comlink side, or `maxMessageBytes` < 2; ECLOSED when this process
 *   closed the channel.
 */
export function exposeOverChannel(api: object, channel: Channel): Promise<void> {
  if ((typeof api !== 'object' && typeof api !== 'function') || api === null) {
    throw new ChannelError('EINVAL', `exposeOverChannel: api must be an object whose methods the peer calls, got ${describeValue(api)}`);
  }
  const endpoint = new ChannelEndpoint(checkChannel(channel, 'exposeOverChannel', true), api);
  expose(api, endpoint);
  const served = endpoint.ended().then((error) => {
    if (error !== undefined) throw error;
  });
  served.catch(() => {});
  return served;
}

/**
 * Call the object the process at the other end of `channel` serves with
 * {@link exposeOverChannel}: `await remote.method(args)` runs it there and
 * resolves with its result. Close the channel when done. If the channel ends
 * or dies first, calls still waiting (and later ones) reject with the
 * ChannelError (`ECLOSED`, `EPEERDEAD`, …); nothing waits forever.
 * Passing a transfer list (`comlink.transfer`) or a callback
 * (`comlink.proxy`) rejects the call with EINVAL: partitions share no memory.
 * @throws ChannelError EINVAL when `channel` is not a Channel, the channel already belongs to `stream()` or
 *   another comlink side, or `maxMessageBytes` < 2; when the channel is no longer open, the error it ended
 *   with (`ECLOSED`, `EPEERDEAD`, …).
 */
export function wrapChannel<T>(channel: Channel): ChannelRemote<T> {
  return wrap<T>(new ChannelEndpoint(checkChannel(channel, 'wrapChannel'))) as unknown as ChannelRemote<T>;
}
