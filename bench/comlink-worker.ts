/** The comlink baseline's worker: exposes a function that takes a payload, as a service would. */
import { parentPort } from 'node:worker_threads';
import { expose, nodeEndpoint } from '../src/shared/control-plane.js';

const api = {
  /** One-way-ish: takes the payload, answers with its length. */
  take(m: Uint8Array): number {
    return m.byteLength;
  },
  /** Round trip: answers with the payload itself. */
  echo(m: Uint8Array): Uint8Array {
    return m;
  },
};
export type ComlinkBenchApi = typeof api;

expose(api, nodeEndpoint(parentPort!));
