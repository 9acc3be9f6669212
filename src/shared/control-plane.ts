/**
 * comlink for Node, from one place: comlink has no `exports` map, so its ESM
 * build and Node adapter are reached by path, and only here.
 */
import { transferHandlers, type TransferHandler } from 'comlink/dist/esm/comlink.mjs';
import { rebuildError, recordError, type ErrorRecord } from './error-record.js';

export { expose, transfer, wrap, releaseProxy } from 'comlink/dist/esm/comlink.mjs';
export type { Remote, Endpoint } from 'comlink';
export { default as nodeEndpoint } from 'comlink/dist/esm/node-adapter.mjs';

/** How comlink writes a thrown value, unchanged for values that are not Errors. */
type ThrownOnTheWire = { isError: true; value: ErrorRecord } | { isError: false; value: unknown };

/**
 * An error thrown across comlink (a replacement OS's method, a channel RPC) arrives as what was
 * thrown: its class (RangeError, ChannelError, …), `code` and `cause`, as a program's error does.
 * comlink's own handler sends the name, message and stack and rebuilds a plain Error. Every
 * thread that uses comlink imports this module, so both ends of a call read the same format.
 */
const original = transferHandlers.get('throw') as TransferHandler<{ value: unknown }, ThrownOnTheWire>;
transferHandlers.set('throw', {
  canHandle: original.canHandle,
  serialize: ({ value }) => (value instanceof Error ? [{ isError: true, value: recordError(value) }, []] : original.serialize({ value })),
  deserialize: (serialized) => {
    const thrown = serialized.isError ? rebuildError(serialized.value) : serialized.value;
    if (typeof thrown === 'object' && thrown !== null) fromTheWire.add(thrown);
    throw thrown;
  },
} satisfies TransferHandler<{ value: unknown }, ThrownOnTheWire>);

/** What the `throw` handler made of what a peer wrote: never the receiving side's own error. */
const fromTheWire = new WeakSet<object>();

/**
 * Whether `thrown` is what a peer wrote on the wire (the `throw` handler made it), not an error of
 * this thread's own: a comlink serving side takes a request's arguments in outside its try, and a
 * caller's argument so marked throws there whatever class and code it names (THREATS case 120).
 */
export function thrownFromTheWire(thrown: unknown): boolean {
  return typeof thrown === 'object' && thrown !== null && fromTheWire.has(thrown);
}

/**
 * What a worker posts on its parent port once it is fully booted (modules
 * loaded, endpoint exposed). comlink ignores it: it carries no call id.
 */
export const WORKER_READY = 'lparlink:worker-ready';

/**
 * The answer comlink's expose side would write to `request` (whose call id is `id`) had the call
 * thrown `error`: the error object itself, for an answer made in the calling thread (it is not
 * serialized). A RELEASE is answered as done instead: comlink's release does not catch a
 * rejection (comlink 4.4 happens not to wait for that answer at all; a later one may).
 */
export function answerWithError(request: unknown, id: unknown, error: Error): unknown {
  if ((request as { type?: unknown } | null)?.type === 'RELEASE') return { id, type: 'RAW', value: undefined };
  return { id, type: 'HANDLER', name: 'throw', value: { isError: false, value: error } };
}
