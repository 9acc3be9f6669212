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
