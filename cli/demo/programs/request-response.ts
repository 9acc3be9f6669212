/** Demo workload: a request/response service (server) and a client that times every round trip. */
import { createHistogram } from 'node:perf_hooks';
import type { Process } from '../../../src/index.js';

export interface RequestResponseArgs {
  role: 'server' | 'client';
  port: number;
  partition?: number;
  requests?: number;
  bytes?: number;
}

export interface ClientReport {
  requests: number;
  seconds: number;
  p50us: number;
  p99us: number;
}

export default async function main(proc: Process, args: RequestResponseArgs): Promise<ClientReport | number> {
  if (args.role === 'server') {
    const ch = await proc.listen(args.port).accept();
    let served = 0;
    for await (const request of ch) {
      request[0] ^= 0xff; // a "response": the request with its first byte flipped
      await ch.write(request);
      served++;
    }
    return served;
  }
  const ch = await proc.connect({ partition: args.partition!, port: args.port });
  const request = new Uint8Array(args.bytes ?? 64);
  const rtt = createHistogram();
  const start = performance.now();
  for (let i = 0; i < args.requests!; i++) {
    request[0] = i & 0xff;
    const t0 = process.hrtime.bigint();
    await ch.write(request);
    const response = await ch.recv();
    rtt.record(Number(process.hrtime.bigint() - t0) || 1);
    if (response[0] !== (~i & 0xff)) throw new Error(`response ${i} is not the answer to request ${i}`);
  }
  const seconds = (performance.now() - start) / 1000;
  await ch.close();
  return { requests: args.requests!, seconds, p50us: rtt.percentile(50) / 1000, p99us: rtt.percentile(99) / 1000 };
}
