// comlink ships its Node adapter as .mjs beside a .d.ts that TypeScript does not pair with it.
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  import type { MessagePort, Worker } from 'node:worker_threads';
  export default function nodeEndpoint(nep: MessagePort | Worker): Endpoint;
}

// The ESM build of comlink itself, typed as the package's main entry.
declare module 'comlink/dist/esm/comlink.mjs' {
  export * from 'comlink';
}
