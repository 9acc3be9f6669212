/**
 * comlink for Node, from one place: comlink has no `exports` map, so its ESM
 * build and Node adapter are reached by path, and only here.
 */
export { expose, transfer, wrap, releaseProxy } from 'comlink/dist/esm/comlink.mjs';
export type { Remote, Endpoint } from 'comlink';
export { default as nodeEndpoint } from 'comlink/dist/esm/node-adapter.mjs';

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
